"""Training speed against batch size, one line per device and model (notebook 14, the benchmark).

Imported by its module path, ``from coursekit.plot.throughput import plot_throughput``; the rows
come from :func:`coursekit.throughput.benchmark_fit`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, NullFormatter

from coursekit.plot._style import MARKERS, OKABE_ITO, get_ax, light_grid

__all__ = ["plot_throughput"]

_LABELS = {
    "images_per_second": "training speed (images per second)",
    "seconds_per_epoch": "seconds per epoch",
}
# Line styles by device, so CPU and GPU differ without colour too.
_DEVICE_STYLE = {"cpu": "--", "gpu": "-"}


def _field(row: Any, name: str, func: str) -> Any:
    if isinstance(row, Mapping):
        if name not in row:
            raise ValueError(f"{func}: a result row has no '{name}' entry: {dict(row)!r}")
        return row[name]
    if not hasattr(row, name):
        raise ValueError(
            f"{func}: results must be BenchResult objects or dicts with '{name}'; "
            f"got {type(row).__name__}"
        )
    return getattr(row, name)


def plot_throughput(
    results: Sequence[Any],
    *,
    ax: Axes | None = None,
    metric: str = "images_per_second",
    title: str | None = None,
) -> Axes:
    """Plot a training-speed metric against the batch size, one line per (device, model).

    Parameters
    ----------
    results : sequence of ``coursekit.throughput.BenchResult`` (or dicts with the keys
        ``device``, ``model``, ``batch_size`` and ``metric``).
    ax : Axes to draw on; new axes when None.
    metric : ``"images_per_second"`` (default) or ``"seconds_per_epoch"``.
    title : axes title (default: a description of the metric).

    Returns
    -------
    Axes
        Log-log axes: batch sizes on x (base 2), the metric on y; GPU lines solid,
        CPU lines dashed, each (device, model) with its own colour and marker.
    """
    func = "plot_throughput"
    if metric not in _LABELS:
        raise ValueError(f"{func}: metric must be one of {sorted(_LABELS)}, got {metric!r}")
    if len(results) == 0:
        raise ValueError(f"{func}: results is empty; run coursekit.throughput.benchmark_fit first")
    groups: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for row in results:
        key = (str(_field(row, "device", func)), str(_field(row, "model", func)))
        value = float(_field(row, metric, func))
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"{func}: {metric} must be positive, got {value} for {key}")
        groups.setdefault(key, []).append((int(_field(row, "batch_size", func)), value))

    ax = get_ax(ax, figsize=(7.0, 4.5))
    for i, ((device, model), points) in enumerate(groups.items()):
        points.sort()
        b, v = zip(*points, strict=True)
        ax.plot(b, v, linestyle=_DEVICE_STYLE.get(device.lower(), "-."),
                color=OKABE_ITO[i % len(OKABE_ITO)], marker=MARKERS[i % len(MARKERS)],
                linewidth=2.0, markersize=6, label=f"{device.upper()}: {model}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    batches = sorted({b for pts in groups.values() for b, _ in pts})
    ax.set_xticks(batches)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("batch size")
    ax.set_ylabel(_LABELS[metric])
    ax.set_title(title or f"{_LABELS[metric]} against batch size")
    light_grid(ax)
    ax.legend(loc="best", fontsize="small")
    return ax
