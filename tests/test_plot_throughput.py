"""Tests of coursekit.plot.throughput.plot_throughput."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from coursekit.plot.throughput import plot_throughput  # noqa: E402
from coursekit.throughput import BenchResult  # noqa: E402


def _row(device: str, model: str, batch: int, ips: float) -> BenchResult:
    return BenchResult(device=device, model=model, batch_size=batch, images_per_second=ips,
                       seconds_per_epoch=60_000 / ips, first_epoch_seconds=1.0,
                       test_accuracy=0.1, epochs=2, params=10)


ROWS = [_row("cpu", "mlp", 512, 50_000.0), _row("cpu", "mlp", 32, 12_000.0),
        _row("gpu", "mlp", 32, 20_000.0), _row("gpu", "mlp", 512, 300_000.0)]


def test_one_line_per_device_and_model_sorted_by_batch_size():
    ax = plot_throughput(ROWS)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["CPU: mlp", "GPU: mlp"]
    assert list(lines[0].get_xdata()) == [32, 512]
    assert list(lines[0].get_ydata()) == [12_000.0, 50_000.0]
    assert lines[0].get_linestyle() == "--" and lines[1].get_linestyle() == "-"
    assert lines[0].get_color() != lines[1].get_color()
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_xlabel() == "batch size" and "images per second" in ax.get_ylabel()
    plt.close("all")


def test_seconds_per_epoch_metric_and_dict_rows():
    rows = [r.as_dict() for r in ROWS[:2]]
    ax = plot_throughput(rows, metric="seconds_per_epoch")
    assert list(ax.get_lines()[0].get_ydata()) == [5.0, 1.2]
    assert ax.get_ylabel() == "seconds per epoch"
    plt.close("all")


def test_draws_on_the_given_axes():
    fig, ax = plt.subplots()
    assert plot_throughput(ROWS, ax=ax, title="speed") is ax
    assert ax.get_title() == "speed"
    plt.close(fig)


def test_unknown_metric_is_named():
    with pytest.raises(ValueError, match="metric must be one of .* got 'accuracy'"):
        plot_throughput(ROWS, metric="accuracy")


def test_empty_results_explain_what_to_run():
    with pytest.raises(ValueError, match="results is empty; run coursekit.throughput.benchmark_fit"):
        plot_throughput([])


def test_row_without_the_metric_is_named():
    with pytest.raises(ValueError, match="no 'images_per_second' entry"):
        plot_throughput([{"device": "cpu", "model": "m", "batch_size": 32}])
