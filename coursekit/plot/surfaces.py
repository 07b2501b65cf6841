"""Loss surfaces, contours with the gradient field, and optimizer paths."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.lines import Line2D

from coursekit.plot._style import MARKERS, NEUTRAL, get_ax

_PATH_STYLES = ["-", "--", "-.", ":"]
# Okabe-Ito colours that stand out on viridis contours (no blue, green or yellow).
_PATH_COLORS = ["#D55E00", "#CC79A7", "#E69F00", "#000000", "#56B4E9"]


def _check_lim(lim: Any, name: str, func: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in lim)
    except (TypeError, ValueError):
        raise ValueError(f"{func}: {name} must be a pair (low, high), got {lim!r}.") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"{func}: {name} must satisfy low < high, got ({lo}, {hi}).")
    return lo, hi


def _evaluate(
    f: Callable[..., Any], xlim: Any, ylim: Any, grid: int, func: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    (x0, x1), (y0, y1) = _check_lim(xlim, "xlim", func), _check_lim(ylim, "ylim", func)
    grid = int(grid)
    if grid < 2:
        raise ValueError(f"{func}: grid must be at least 2, got {grid}.")
    W1, W2 = np.meshgrid(np.linspace(x0, x1, grid), np.linspace(y0, y1, grid))
    Z = np.asarray(f(W1, W2), dtype=float)
    if Z.shape != W1.shape:
        raise ValueError(
            f"{func}: f(W1, W2) must be vectorised: called with two {W1.shape} arrays it "
            f"must return a {W1.shape} array, but it returned shape {Z.shape}. "
            "Use numpy operations on W1 and W2 (no Python if/for over scalars)."
        )
    return W1, W2, Z


def plot_loss_surface(
    f: Callable[..., Any],
    xlim: Sequence[float],
    ylim: Sequence[float],
    *,
    ax: Axes | None = None,
    grid: int = 60,
    zlabel: str = "loss",
    title: str | None = None,
) -> Axes:
    """Draw the loss J(w1, w2) as a 3-D surface.

    Parameters
    ----------
    f : callable
        ``f(W1, W2)`` evaluated on meshgrid arrays, returning the loss on the grid.
    xlim, ylim : (low, high)
        Ranges of w1 and w2.
    ax : Axes, optional
        3-D axes (``fig.add_subplot(projection="3d")``); new ones when None.
    grid : int
        Grid points per axis.
    zlabel, title : str
        Texts.

    Returns
    -------
    Axes
        The 3-D axes drawn on (with a colourbar for the loss).
    """
    func = "plot_loss_surface"
    W1, W2, Z = _evaluate(f, xlim, ylim, grid, func)
    if ax is not None and getattr(ax, "name", "") != "3d":
        raise ValueError(
            f"{func}: ax must be 3-D axes; make them with "
            "fig.add_subplot(projection='3d') or plt.subplots(subplot_kw={'projection': '3d'})."
        )
    ax = get_ax(ax, figsize=(7.0, 5.4), projection="3d")
    surf = ax.plot_surface(
        W1, W2, Z, cmap="viridis", rstride=1, cstride=1, linewidth=0.1, edgecolor="none",
        antialiased=True, alpha=0.95,
    )
    zmin = float(np.nanmin(Z))
    ax.contour(W1, W2, Z, levels=12, zdir="z", offset=zmin, cmap="viridis", linewidths=0.8)
    ax.set_xlabel("$w_1$")
    ax.set_ylabel("$w_2$")
    ax.set_zlabel(zlabel)
    ax.set_title(title if title is not None else f"{zlabel} surface")
    cbar = ax.figure.colorbar(surf, ax=ax, shrink=0.6, pad=0.1)
    cbar.set_label(zlabel)
    ax.view_init(elev=30, azim=-60)
    return ax


def _check_paths(paths: Any, func: str) -> dict[str, np.ndarray]:
    if isinstance(paths, Mapping):
        items = list(paths.items())
    elif isinstance(paths, np.ndarray) and paths.ndim == 2:
        items = [("path", paths)]
    else:
        raise ValueError(
            f"{func}: paths must be a dict label -> array of shape (steps, 2), "
            f"e.g. {{'SGD': np.array(history)}}; got {type(paths).__name__}."
        )
    out: dict[str, np.ndarray] = {}
    for label, path in items:
        arr = np.asarray(path, dtype=float)
        if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 1:
            raise ValueError(
                f"{func}: path {label!r} must have shape (steps, 2), one (w1, w2) row per "
                f"step; got shape {arr.shape}."
            )
        out[str(label)] = arr
    return out


def plot_paths(paths: Mapping[str, Any], *, ax: Axes) -> Axes:
    """Overlay optimizer paths (dict label -> (steps, 2) array) on existing axes.

    Each path gets a colour, line style and marker; a white circle marks the
    start and a star the end. The legend names the paths and their step counts.

    Returns
    -------
    Axes
        The axes drawn on.
    """
    func = "plot_paths"
    if ax is None:
        raise ValueError(f"{func}: ax is required (the axes with your contour plot).")
    checked = _check_paths(paths, func)
    handles: list[Any] = []
    for i, (label, arr) in enumerate(checked.items()):
        color = _PATH_COLORS[i % len(_PATH_COLORS)]
        marker = MARKERS[(i + 1) % len(MARKERS)]
        every = max(1, arr.shape[0] // 15)
        (line,) = ax.plot(
            arr[:, 0], arr[:, 1], color=color, linestyle=_PATH_STYLES[i % 4], linewidth=2.0,
            marker=marker, markersize=4, markevery=every,
            label=f"{label} ({arr.shape[0] - 1} steps)", zorder=4,
            path_effects=[patheffects.withStroke(linewidth=4, foreground="white", alpha=0.8)],
        )
        ax.plot(arr[0, 0], arr[0, 1], "o", markersize=9, markerfacecolor="white",
                markeredgecolor=color, markeredgewidth=2, zorder=5)
        ax.plot(arr[-1, 0], arr[-1, 1], "*", markersize=15, color=color,
                markeredgecolor="black", markeredgewidth=0.7, zorder=6)
        handles.append(line)
    handles.append(Line2D([], [], linestyle="", marker="o", markersize=8,
                          markerfacecolor="white", markeredgecolor="black", label="start"))
    handles.append(Line2D([], [], linestyle="", marker="*", markersize=12, color=NEUTRAL,
                          markeredgecolor="black", label="end"))
    old = ax.get_legend()
    extra = []
    if old is not None:
        extra = [h for h in old.legend_handles if h.get_label() not in {"start", "end"}]
    ax.legend(handles=[*extra, *handles], loc="best", fontsize="small", framealpha=0.9)
    return ax


def plot_loss_contours(
    f: Callable[..., Any],
    xlim: Sequence[float],
    ylim: Sequence[float],
    *,
    ax: Axes | None = None,
    grad: Callable[..., Any] | None = None,
    paths: Mapping[str, Any] | None = None,
    levels: int = 30,
    grid: int = 200,
    log_levels: bool = False,
    title: str | None = None,
) -> Axes:
    """Filled contours of the loss J(w1, w2), optionally with -grad J and optimizer paths.

    Parameters
    ----------
    f : callable
        ``f(W1, W2)`` evaluated on meshgrid arrays.
    xlim, ylim : (low, high)
        Ranges of w1 and w2.
    ax : Axes, optional
        Where to draw; new axes when None.
    grad : callable, optional
        ``grad(W1, W2) -> (dW1, dW2)``; the negative gradient (the direction
        gradient descent steps in) is drawn as arrows on a coarse grid.
    paths : dict, optional
        Label -> array (steps, 2) of weights visited by an optimizer.
    levels : int
        Number of contour levels.
    grid : int
        Grid points per axis for the contours.
    log_levels : bool
        Space the levels logarithmically (for losses spanning decades; needs a
        positive loss).
    title : str, optional
        Title (default "loss contours").

    Returns
    -------
    Axes
        The axes drawn on (with a colourbar).
    """
    func = "plot_loss_contours"
    W1, W2, Z = _evaluate(f, xlim, ylim, grid, func)
    levels = int(levels)
    if levels < 2:
        raise ValueError(f"{func}: levels must be at least 2, got {levels}.")
    ax = get_ax(ax, figsize=(6.6, 5.2))
    zmin, zmax = float(np.nanmin(Z)), float(np.nanmax(Z))
    if log_levels:
        if zmin <= 0:
            raise ValueError(
                f"{func}: log_levels=True needs a positive loss, but its minimum on the grid "
                f"is {zmin:.3g}; use log_levels=False."
            )
        lv = np.geomspace(zmin, zmax, levels)
        cs = ax.contourf(W1, W2, Z, levels=lv, cmap="viridis", norm=LogNorm(zmin, zmax))
    else:
        lv = np.linspace(zmin, zmax, levels)
        cs = ax.contourf(W1, W2, Z, levels=lv, cmap="viridis")
    ax.contour(W1, W2, Z, levels=lv[::3], colors="white", linewidths=0.5, alpha=0.6)
    cbar = ax.figure.colorbar(cs, ax=ax)
    cbar.set_ticks(lv[:: max(1, levels // 6)])
    cbar.set_ticklabels([f"{v:.3g}" for v in lv[:: max(1, levels // 6)]])
    cbar.minorticks_off()
    cbar.set_label("loss")
    legend_handles: list[Any] = []
    if grad is not None:
        n_arrows = 15
        (x0, x1), (y0, y1) = (W1.min(), W1.max()), (W2.min(), W2.max())
        G1, G2 = np.meshgrid(np.linspace(x0, x1, n_arrows), np.linspace(y0, y1, n_arrows))
        out = grad(G1, G2)
        try:
            d1, d2 = (np.asarray(a, dtype=float) for a in out)
        except (TypeError, ValueError):
            raise ValueError(f"{func}: grad(W1, W2) must return a pair (dW1, dW2).") from None
        if d1.shape != G1.shape or d2.shape != G1.shape:
            raise ValueError(
                f"{func}: grad(W1, W2) must be vectorised and return two arrays of shape "
                f"{G1.shape}; got {d1.shape} and {d2.shape}."
            )
        norm = np.hypot(d1, d2)
        norm[norm == 0] = 1.0
        # Unit arrows: the direction of steepest descent (lengths would span decades).
        ax.quiver(G1, G2, -d1 / norm, -d2 / norm, color="white", alpha=0.7, pivot="mid",
                  angles="xy", scale=n_arrows * 1.8, width=0.0035, zorder=3)
        legend_handles.append(
            Line2D([], [], color="black", marker=r"$\rightarrow$", markersize=14, linestyle="",
                   label=r"$-\nabla J$ (direction)")
        )
    ax.set_xlim(W1.min(), W1.max())
    ax.set_ylim(W2.min(), W2.max())
    ax.set_xlabel("$w_1$")
    ax.set_ylabel("$w_2$")
    ax.set_title(title if title is not None else "loss contours")
    if legend_handles:
        ax.legend(handles=legend_handles, loc="upper right", fontsize="small", framealpha=0.9)
    if paths is not None:
        plot_paths(paths, ax=ax)
    return ax


__all__ = ["plot_loss_contours", "plot_loss_surface", "plot_paths"]
