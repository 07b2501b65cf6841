"""Computation graphs: the forward values and the backward gradients on one picture (notebook 08)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from matplotlib.axes import Axes

from coursekit.plot._style import NEUTRAL, OKABE_ITO, get_ax

_FORWARD, _BACKWARD = OKABE_ITO[0], OKABE_ITO[3]


def plot_computation_graph(
    nodes: Mapping[str, tuple[float, float]],
    edges: Sequence[tuple[str, str]],
    *,
    labels: Mapping[str, str] | None = None,
    values: Mapping[str, float] | None = None,
    grads: Mapping[str, float] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Draw a computation graph with its forward values and backward gradients.

    Every node is a circle at its position; every edge ``(a, b)`` is a solid
    arrow a -> b (the forward pass). With ``grads``, each edge also gets a dashed
    arrow b -> a (the backward pass), and each node shows ``dL/d(node)`` above it;
    with ``values`` each node shows its forward value below it.

    Parameters
    ----------
    nodes : mapping name -> (x, y)
        Node positions in data coordinates.
    edges : sequence of (source, target)
        Node names; the forward direction.
    labels : mapping name -> str, optional
        Text inside each node (LaTeX allowed); default the node name.
    values, grads : mapping name -> float, optional
        Forward value and gradient of the loss with respect to each node shown.
    ax : Axes, optional
        Axes to draw on; a new 11 x 3.6 inch figure when None.
    title : str, optional
        Axes title.

    Returns
    -------
    Axes
        The axes with the graph (axis lines hidden).
    """
    func = "plot_computation_graph"
    if not nodes:
        raise ValueError(f"{func}: nodes is empty; give a mapping name -> (x, y).")
    for name, pos in nodes.items():
        if len(pos) != 2:
            raise ValueError(f"{func}: node {name!r} has position {pos!r}; expected a pair (x, y).")
    for edge in edges:
        if len(edge) != 2 or any(e not in nodes for e in edge):
            raise ValueError(f"{func}: edge {edge!r} must be a pair of node names from {sorted(nodes)}.")
    for kind, mapping in (("labels", labels), ("values", values), ("grads", grads)):
        unknown = sorted(set(mapping or {}) - set(nodes))
        if unknown:
            raise ValueError(f"{func}: {kind} names unknown nodes {unknown}; the nodes are {sorted(nodes)}.")
    ax = get_ax(ax, (11.0, 3.6))
    labels, values, grads = dict(labels or {}), dict(values or {}), dict(grads or {})
    for a, b in edges:
        (xa, ya), (xb, yb) = nodes[a], nodes[b]
        ax.annotate("", xy=(xb, yb), xytext=(xa, ya),
                    arrowprops={"arrowstyle": "-|>", "color": _FORWARD, "lw": 1.6,
                                "shrinkA": 17, "shrinkB": 17})
        if grads:
            ax.annotate("", xy=(xa, ya), xytext=(xb, yb),
                        arrowprops={"arrowstyle": "-|>", "color": _BACKWARD, "lw": 1.2, "ls": "--",
                                    "shrinkA": 17, "shrinkB": 17, "connectionstyle": "arc3,rad=0.35"})
    for name, (x, y) in nodes.items():
        ax.scatter([x], [y], s=1400, facecolor="white", edgecolor=NEUTRAL, linewidth=1.4, zorder=3)
        ax.text(x, y, labels.get(name, name), ha="center", va="center", fontsize=12, zorder=4)
        if name in values:
            ax.text(x, y - 0.32, f"{values[name]:.4g}", ha="center", va="top", color=_FORWARD, fontsize=10)
        if name in grads:
            ax.text(x, y + 0.32, f"{grads[name]:.4g}", ha="center", va="bottom", color=_BACKWARD, fontsize=10)
    xs = [p[0] for p in nodes.values()]
    ys = [p[1] for p in nodes.values()]
    ax.set(xlim=(min(xs) - 0.7, max(xs) + 0.7), ylim=(min(ys) - 0.9, max(ys) + 0.9))
    ax.set_axis_off()
    handles = [ax.plot([], [], color=_FORWARD, lw=1.6, label="forward: value (below the node)")[0]]
    if grads:
        handles.append(ax.plot([], [], color=_BACKWARD, lw=1.2, ls="--",
                               label=r"backward: $\partial L / \partial$ node (above)")[0])
    ax.legend(handles=handles, loc="lower center", ncol=2, frameon=False, bbox_to_anchor=(0.5, -0.12))
    if title:
        ax.set_title(title)
    return ax
