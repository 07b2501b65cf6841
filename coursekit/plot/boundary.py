"""2-D data, decision boundaries and the hidden-layer view (XOR lecture)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import BoundaryNorm, LinearSegmentedColormap, ListedColormap, to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from coursekit.plot._style import (
    NEUTRAL,
    OKABE_ITO,
    check_xy_2d,
    class_name,
    class_style,
    get_ax,
    new_figure,
)


def _lighten(color: str, amount: float) -> tuple[float, float, float]:
    """Blend a colour with white (amount 0: unchanged, 1: white)."""
    rgb = np.asarray(to_rgb(color))
    return tuple(rgb + (1.0 - rgb) * amount)


# Class 0 blue -> white -> class 1 orange: P(class 1) as a diverging shade. The
# colours are lightened instead of drawn with alpha, so the filled contours show
# no seams and the data points stay readable on top.
_BINARY_CMAP = LinearSegmentedColormap.from_list(
    "coursekit_binary", [_lighten(OKABE_ITO[0], 0.25), "#FFFFFF", _lighten(OKABE_ITO[1], 0.2)]
)


def _scatter_classes(
    ax: Axes, X: np.ndarray, y: np.ndarray | None, class_names: Sequence[str] | None
) -> None:
    if y is None:
        ax.scatter(X[:, 0], X[:, 1], s=36, color=NEUTRAL, edgecolors="white", linewidths=0.6)
        return
    n = X.shape[0]
    size = 48 if n <= 100 else (30 if n <= 600 else (14 if n <= 3000 else 6))
    for k in np.unique(y):
        sel = y == k
        ax.scatter(
            X[sel, 0],
            X[sel, 1],
            s=size,
            edgecolors="black" if n <= 600 else "white",
            linewidths=0.6 if n <= 100 else 0.4,
            label=class_name(class_names, int(k)),
            zorder=3,
            **class_style(int(k)),
        )


def plot_data_2d(
    X: Any,
    y: Any,
    *,
    ax: Axes | None = None,
    class_names: Sequence[str] | None = None,
    title: str | None = None,
    xlabel: str = "$x_1$",
    ylabel: str = "$x_2$",
) -> Axes:
    """Scatter a 2-D data set, one colour and marker per class.

    Parameters
    ----------
    X : array of shape (n, 2)
        The points.
    y : array of shape (n,) or None
        Class labels 0, 1, ... (one-hot rows are accepted too).
    ax : Axes, optional
        Where to draw; a new figure is made when None.
    class_names : sequence of str, optional
        Legend labels of the classes (default "0", "1", ...).
    title, xlabel, ylabel : str, optional
        Texts of the axes.

    Returns
    -------
    Axes
        The axes drawn on.
    """
    X, labels = check_xy_2d(X, y, "plot_data_2d")
    ax = get_ax(ax, figsize=(5.5, 4.5))
    _scatter_classes(ax, X, labels, class_names)
    ax.margins(0.08)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if labels is not None:
        ax.legend(title="class", loc="best", framealpha=0.9)
    ax.grid(True, alpha=0.3, linewidth=0.6)
    ax.set_axisbelow(True)
    return ax


def _predict_fn(predict: Any, func: str) -> Callable[[np.ndarray], np.ndarray]:
    """Turn a callable or a model with ``.predict`` into ``X (n, 2) -> array``."""
    if hasattr(predict, "predict_proba") and callable(predict.predict_proba):
        # scikit-learn style classifiers: predict() returns labels, predict_proba probabilities
        return lambda x: np.asarray(predict.predict_proba(x))
    if hasattr(predict, "predict") and callable(predict.predict):
        method = predict.predict

        def keras_like(x: np.ndarray) -> np.ndarray:
            try:
                out = method(x, verbose=0, batch_size=8192)
            except TypeError:
                out = method(x)
            return np.asarray(out)

        return keras_like
    if callable(predict):
        return lambda x: np.asarray(predict(x))
    raise ValueError(
        f"{func}: predict must be a function mapping an (n, 2) array to probabilities, "
        f"or a model with a .predict method (e.g. a Keras model); got {type(predict).__name__}."
    )


def _probabilities(
    predict: Callable[[np.ndarray], np.ndarray], points: np.ndarray, func: str
) -> np.ndarray:
    """Evaluate ``predict`` on points; return (n,) for binary or (n, k) for k > 2."""
    out = predict(points)
    if hasattr(out, "numpy"):
        out = out.numpy()
    out = np.asarray(out, dtype=float)
    n = points.shape[0]
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    elif out.ndim == 2 and out.shape[1] == 2:
        out = out[:, 1]  # two softmax outputs: P(class 1)
    if out.ndim not in (1, 2) or out.shape[0] != n:
        raise ValueError(
            f"{func}: predict returned shape {out.shape} for {n} points; expected "
            f"({n},), ({n}, 1) or ({n}, k): one probability (or one row of class "
            "probabilities) per point."
        )
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{func}: predict returned NaN or inf.")
    if out.ndim == 1 and (out.min() < -1e-6 or out.max() > 1 + 1e-6):
        raise ValueError(
            f"{func}: predict returned values in [{out.min():.3g}, {out.max():.3g}], "
            "but a binary classifier must return probabilities in [0, 1]. "
            "If your model outputs logits z, pass a function returning sigmoid(z)."
        )
    return out


def _grid(X: np.ndarray, padding: float, grid: int) -> tuple[np.ndarray, np.ndarray]:
    lo = X.min(axis=0) - padding
    hi = X.max(axis=0) + padding
    xs = np.linspace(lo[0], hi[0], grid)
    ys = np.linspace(lo[1], hi[1], grid)
    return np.meshgrid(xs, ys)


def _prob_label(class_names: Sequence[str] | None) -> str:
    """Colourbar label: P(<name of class 1>)."""
    return "P(class 1)" if class_names is None else f"P({class_name(class_names, 1)})"


def _shade_binary(ax: Axes, xx: np.ndarray, yy: np.ndarray, p: np.ndarray, label: str) -> None:
    shade = ax.contourf(
        xx, yy, p, levels=np.linspace(0.0, 1.0, 21), cmap=_BINARY_CMAP, vmin=0, vmax=1
    )
    ax.contour(xx, yy, p, levels=[0.5], colors="black", linewidths=1.8, linestyles="--")
    cbar = ax.figure.colorbar(shade, ax=ax, ticks=[0, 0.25, 0.5, 0.75, 1.0], fraction=0.05)
    cbar.set_label(label)


def plot_decision_boundary(
    predict: Any,
    X: Any,
    y: Any,
    *,
    ax: Axes | None = None,
    grid: int = 200,
    padding: float = 0.5,
    title: str | None = None,
    class_names: Sequence[str] | None = None,
    xlabel: str = "$x_1$",
    ylabel: str = "$x_2$",
) -> Axes:
    """Shade a classifier's prediction over the plane and draw its decision boundary.

    Parameters
    ----------
    predict : callable or model
        A function mapping an (n, 2) array to probabilities of shape (n,), (n, 1)
        (binary: P(class 1)) or (n, k) (class probabilities), or an object with a
        ``.predict(x)`` method such as a Keras model (called with ``verbose=0``).
    X : array of shape (n, 2)
        The data points, drawn on top.
    y : array of shape (n,) or None
        Their class labels.
    ax : Axes, optional
        Where to draw; a new figure is made when None.
    grid : int
        Number of grid points per axis (grid x grid predictions).
    padding : float
        Margin around the data, in data units.
    title, class_names, xlabel, ylabel : optional
        Texts.

    Returns
    -------
    Axes
        The axes drawn on. Binary: P(class 1) shading with a colourbar and the
        dashed 0.5 contour. k > 2 classes: the region of each predicted class.
    """
    func = "plot_decision_boundary"
    X, labels = check_xy_2d(X, y, func)
    grid = int(grid)
    if grid < 2:
        raise ValueError(f"{func}: grid must be at least 2, got {grid}.")
    fn = _predict_fn(predict, func)
    xx, yy = _grid(X, float(padding), grid)
    points = np.column_stack([xx.ravel(), yy.ravel()])
    probs = _probabilities(fn, points, func)
    ax = get_ax(ax, figsize=(6.2, 4.8))
    if probs.ndim == 1:
        p = probs.reshape(xx.shape)
        _shade_binary(ax, xx, yy, p, _prob_label(class_names))
        boundary = Line2D([], [], color="black", linestyle="--", linewidth=1.8)
        boundary_label = "decision boundary (p = 0.5)"
    else:
        k = probs.shape[1]
        pred = probs.argmax(axis=1).reshape(xx.shape)
        colors = [_lighten(class_style(i)["color"], 0.7) for i in range(k)]
        cmap = ListedColormap(colors)
        norm = BoundaryNorm(np.arange(-0.5, k + 0.5), k)
        ax.contourf(xx, yy, pred, levels=np.arange(-0.5, k + 0.5), cmap=cmap, norm=norm)
        ax.contour(
            xx, yy, pred, levels=np.arange(0.5, k - 0.5), colors=NEUTRAL, linewidths=1.0
        )
        boundary = Line2D([], [], color=NEUTRAL, linewidth=1.0)
        boundary_label = "class boundaries"
    _scatter_classes(ax, X, labels, class_names)
    ax.set_xlim(xx.min(), xx.max())
    ax.set_ylim(yy.min(), yy.max())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    handles, texts = ax.get_legend_handles_labels()
    ax.legend(
        [*handles, boundary], [*texts, boundary_label], loc="best", framealpha=0.9, fontsize="small"
    )
    return ax


def _readout_fn(readout: Any, h: int) -> tuple[Callable[[np.ndarray], np.ndarray], bool]:
    """(function H -> P(class 1), is_linear) from ``(w, b)`` or a callable."""
    func = "plot_hidden_layer_panels"
    if callable(readout) or hasattr(readout, "predict"):
        fn = _predict_fn(readout, func)
        return fn, False
    try:
        w, b = readout
    except (TypeError, ValueError):
        raise ValueError(
            f"{func}: readout must be (w, b) of the output unit or a function H -> "
            f"probabilities; got {type(readout).__name__}."
        ) from None
    w = np.asarray(w, dtype=float).reshape(-1)
    b_arr = np.asarray(b, dtype=float).reshape(-1)
    if w.shape[0] != h or b_arr.shape[0] != 1:
        raise ValueError(
            f"{func}: readout (w, b) must have w of shape ({h},) (one weight per hidden "
            f"unit) and a scalar b; got w with {w.shape[0]} entries and b with "
            f"{b_arr.shape[0]}."
        )
    bias = float(b_arr[0])

    def sigmoid_readout(H: np.ndarray) -> np.ndarray:
        z = H @ w + bias
        return 0.5 * (1.0 + np.tanh(0.5 * z))  # = sigmoid(z), without overflow

    return sigmoid_readout, True


def plot_hidden_layer_panels(
    hidden: Callable[[np.ndarray], Any],
    X: Any,
    y: Any,
    *,
    readout: Any,
    fig: Figure | None = None,
    titles: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
) -> Figure:
    """Three panels: the data, the data in hidden-unit coordinates, the boundary.

    Panel 1 shows the input data. Panel 2 plots every point at its hidden
    activations (h1, h2) with the readout's probability shading and its 0.5
    line: there the classes are split by a straight line. Panel 3 shows the
    boundary that the whole network draws in input space.

    Parameters
    ----------
    hidden : callable
        Maps X (n, 2) to the hidden activations H (n, h), h >= 2. With h > 2 the
        first two units are shown (the others held at their mean over the data
        for the shading), and the panel title says so.
    X : array of shape (n, 2)
        Inputs.
    y : array of shape (n,)
        Binary class labels.
    readout : (w, b) or callable
        The output unit: weights w of shape (h,) and bias b of a sigmoid unit,
        or a function H (n, h) -> probabilities.
    fig : Figure, optional
        Figure to draw on (cleared); a new 15 x 4.6 inch figure when None.
    titles : sequence of three str, optional
        Panel titles.
    class_names : sequence of str, optional
        Legend labels of the classes.

    Returns
    -------
    Figure
        The figure with its three axes.
    """
    func = "plot_hidden_layer_panels"
    X, labels = check_xy_2d(X, y, func)
    if not callable(hidden):
        raise ValueError(f"{func}: hidden must be a function X (n, 2) -> H (n, h).")
    H = hidden(X)
    if hasattr(H, "numpy"):
        H = H.numpy()
    H = np.asarray(H, dtype=float)
    if H.ndim != 2 or H.shape[0] != X.shape[0]:
        raise ValueError(
            f"{func}: hidden(X) must return shape ({X.shape[0]}, h), one row of hidden "
            f"activations per point; got {H.shape}."
        )
    h = H.shape[1]
    if h < 2:
        raise ValueError(
            f"{func}: the hidden layer has {h} unit; the hidden-space panel needs at least 2."
        )
    if titles is not None and len(titles) != 3:
        raise ValueError(f"{func}: titles must have three entries, got {len(titles)}.")
    read_fn, is_linear = _readout_fn(readout, h)

    fig = new_figure(fig, (15.0, 4.6))
    axes = fig.subplots(1, 3)
    default_titles = [
        "1. input space",
        "2. hidden space: a line separates the classes",
        "3. decision boundary in input space",
    ]
    if h > 2:
        default_titles[1] = f"2. hidden space (units 1-2 of {h}; others at their mean)"
    titles = list(titles) if titles is not None else default_titles

    plot_data_2d(X, labels, ax=axes[0], class_names=class_names, title=titles[0])

    # Hidden space: shade the readout's probability over (h1, h2).
    ax = axes[1]
    span = np.ptp(H[:, :2], axis=0)
    pad = 0.15 * np.where(span > 0, span, 1.0)
    lo = H[:, :2].min(axis=0) - pad
    hi = H[:, :2].max(axis=0) + pad
    g1, g2 = np.meshgrid(np.linspace(lo[0], hi[0], 150), np.linspace(lo[1], hi[1], 150))
    rest = np.broadcast_to(H[:, 2:].mean(axis=0), (g1.size, h - 2))
    Hgrid = np.column_stack([g1.ravel(), g2.ravel(), rest])
    p = _probabilities(read_fn, Hgrid, func)
    if p.ndim != 1:
        raise ValueError(f"{func}: readout must return one probability per point (binary).")
    _shade_binary(ax, g1, g2, p.reshape(g1.shape), _prob_label(class_names))
    _scatter_classes(ax, H[:, :2], labels, class_names)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel("hidden unit 1, $h_1$")
    ax.set_ylabel("hidden unit 2, $h_2$")
    ax.set_title(titles[1])
    line_label = "readout line $w^T h + b = 0$" if is_linear else "readout p = 0.5"
    handles, texts = ax.get_legend_handles_labels()
    ax.legend(
        [*handles, Line2D([], [], color="black", linestyle="--", linewidth=1.8)],
        [*texts, line_label],
        loc="best",
        fontsize="small",
        framealpha=0.9,
    )

    def network(x: np.ndarray) -> np.ndarray:
        hid = hidden(x)
        if hasattr(hid, "numpy"):
            hid = hid.numpy()
        return read_fn(np.asarray(hid, dtype=float))

    plot_decision_boundary(
        network, X, labels, ax=axes[2], grid=150, title=titles[2], class_names=class_names
    )
    axes[0].set_xlim(axes[2].get_xlim())
    axes[0].set_ylim(axes[2].get_ylim())
    return fig


__all__ = ["plot_data_2d", "plot_decision_boundary", "plot_hidden_layer_panels"]
