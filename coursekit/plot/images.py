"""Image grids, confusion matrices and class balance (MNIST / Fashion-MNIST)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from coursekit.plot._style import (
    NEUTRAL,
    OKABE_ITO,
    WRONG_COLOR,
    as_class_labels,
    class_name,
    get_ax,
    light_grid,
    new_figure,
)


def _as_images(images: Any, func: str) -> np.ndarray:
    arr = np.asarray(images)
    if arr.ndim == 2:  # flattened rows, e.g. (n, 784)
        side = int(round(np.sqrt(arr.shape[1])))
        if side * side != arr.shape[1]:
            raise ValueError(
                f"{func}: images of shape {arr.shape} look flattened but {arr.shape[1]} is not a "
                "square number; pass images of shape (n, height, width)."
            )
        arr = arr.reshape(arr.shape[0], side, side)
    if arr.ndim == 4 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[-1] not in (3, 4)):
        raise ValueError(
            f"{func}: images must have shape (n, height, width), (n, height, width, 1|3) "
            f"or (n, height*width); got {np.shape(images)}."
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{func}: images is empty.")
    return arr


def plot_image_grid(
    images: Any,
    labels: Any = None,
    *,
    class_names: Sequence[str] | None = None,
    predictions: Any = None,
    n: int = 25,
    ncols: int = 5,
    fig: Figure | None = None,
    title: str | None = None,
) -> Figure:
    """Show the first ``n`` images in a grid, titled with their class names.

    Parameters
    ----------
    images : array
        (N, height, width) (grey), (N, height, width, 1 or 3), or flattened
        (N, height*width) with a square image size.
    labels : array (N,), optional
        True class labels (or one-hot rows).
    class_names : sequence of str, optional
        Names of the classes (e.g. ``coursekit.data.FASHION_MNIST_CLASSES``).
    predictions : array, optional
        Predicted labels (N,) or class probabilities (N, k). Each image is then
        titled with its prediction; wrong ones get a red-orange frame and the
        title "pred (true)".
    n, ncols : int
        Number of images shown and images per row.
    fig : Figure, optional
        Figure to draw on (cleared); a new one when None.
    title : str, optional
        Figure title (with predictions, the number of wrong ones is added).

    Returns
    -------
    Figure
        The figure; ``fig.n_wrong`` is the number of wrong predictions shown
        (None without predictions).
    """
    func = "plot_image_grid"
    imgs = _as_images(images, func)
    total = imgs.shape[0]
    y = None if labels is None else as_class_labels(labels, "labels", func)
    pred = None if predictions is None else as_class_labels(predictions, "predictions", func)
    for name, arr in (("labels", y), ("predictions", pred)):
        if arr is not None and arr.shape[0] != total:
            raise ValueError(
                f"{func}: there are {total} images but {arr.shape[0]} {name}; give one per image."
            )
    if pred is not None and y is None:
        raise ValueError(f"{func}: predictions need the true labels too (labels=...).")
    n, ncols = int(n), int(ncols)
    if n < 1 or ncols < 1:
        raise ValueError(f"{func}: n and ncols must be >= 1, got n={n}, ncols={ncols}.")
    n = min(n, total)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig = new_figure(fig, (1.75 * ncols, 1.9 * nrows + (0.5 if title or pred is not None else 0)))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    grey = imgs.ndim == 3
    # uint8 pixels keep their absolute brightness; float images (means, weights) are scaled
    scale = {"vmin": 0, "vmax": 255} if imgs.dtype == np.uint8 and grey else {}
    n_wrong = 0
    for i, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.set_axis_off()
            continue
        ax.imshow(imgs[i], cmap="gray_r" if grey else None, interpolation="nearest", **scale)
        for spine in ax.spines.values():
            spine.set_visible(False)
        if y is None:
            continue
        true = class_name(class_names, int(y[i]))
        if pred is None:
            ax.set_title(true, fontsize="small")
            continue
        guess = class_name(class_names, int(pred[i]))
        if pred[i] == y[i]:
            ax.set_title(guess, fontsize="small", color="black")
        else:
            n_wrong += 1
            ax.set_title(f"{guess} ({true})", fontsize="small", color=WRONG_COLOR,
                         fontweight="bold")
            for spine in ax.spines.values():
                spine.set_visible(True)
                spine.set_edgecolor(WRONG_COLOR)
                spine.set_linewidth(3.5)
    if pred is not None:
        summary = f"{n_wrong} of {n} wrong (red-orange frame, title: prediction (true))"
        fig.suptitle(f"{title}\n{summary}" if title else summary, fontsize="medium")
    elif title:
        fig.suptitle(title)
    fig.n_wrong = n_wrong if pred is not None else None
    return fig


def confusion_matrix(y_true: Any, y_pred: Any, n_classes: int | None = None) -> np.ndarray:
    """Count matrix ``cm[i, j]`` = number of examples of class i predicted as class j.

    Parameters
    ----------
    y_true, y_pred : array (n,)
        True and predicted labels (predicted probabilities (n, k) are turned
        into labels with argmax).
    n_classes : int, optional
        Number of classes (default: largest label + 1).

    Returns
    -------
    ndarray of int64, shape (n_classes, n_classes)
        Rows are true classes, columns predicted classes.
    """
    func = "confusion_matrix"
    t = as_class_labels(y_true, "y_true", func)
    p = as_class_labels(y_pred, "y_pred", func)
    if t.shape[0] != p.shape[0]:
        raise ValueError(
            f"{func}: y_true has {t.shape[0]} labels but y_pred has {p.shape[0]}; "
            "give one prediction per example."
        )
    largest = int(max(t.max(initial=-1), p.max(initial=-1)))
    if n_classes is None:
        n_classes = largest + 1
    n_classes = int(n_classes)
    if n_classes < 1:
        raise ValueError(f"{func}: n_classes must be >= 1, got {n_classes}.")
    if largest >= n_classes:
        raise ValueError(
            f"{func}: the labels contain class {largest} but n_classes={n_classes} "
            f"(classes 0 .. {n_classes - 1})."
        )
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def most_confused_pairs(
    cm: Any, class_names: Sequence[str] | None = None, k: int = 5
) -> list[tuple[str, str, int]]:
    """The ``k`` largest off-diagonal entries of a confusion matrix.

    Returns
    -------
    list of (true class, predicted class, count)
        Largest count first (ties: by true, then predicted class index);
        pairs that never occur are left out.
    """
    func = "most_confused_pairs"
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"{func}: cm must be a square (k, k) matrix, got shape {cm.shape}.")
    if class_names is not None and len(class_names) != cm.shape[0]:
        raise ValueError(
            f"{func}: cm has {cm.shape[0]} classes but class_names has {len(class_names)} names."
        )
    if int(k) < 0:
        raise ValueError(f"{func}: k must be >= 0, got {k}.")
    rows, cols = np.nonzero(~np.eye(cm.shape[0], dtype=bool) & (cm > 0))
    counts = cm[rows, cols]
    order = np.lexsort((cols, rows, -counts))[: int(k)]
    return [
        (class_name(class_names, int(rows[i])), class_name(class_names, int(cols[i])),
         int(counts[i]) if float(counts[i]).is_integer() else float(counts[i]))
        for i in order
    ]


def plot_confusion_matrix(
    y_true: Any,
    y_pred: Any,
    *,
    class_names: Sequence[str] | None = None,
    ax: Axes | None = None,
    normalize: bool | str = False,
) -> Axes:
    """Draw the confusion matrix with every cell annotated.

    Parameters
    ----------
    y_true, y_pred : array (n,)
        True and predicted labels (or predicted probabilities (n, k)).
    class_names : sequence of str, optional
        Tick labels.
    ax : Axes, optional
        Where to draw; new axes when None.
    normalize : bool or {"true", "pred"}
        False: counts. True or "true": each row divided by its total (the
        fraction of class i predicted as j; the diagonal is per-class recall).
        "pred": each column divided by its total (per-class precision).

    Returns
    -------
    Axes
        The axes drawn on, with a colourbar; the title gives the accuracy.
    """
    func = "plot_confusion_matrix"
    n_classes = None if class_names is None else len(class_names)
    cm = confusion_matrix(y_true, y_pred, n_classes)
    k = cm.shape[0]
    if normalize not in (False, True, "true", "pred"):
        raise ValueError(f"{func}: normalize must be False, True, 'true' or 'pred', got {normalize!r}.")
    values = cm.astype(float)
    if normalize in (True, "true"):
        values = values / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    elif normalize == "pred":
        values = values / np.maximum(cm.sum(axis=0, keepdims=True), 1)
    ax = get_ax(ax, figsize=(max(4.5, 0.62 * k + 2.5), max(4.0, 0.55 * k + 1.8)))
    vmax = 1.0 if normalize else max(float(values.max()), 1.0)
    im = ax.imshow(values, cmap="Blues", vmin=0, vmax=vmax)
    fontsize = 9 if k <= 10 else 7 if k <= 20 else 5
    for i in range(k):
        for j in range(k):
            v = values[i, j]
            text = f"{v:.2f}" if normalize else f"{cm[i, j]:d}"
            color = "white" if v > 0.55 * vmax else "black"
            if cm[i, j] == 0:
                text, color = "0", "#A0A0A0"  # zeros in grey: the eye goes to the errors
            ax.text(j, i, text, ha="center", va="center", fontsize=fontsize, color=color)
    names = [class_name(class_names, i) for i in range(k)]
    ax.set_xticks(range(k), names, rotation=45 if class_names is not None else 0,
                  ha="right" if class_names is not None else "center")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    acc = np.trace(cm) / max(cm.sum(), 1)
    kind = {True: " (rows normalised)", "true": " (rows normalised)",
            "pred": " (columns normalised)"}.get(normalize, "")
    ax.set_title(f"confusion matrix{kind}, accuracy {acc:.3f}")
    cbar = ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    cbar.set_label("fraction" if normalize else "count")
    ax.cm_ = cm  # the counts drawn, for inspection
    return ax


def plot_class_balance(
    y: Any, *, class_names: Sequence[str] | None = None, ax: Axes | None = None
) -> Axes:
    """Bar chart of the number of examples per class, annotated with counts.

    Parameters
    ----------
    y : array (n,)
        Class labels (or one-hot rows).
    class_names : sequence of str, optional
        Tick labels; classes without examples are shown with a zero bar.
    ax : Axes, optional
        Where to draw; new axes when None.

    Returns
    -------
    Axes
        The axes drawn on.
    """
    func = "plot_class_balance"
    labels = as_class_labels(y, "y", func)
    if labels.size == 0:
        raise ValueError(f"{func}: y is empty.")
    k = len(class_names) if class_names is not None else int(labels.max()) + 1
    if labels.max() >= k:
        raise ValueError(
            f"{func}: y contains class {labels.max()} but class_names has only {k} names."
        )
    counts = np.bincount(labels, minlength=k)
    ax = get_ax(ax, figsize=(max(5.0, 0.7 * k + 1.5), 4.0))
    names = [class_name(class_names, i) for i in range(k)]
    bars = ax.bar(range(k), counts, color=OKABE_ITO[0], edgecolor="black", linewidth=0.6,
                  label="examples")
    ax.bar_label(bars, labels=[f"{c}" for c in counts], fontsize="small", padding=2)
    mean = counts.mean()
    ax.axhline(mean, color=NEUTRAL, linestyle="--", linewidth=1.2,
               label=f"mean ({mean:.4g} per class)")
    ax.set_xticks(range(k), names, rotation=45 if class_names is not None else 0,
                  ha="right" if class_names is not None else "center")
    ax.set_xlabel("class")
    ax.set_ylabel("number of examples")
    ratio = counts.max() / max(counts.min(), 1)
    ax.set_title(f"class balance: {labels.size} examples, max/min = {ratio:.2f}")
    ax.set_ylim(0, counts.max() * 1.15 + 1)
    light_grid(ax)
    ax.grid(False, axis="x")
    ax.legend(loc="lower right", fontsize="small", framealpha=0.9)
    return ax


__all__ = [
    "confusion_matrix",
    "most_confused_pairs",
    "plot_class_balance",
    "plot_confusion_matrix",
    "plot_image_grid",
]
