"""Training curves from a Keras History or a dict of lists."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from coursekit.plot._style import NEUTRAL, OKABE_ITO, light_grid, new_figure

TRAIN_STYLE: dict[str, Any] = {"color": OKABE_ITO[0], "marker": "o", "linestyle": "-"}
VAL_STYLE: dict[str, Any] = {"color": OKABE_ITO[1], "marker": "s", "linestyle": "--"}
_SKIP = {"lr", "learning_rate"}


def _history_dict(history: Any, func: str) -> dict[str, np.ndarray]:
    raw = getattr(history, "history", history)
    if not isinstance(raw, Mapping):
        raise ValueError(
            f"{func}: history must be a Keras History (model.fit's return value) or a dict "
            f"metric name -> list of per-epoch values; got {type(history).__name__}."
        )
    if not raw:
        raise ValueError(f"{func}: history is empty; train for at least one epoch first.")
    out: dict[str, np.ndarray] = {}
    for key, values in raw.items():
        arr = np.asarray([float(v) for v in np.ravel(np.asarray(values, dtype=object))])
        if arr.size == 0:
            raise ValueError(f"{func}: history[{key!r}] has no values.")
        out[str(key)] = arr
    return out


def metric_groups(keys: Sequence[str], metrics: Sequence[str] | None) -> list[str]:
    """Base metric names (without ``val_``) in first-seen order."""
    if metrics is not None:
        return [m[4:] if m.startswith("val_") else m for m in metrics]
    groups: list[str] = []
    for key in keys:
        base = key[4:] if key.startswith("val_") else key
        if base not in groups and base not in _SKIP:
            groups.append(base)
    if "loss" in groups:  # Keras 3 logs metrics alphabetically; the loss goes first
        groups.remove("loss")
        groups.insert(0, "loss")
    return groups


def pretty(name: str) -> str:
    return name.replace("_", " ")


def integer_ticks(ax: Axes, steps: Sequence[Sequence[float]]) -> None:
    """Whole-number x ticks when every step is a whole number (no "epoch 1.5"), even after one epoch.

    (``MaxNLocator(integer=True)`` alone falls back to ticks like 0.96, 0.98, ... while
    the view holds fewer than two integers, hence ``min_n_ticks=1``.)
    """
    xs = [np.asarray(s, dtype=float) for s in steps if len(s)]
    if xs and all(np.all(v == np.round(v)) for v in xs):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def draw_metric_panel(
    ax: Axes, name: str, data: Mapping[str, Any], x: Mapping[str, Any], xlabel: str
) -> None:
    """Train (solid, circles) and validation (dashed, squares) series of one metric."""
    n_points = max((len(data[k]) for k in (name, f"val_{name}") if k in data), default=0)
    show_markers = n_points <= 60
    for key, style, label in ((name, TRAIN_STYLE, "train"), (f"val_{name}", VAL_STYLE, "validation")):
        if key in data and len(data[key]):
            kw = dict(style)
            if not show_markers:
                kw.pop("marker")
            ax.plot(x[key], data[key], label=label, linewidth=2.0, markersize=4, **kw)
    integer_ticks(ax, [x[k] for k in (name, f"val_{name}") if k in data and len(data[k])])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(pretty(name))
    ax.set_title(pretty(name))
    light_grid(ax)


def plot_history(
    history: Any,
    *,
    metrics: Sequence[str] | None = None,
    fig: Figure | None = None,
    best: str | None = "val_loss",
    mode: str = "min",
) -> Figure:
    """Plot training curves: one panel per metric, train vs validation.

    Parameters
    ----------
    history : keras.callbacks.History or dict
        ``model.fit(...)``'s return value (its ``.history`` dict is used) or a
        dict metric name -> list of per-epoch values ("loss", "val_loss", ...).
    metrics : sequence of str, optional
        Metrics to show (default every metric in the history except the
        learning rate); "val_" series join their metric's panel.
    fig : Figure, optional
        Figure to draw on (cleared); a new one when None.
    best : str or None
        Series whose best epoch is marked in every panel (a dotted vertical
        line, annotated in the series' panel). Falls back to the training
        series ("loss" for "val_loss") when there is no validation data;
        None marks nothing.
    mode : {"min", "max"}
        Whether the best value of ``best`` is its minimum or its maximum.

    Returns
    -------
    Figure
        The figure; ``fig.best_epoch`` holds the marked epoch (1-based) or None.
    """
    func = "plot_history"
    data = _history_dict(history, func)
    if mode not in ("min", "max"):
        raise ValueError(f"{func}: mode must be 'min' or 'max', got {mode!r}.")
    groups = metric_groups(list(data), metrics)
    missing = [g for g in groups if g not in data and f"val_{g}" not in data]
    if missing:
        raise ValueError(
            f"{func}: metric {missing[0]!r} is not in the history; it has {', '.join(data)}."
        )
    if not groups:
        raise ValueError(f"{func}: no metrics to plot; the history has {', '.join(data)}.")
    lengths = {len(v) for v in data.values()}
    x = {k: np.arange(1, len(v) + 1) for k, v in data.items()}

    best_key = None
    if best is not None:
        if best in data:
            best_key = best
        elif best.startswith("val_") and best[4:] in data:
            best_key = best[4:]  # no validation data: mark the best training epoch
        elif best != "val_loss":  # the default may be absent (e.g. a history without loss)
            raise ValueError(
                f"{func}: best={best!r} is not in the history; it has {', '.join(data)}. "
                "Pass best=None to mark no epoch."
            )

    n = len(groups)
    fig = new_figure(fig, (min(5.0 * n, 16.0), 4.0))
    axes = np.atleast_1d(fig.subplots(1, n, squeeze=False)[0])
    best_epoch = None
    best_value = None
    if best_key is not None:
        values = data[best_key]
        idx = int(np.nanargmin(values) if mode == "min" else np.nanargmax(values))
        best_epoch, best_value = idx + 1, float(values[idx])
    for ax, name in zip(axes, groups, strict=True):
        draw_metric_panel(ax, name, data, x, "epoch")
        if best_epoch is not None:
            ax.axvline(best_epoch, color=NEUTRAL, linestyle=":", linewidth=1.5,
                       label=f"best epoch ({best_epoch})")
            base = best_key[4:] if best_key.startswith("val_") else best_key
            if name == base:
                ax.annotate(
                    f"best: epoch {best_epoch}\n{pretty(best_key)} = {best_value:.4g}",
                    xy=(best_epoch, best_value), xytext=(0.5, 0.92), textcoords="axes fraction",
                    ha="center", va="top", fontsize="small",
                    bbox={"boxstyle": "round", "fc": "white", "ec": NEUTRAL, "alpha": 0.9},
                    arrowprops={"arrowstyle": "->", "color": NEUTRAL},
                )
                ax.plot([best_epoch], [best_value], marker="*", markersize=14, color=NEUTRAL,
                        linestyle="", zorder=5)
        if max(lengths) <= 12:
            ax.set_xticks(np.arange(1, max(lengths) + 1))
        ax.legend(loc="best", fontsize="small")
    fig.best_epoch = best_epoch
    return fig


__all__ = ["plot_history"]
