"""Activation functions and their derivatives, side by side."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from coursekit.plot._style import NEUTRAL, OKABE_ITO, class_style, light_grid, new_figure

_LINESTYLES = ["-", "--", "-.", ":", "-", "--", "-.", ":"]
# Okabe-Ito without its yellow (too faint for thin lines on white), then grey.
_COLORS = [c for c in OKABE_ITO if c != "#F0E442"] + [NEUTRAL]


def plot_activations(
    names: str | Sequence[str] | None = None,
    *,
    z: Any = None,
    fig: Figure | None = None,
) -> Figure:
    """Plot activation functions g(z) (left) and their derivatives g'(z) (right).

    Parameters
    ----------
    names : str or sequence of str, optional
        Names from ``coursekit.activations.ACTIVATIONS`` (sigmoid, tanh, relu,
        leaky_relu, softplus, gelu, silu, step); default all of them.
    z : array, optional
        The z values (default 401 points in [-5, 5]).
    fig : Figure, optional
        Figure to draw on (cleared); a new one when None.

    Returns
    -------
    Figure
        The figure, with two axes: g(z) and g'(z). Each function has its own
        colour, line style and marker.
    """
    from coursekit.activations import ACTIVATIONS

    if names is None:
        names = list(ACTIVATIONS)
    elif isinstance(names, str):
        names = [names]
    names = list(names)
    if not names:
        raise ValueError("plot_activations: names is empty; give at least one activation name.")
    unknown = [n for n in names if n not in ACTIVATIONS]
    if unknown:
        raise ValueError(
            f"plot_activations: unknown activation {unknown[0]!r}; "
            f"choose from {', '.join(ACTIVATIONS)}."
        )
    z = np.linspace(-5.0, 5.0, 401) if z is None else np.asarray(z, dtype=float)
    if z.ndim != 1 or z.size < 2:
        raise ValueError(f"plot_activations: z must be a 1-D array of z values, got shape {z.shape}.")
    z = np.sort(z)

    fig = new_figure(fig, (12.0, 4.6))
    ax_g, ax_d = fig.subplots(1, 2)
    every = max(1, z.size // 8)
    g_values: list[np.ndarray] = []
    d_values: list[np.ndarray] = []
    for i, name in enumerate(names):
        g, dg = ACTIVATIONS[name]
        style = class_style(i)
        kw = {
            "color": _COLORS[i % len(_COLORS)],
            "marker": style["marker"],
            "markevery": (every // 2 + (i * every) // max(len(names), 1), every),
            "markersize": 5,
            "linestyle": _LINESTYLES[i % len(_LINESTYLES)],
            "linewidth": 2.0,
            "label": name,
        }
        g_values.append(np.asarray(g(z), dtype=float))
        d_values.append(np.asarray(dg(z), dtype=float))
        ax_g.plot(z, g_values[-1], **kw)
        ax_d.plot(z, d_values[-1], **kw)
    for ax, title, ylabel in (
        (ax_g, "activation functions", "$g(z)$"),
        (ax_d, "derivatives", "$g'(z)$"),
    ):
        ax.axhline(0, color="black", linewidth=0.7)
        ax.axvline(0, color="black", linewidth=0.7)
        ax.set_xlabel("$z$")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.set_xlim(z[0], z[-1])
        light_grid(ax)
    for ax, values, (floor, ceiling) in ((ax_g, g_values, (-1.5, 5.5)), (ax_d, d_values, (-0.5, 1.5))):
        finite = np.concatenate(values)
        finite = finite[np.isfinite(finite)]
        lo, hi = float(finite.min()), float(finite.max())
        pad = 0.08 * ((hi - lo) or 1.0)
        ax.set_ylim(max(lo - pad, floor), min(hi + pad, ceiling))
    if len(names) > 1:
        ax_d.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), title="activation")
    else:
        ax_g.legend(loc="upper left")
    return fig


__all__ = ["plot_activations"]
