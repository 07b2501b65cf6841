"""Tests of coursekit.throughput: epoch timing, throughput arithmetic, benchmark rows, table."""

from __future__ import annotations

import numpy as np
import pytest

from coursekit.throughput import BenchResult, TrainingSpeed, format_table


def test_steady_state_leaves_out_the_first_epoch():
    speed = TrainingSpeed([5.0, 1.0, 2.0, 3.0], images_per_epoch=600)
    assert speed.first_epoch_seconds == 5.0
    assert speed.seconds_per_epoch == 2.0
    assert speed.images_per_second == 300.0


def test_single_epoch_is_its_own_steady_state():
    speed = TrainingSpeed([4.0], images_per_epoch=100)
    assert speed.seconds_per_epoch == 4.0 and speed.images_per_second == 25.0


def test_speed_without_epochs_is_an_error():
    with pytest.raises(ValueError, match="no epoch was timed"):
        TrainingSpeed([], images_per_epoch=10)


def _row(**kw) -> BenchResult:
    base = dict(device="cpu", model="baseline_mlp", batch_size=128, images_per_second=12345.6,
                seconds_per_epoch=4.86, first_epoch_seconds=6.1, test_accuracy=0.8731,
                epochs=3, params=101_770)
    base.update(kw)
    return BenchResult(**base)


def test_table_has_header_rule_and_aligned_rows():
    lines = format_table([_row(), _row(device="gpu", model="small_cnn", batch_size=1024,
                                      images_per_second=987654.0)]).splitlines()
    assert lines[0].split() == ["device", "model", "batch", "images/s", "s/epoch", "1st",
                                "epoch", "s", "test", "acc"]
    assert set(lines[1]) == {"-", " "}
    assert lines[2].split() == ["cpu", "baseline_mlp", "128", "12,346", "4.860", "6.100", "0.8731"]
    assert lines[3].split()[:4] == ["gpu", "small_cnn", "1024", "987,654"]
    # right-aligned numbers end in the same column
    assert lines[2].index("12,346") + len("12,346") == lines[3].index("987,654") + len("987,654")


def test_epoch_timer_records_one_time_per_epoch():
    keras = pytest.importorskip("keras")
    from coursekit.throughput import epoch_timer

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    timer = epoch_timer()
    model.fit(np.zeros((8, 3)), np.zeros(8), epochs=3, verbose=0, callbacks=[timer])
    assert len(timer.epoch_seconds) == 3 and all(t > 0 for t in timer.epoch_seconds)
    assert timer.speed(8).images_per_epoch == 8


def test_benchmark_fit_returns_a_complete_row():
    pytest.importorskip("tensorflow")
    from coursekit.keras_models import baseline_mlp
    from coursekit.throughput import benchmark_fit

    rng = np.random.default_rng(0)
    train = (rng.integers(0, 256, (256, 28, 28), dtype=np.uint8), rng.integers(0, 10, 256))
    test = (rng.integers(0, 256, (64, 28, 28), dtype=np.uint8), rng.integers(0, 10, 64))
    row = benchmark_fit(baseline_mlp, train, test, batch_size=64, epochs=2, device="cpu")
    assert (row.device, row.model, row.batch_size, row.epochs) == ("cpu", "baseline_mlp", 64, 2)
    assert row.params == 101_770
    assert row.images_per_second > 0 and row.seconds_per_epoch > 0
    assert row.test_accuracy in {k / 64 for k in range(65)}


def test_benchmark_fit_refuses_mixed_precision_on_cpu():
    pytest.importorskip("tensorflow")
    from coursekit.keras_models import baseline_mlp
    from coursekit.throughput import benchmark_fit

    data = (np.zeros((4, 28, 28), np.uint8), np.zeros(4, int))
    with pytest.raises(ValueError, match="mixed_precision=True needs device='gpu'"):
        benchmark_fit(baseline_mlp, data, data, batch_size=2, epochs=1, mixed_precision=True)


def test_forward_flops_count_dense_and_conv_products():
    pytest.importorskip("keras")
    from coursekit.keras_models import baseline_mlp, small_cnn
    from coursekit.throughput import forward_flops

    assert forward_flops(baseline_mlp()) == 2 * (784 * 128 + 128 * 10)
    conv1 = 2 * 9 * 1 * 32 * 26 * 26
    conv2 = 2 * 9 * 32 * 64 * 11 * 11
    assert forward_flops(small_cnn()) == conv1 + conv2 + 2 * 1600 * 10


def test_training_flops_spare_the_first_layers_input_gradient():
    pytest.importorskip("tensorflow")
    from coursekit.keras_models import baseline_mlp, small_cnn
    from coursekit.throughput import forward_flops, training_flops

    mlp, cnn = baseline_mlp(), small_cnn()
    first_dense = 2 * 784 * 128
    assert training_flops(mlp) == 3 * forward_flops(mlp) - first_dense == 409_088  # about 2x
    assert 2.0 < training_flops(mlp) / forward_flops(mlp) < 2.1
    first_conv = 2 * 9 * 1 * 32 * 26 * 26
    assert training_flops(cnn) == 3 * forward_flops(cnn) - first_conv == 14_256_384  # about 3x
    assert 2.9 < training_flops(cnn) / forward_flops(cnn) < 3.0
    with pytest.raises(TypeError, match="Keras model"):
        training_flops(object())
