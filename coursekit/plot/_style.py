"""Colours, markers and small shared helpers of ``coursekit.plot``.

Colours are the Okabe-Ito palette (Okabe & Ito 2008, "Color Universal
Design"), which stays distinguishable under the common forms of colour
blindness. Every class also gets its own marker, so classes differ in a
grey-scale print too.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

# Okabe-Ito, ordered so that the first classes get the most distinct colours
# (blue, orange, bluish green, vermillion, reddish purple, sky blue, black, yellow:
# yellow is last because it is hard to see on white).
OKABE_ITO: list[str] = [
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#000000",
    "#F0E442",
]
"""The eight Okabe-Ito colours as hex strings, in the order classes use them."""

MARKERS: list[str] = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]
"""Marker codes, one per class (circle, square, triangle, diamond, ...)."""

WRONG_COLOR = "#D55E00"
"""Vermillion (red-orange): wrong predictions."""

NEUTRAL = "#4D4D4D"
GRID_KW: dict[str, Any] = {"alpha": 0.3, "linewidth": 0.6}


def class_style(k: int) -> dict[str, str]:
    """Colour and marker of class ``k`` (cycling for k >= 8 resp. 10).

    Parameters
    ----------
    k : int
        Class index (0, 1, 2, ...).

    Returns
    -------
    dict
        ``{"color": hex string, "marker": marker code}``, ready to unpack into
        ``ax.scatter(..., **class_style(k))`` or ``ax.plot``.
    """
    k = int(k)
    if k < 0:
        raise ValueError(f"class_style: k must be a class index >= 0, got {k}.")
    return {"color": OKABE_ITO[k % len(OKABE_ITO)], "marker": MARKERS[k % len(MARKERS)]}


def get_ax(ax: Axes | None, figsize: tuple[float, float] = (6.0, 4.5), **subplot_kw: Any) -> Axes:
    """The given Axes, or new ones on a new figure of a sensible size."""
    if ax is not None:
        if not isinstance(ax, Axes):
            raise ValueError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}.")
        return ax
    fig = plt.figure(figsize=figsize, layout="constrained")
    return fig.add_subplot(**subplot_kw)


def new_figure(fig: Figure | None, figsize: tuple[float, float]) -> Figure:
    """The given Figure (cleared), or a new one with constrained layout."""
    if fig is None:
        return plt.figure(figsize=figsize, layout="constrained")
    if not isinstance(fig, Figure):
        raise ValueError(f"fig must be a matplotlib Figure or None, got {type(fig).__name__}.")
    fig.clear()
    return fig


def light_grid(ax: Axes) -> None:
    """A light grid behind the data."""
    ax.grid(True, **GRID_KW)
    ax.set_axisbelow(True)


def class_name(names: Any, k: int) -> str:
    """Name of class ``k`` (``str(k)`` without names)."""
    if names is None:
        return str(k)
    if k < 0 or k >= len(names):
        raise ValueError(
            f"class_names has {len(names)} entries but the labels contain class {k}; "
            f"give one name per class (0 .. {k})."
        )
    return str(names[k])


def as_class_labels(y: Any, name: str, func: str) -> np.ndarray:
    """Integer class labels from labels (n,), (n, 1) or one-hot / probabilities (n, k)."""
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    elif arr.ndim == 2:
        arr = arr.argmax(axis=1)
    if arr.ndim != 1:
        raise ValueError(
            f"{func}: {name} must be a 1-D array of class labels (or one-hot rows), "
            f"got shape {np.shape(y)}."
        )
    if arr.size and not np.all(np.isfinite(arr.astype(float))):
        raise ValueError(f"{func}: {name} contains NaN or inf.")
    as_int = arr.astype(np.int64)
    if arr.size and not np.array_equal(as_int, arr.astype(float)):
        raise ValueError(
            f"{func}: {name} must hold whole-number class labels 0, 1, 2, ...; "
            f"got values such as {arr[np.flatnonzero(as_int != arr)[0]]!r}."
        )
    if arr.size and as_int.min() < 0:
        raise ValueError(f"{func}: {name} must hold class labels >= 0, got {as_int.min()}.")
    return as_int


def check_xy_2d(X: Any, y: Any, func: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate 2-D inputs X (n, 2) and labels y (n,) (y may be None)."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(
            f"{func}: X must have shape (n, 2), one row per point with its two "
            f"coordinates x1, x2; got shape {X.shape}."
        )
    if X.shape[0] == 0:
        raise ValueError(f"{func}: X is empty; give at least one point.")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{func}: X contains NaN or inf.")
    if y is None:
        return X, None
    labels = as_class_labels(y, "y", func)
    if labels.shape[0] != X.shape[0]:
        raise ValueError(
            f"{func}: X has {X.shape[0]} rows but y has {labels.shape[0]} labels; "
            "give one label per point."
        )
    return X, labels
