"""Per-layer views of activations and gradients (initialisation lecture)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from coursekit.plot._style import OKABE_ITO, class_style, get_ax, light_grid, new_figure

_KIND_COLOR = {"activations": OKABE_ITO[0], "gradients": OKABE_ITO[1]}
_DEFAULT_MAX_LAYERS = 12


def _layers(values: Any, func: str) -> list[tuple[str, np.ndarray]]:
    if isinstance(values, Mapping):
        items = [(str(k), v) for k, v in values.items()]
    elif isinstance(values, Sequence) and not isinstance(values, str):
        items = [(f"layer {i + 1}", v) for i, v in enumerate(values)]
    else:
        raise ValueError(
            f"{func}: values must be a list of arrays (one per layer) or a dict layer name -> "
            f"array; got {type(values).__name__}."
        )
    if not items:
        raise ValueError(f"{func}: values is empty; give one array per layer.")
    out = []
    for name, v in items:
        if hasattr(v, "numpy"):
            v = v.numpy()
        arr = np.asarray(v, dtype=float).ravel()
        if arr.size == 0:
            raise ValueError(f"{func}: the array of {name} is empty.")
        out.append((name, arr))
    return out


def _pick(n: int, k: int) -> list[int]:
    """k indices spread evenly over range(n), always with the first and the last."""
    if k >= n:
        return list(range(n))
    return sorted({int(round(i)) for i in np.linspace(0, n - 1, k)})


def plot_layer_histograms(
    values: Any,
    *,
    fig: Figure | None = None,
    kind: str = "activations",
    bins: int = 50,
    max_layers: int | None = None,
) -> Figure:
    """One histogram per layer, on a shared x-range, with mean and std in each panel.

    A shared x-range makes shrinking (vanishing) or growing (exploding)
    activations and gradients visible at a glance.

    Parameters
    ----------
    values : list of arrays or dict name -> array
        The activations (or gradients) of each layer, any shape (flattened).
    fig : Figure, optional
        Figure to draw on (cleared); a new one when None.
    kind : {"activations", "gradients"}
        What the values are (colour and axis label).
    bins : int
        Histogram bins.
    max_layers : int, optional
        Show at most this many layers, spread evenly and always including the
        first and the last. Default: all layers up to 12, else 12 of them (the
        title then says how many are shown).

    Returns
    -------
    Figure
        The figure, one axes per layer shown.
    """
    func = "plot_layer_histograms"
    if kind not in _KIND_COLOR:
        raise ValueError(f"{func}: kind must be 'activations' or 'gradients', got {kind!r}.")
    layers = _layers(values, func)
    limit = _DEFAULT_MAX_LAYERS if max_layers is None else int(max_layers)
    if limit < 1:
        raise ValueError(f"{func}: max_layers must be >= 1, got {max_layers}.")
    chosen = [layers[i] for i in _pick(len(layers), limit)]
    finite = np.concatenate([v[np.isfinite(v)] for _, v in chosen])
    if finite.size == 0:
        raise ValueError(f"{func}: all values are NaN or inf.")
    lo, hi = np.percentile(finite, [0.5, 99.5])
    if kind == "activations" and finite.min() >= 0:
        lo = 0.0
    if hi <= lo:
        lo, hi = lo - 1.0, hi + 1.0
    n = len(chosen)
    ncols = min(n, 6)
    nrows = int(np.ceil(n / ncols))
    fig = new_figure(fig, (2.4 * ncols + 0.4, 2.1 * nrows + 0.7))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False, sharex=True)).ravel()
    edges = np.linspace(lo, hi, int(bins) + 1)
    for ax, (name, v) in zip(axes, chosen, strict=False):
        vals = v[np.isfinite(v)]
        zeros = float(np.mean(vals == 0)) if vals.size else 0.0
        note = f"mean {np.mean(v):.2g}\nstd {np.std(v):.2g}"
        if zeros > 0.05:
            # ReLU layers: exact zeros would dwarf everything else; count them in words
            vals = vals[vals != 0]
            note += f"\nzeros {100 * zeros:.0f}% (not drawn)"
        ax.hist(vals[(vals >= lo) & (vals <= hi)], bins=edges, color=_KIND_COLOR[kind],
                edgecolor="none", alpha=0.9)
        ax.set_title(name, fontsize="small")
        ax.text(0.97, 0.95, note,
                transform=ax.transAxes, ha="right", va="top", fontsize="x-small",
                bbox={"fc": "white", "ec": "none", "alpha": 0.8})
        ax.tick_params(labelsize="x-small")
        ax.set_yticks([])
        light_grid(ax)
    for ax in axes[n:]:
        ax.set_axis_off()
    for ax in axes[:n][-ncols:]:
        ax.set_xlabel(kind[:-1] + " value", fontsize="small")
        ax.xaxis.set_tick_params(labelbottom=True)
    for row in range(nrows):
        axes[row * ncols].set_ylabel("count", fontsize="small")
    shown = f" ({n} of {len(layers)} layers shown)" if n < len(layers) else ""
    fig.suptitle(f"{kind} per layer{shown}")
    return fig


def plot_layer_stats(
    stats: Mapping[str, Sequence[float]],
    *,
    ax: Axes | None = None,
    ylabel: str = "standard deviation",
    logy: bool = True,
    title: str | None = None,
) -> Axes:
    """One line per setting of a per-layer statistic (e.g. activation std per layer).

    Parameters
    ----------
    stats : dict label -> sequence of float
        E.g. ``{"N(0, 0.01²)": stds_small, "He": stds_he}``, one value per layer.
    ax : Axes, optional
        Where to draw; new axes when None.
    ylabel : str
        What the values are.
    logy : bool
        Logarithmic y axis (non-positive values are then left out).
    title : str, optional
        Title (default "<ylabel> per layer").

    Returns
    -------
    Axes
        The axes drawn on.
    """
    func = "plot_layer_stats"
    if not isinstance(stats, Mapping) or not stats:
        raise ValueError(
            f"{func}: stats must be a non-empty dict label -> per-layer values, "
            f"e.g. {{'He': [1.1, 1.0, 0.98]}}; got {type(stats).__name__}."
        )
    ax = get_ax(ax, figsize=(6.8, 4.4))
    longest = 0
    for i, (label, seq) in enumerate(stats.items()):
        arr = np.asarray([float(s) for s in np.ravel(np.asarray(seq, dtype=object))])
        if arr.size == 0:
            raise ValueError(f"{func}: stats[{label!r}] is empty.")
        longest = max(longest, arr.size)
        style = class_style(i)
        ax.plot(np.arange(1, arr.size + 1), arr, label=str(label), linewidth=2.0,
                markersize=5, markevery=max(1, arr.size // 15), **style)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("layer")
    ax.set_ylabel(ylabel)
    ax.set_title(title if title is not None else f"{ylabel} per layer")
    if longest <= 12:
        ax.set_xticks(np.arange(1, longest + 1))
    light_grid(ax)
    ax.grid(True, which="minor", alpha=0.1)
    ax.legend(loc="best", fontsize="small", framealpha=0.9)
    return ax


__all__ = ["plot_layer_histograms", "plot_layer_stats"]
