"""Measure how fast a Keras model trains: seconds per epoch and images per second.

Used by the Fashion-MNIST lecture (13), the GPU-vs-CPU notebook (14) and
``bench/fashion_mnist.py``:

- :func:`epoch_timer` is a Keras callback that records the wall time of every epoch.
- :class:`TrainingSpeed` turns those times into seconds per epoch and images per second.
  The first epoch also traces (and with XLA compiles) the training step, so it
  is reported separately and left out of the steady-state figures.
- :func:`benchmark_fit` trains one model on one device and returns a
  :class:`BenchResult` (device, model, batch size, images/s, s/epoch, test accuracy).
- :func:`format_table` prints a list of results as an aligned text table.

TensorFlow is imported inside the functions; importing this module is cheap.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "BenchResult",
    "TrainingSpeed",
    "available_devices",
    "benchmark_fit",
    "epoch_timer",
    "format_table",
    "forward_flops",
    "training_flops",
]


@dataclass
class TrainingSpeed:
    """Wall-clock times of the epochs of one training run.

    Attributes
    ----------
    epoch_seconds : duration of every epoch, in order.
    images_per_epoch : training examples seen per epoch.
    """

    epoch_seconds: list[float]
    images_per_epoch: int

    def __post_init__(self) -> None:
        if not self.epoch_seconds:
            raise ValueError("TrainingSpeed: no epoch was timed (epoch_seconds is empty)")
        if self.images_per_epoch < 1:
            raise ValueError(
                f"TrainingSpeed: images_per_epoch must be positive, got {self.images_per_epoch}"
            )

    @property
    def first_epoch_seconds(self) -> float:
        """Duration of the first epoch (includes tracing / XLA compilation)."""
        return self.epoch_seconds[0]

    @property
    def seconds_per_epoch(self) -> float:
        """Median epoch time after the first one (the first one if there is only one)."""
        steady = self.epoch_seconds[1:] or self.epoch_seconds
        return float(statistics.median(steady))

    @property
    def images_per_second(self) -> float:
        """Training throughput in the steady state: images per epoch / seconds per epoch."""
        return self.images_per_epoch / self.seconds_per_epoch

    def __str__(self) -> str:
        return (
            f"{self.images_per_second:,.0f} images/s, {self.seconds_per_epoch:.2f} s/epoch "
            f"(first epoch {self.first_epoch_seconds:.2f} s, includes tracing)"
        )


_TIMER_CLASS: type | None = None


def epoch_timer() -> Any:
    """Return a Keras callback that records each epoch's wall time.

    The callback has an ``epoch_seconds`` list and a method
    ``speed(images_per_epoch) -> TrainingSpeed``.

    Examples
    --------
    >>> timer = epoch_timer()                                        # doctest: +SKIP
    >>> model.fit(ds, epochs=3, callbacks=[timer], verbose=0)        # doctest: +SKIP
    >>> print(timer.speed(len(x_train)))                             # doctest: +SKIP
    """
    global _TIMER_CLASS
    if _TIMER_CLASS is None:
        import keras

        class EpochTimer(keras.callbacks.Callback):
            """Records ``time.perf_counter()`` differences between epoch begin and end."""

            def __init__(self) -> None:
                super().__init__()
                self.epoch_seconds: list[float] = []
                self._start = 0.0

            def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
                self._start = time.perf_counter()

            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                self.epoch_seconds.append(time.perf_counter() - self._start)

            def speed(self, images_per_epoch: int) -> TrainingSpeed:
                return TrainingSpeed(list(self.epoch_seconds), int(images_per_epoch))

        _TIMER_CLASS = EpochTimer
    return _TIMER_CLASS()


def available_devices() -> list[str]:
    """``["cpu"]``, plus ``"gpu"`` when TensorFlow sees a GPU."""
    import tensorflow as tf

    return ["cpu"] + (["gpu"] if tf.config.list_physical_devices("GPU") else [])


@dataclass
class BenchResult:
    """One row of a training benchmark."""

    device: str
    model: str
    batch_size: int
    images_per_second: float
    seconds_per_epoch: float
    first_epoch_seconds: float
    test_accuracy: float
    epochs: int
    params: int
    options: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """The row as a plain dict (JSON-serializable)."""
        return asdict(self)


def benchmark_fit(
    build_model: Callable[[], Any],
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    *,
    batch_size: int,
    epochs: int,
    device: str = "cpu",
    model_name: str | None = None,
    jit_compile: bool = False,
    mixed_precision: bool = False,
    steps_per_execution: int = 1,
    seed: int = 0,
) -> BenchResult:
    """Train a fresh model from ``build_model()`` on one device and time it.

    Parameters
    ----------
    build_model : zero-argument callable returning an uncompiled Keras classifier
        (e.g. ``coursekit.keras_models.baseline_mlp``).
    train, test : ``(x, y)`` with uint8 images (n, 28, 28) and integer labels (n,).
    batch_size : mini-batch size B.
    epochs : epochs to train (>= 2 gives a steady-state time without tracing).
    device : ``"cpu"`` or ``"gpu"``.
    model_name : name in the result (default: the Keras model's name).
    jit_compile : compile the train step with XLA.
    mixed_precision : train under the ``mixed_float16`` policy (GPU only; the
        global policy is restored afterwards).
    steps_per_execution : training steps per call into TensorFlow.
    seed : seed for weights and shuffling.

    Returns
    -------
    BenchResult
    """
    import keras
    import tensorflow as tf

    from coursekit.keras_models import compile_classifier
    from coursekit.tfdata import image_dataset

    if device not in ("cpu", "gpu"):
        raise ValueError(f"benchmark_fit: device must be 'cpu' or 'gpu', got {device!r}")
    if device == "gpu" and not tf.config.list_physical_devices("GPU"):
        raise RuntimeError("benchmark_fit: device='gpu' but TensorFlow sees no GPU")
    if mixed_precision and device != "gpu":
        raise ValueError("benchmark_fit: mixed_precision=True needs device='gpu' (CPUs gain nothing)")
    if int(epochs) < 1:
        raise ValueError(f"benchmark_fit: epochs must be >= 1, got {epochs!r}")

    x_train, y_train = train
    x_test, y_test = test
    old_policy = keras.mixed_precision.global_policy().name
    try:
        if mixed_precision:
            keras.mixed_precision.set_global_policy("mixed_float16")
        keras.utils.set_random_seed(seed)
        with tf.device("/GPU:0" if device == "gpu" else "/CPU:0"):
            model = build_model()
            compile_classifier(
                model, jit_compile=jit_compile, steps_per_execution=steps_per_execution
            )
            ds_train = image_dataset(x_train, y_train, batch_size=batch_size, shuffle=True,
                                     seed=seed)
            ds_test = image_dataset(x_test, y_test, batch_size=max(batch_size, 256))
            timer = epoch_timer()
            # The dataset shuffles itself; shuffle=False stops Keras warning about it.
            model.fit(ds_train, epochs=int(epochs), callbacks=[timer], shuffle=False, verbose=0)
            _, acc = model.evaluate(ds_test, verbose=0)
    finally:
        keras.mixed_precision.set_global_policy(old_policy)
    speed = timer.speed(len(x_train))
    return BenchResult(
        device=device,
        model=model_name or model.name,
        batch_size=int(batch_size),
        images_per_second=speed.images_per_second,
        seconds_per_epoch=speed.seconds_per_epoch,
        first_epoch_seconds=speed.first_epoch_seconds,
        test_accuracy=float(acc),
        epochs=int(epochs),
        params=int(model.count_params()),
        options={
            "jit_compile": bool(jit_compile),
            "mixed_precision": bool(mixed_precision),
            "steps_per_execution": int(steps_per_execution),
        },
    )


def forward_flops(model: Any) -> int:
    """Floating-point operations of one forward pass of one example through ``model``.

    Counts the matrix products, which dominate: a Dense layer n_in -> n_out costs
    ``2 * n_in * n_out`` (a multiply and an add per weight), a Conv2D layer with a
    k_h x k_w kernel, C_in -> C_out channels and an output of H x W costs
    ``2 * k_h * k_w * C_in * C_out * H * W``. Biases, activations, pooling and
    normalization are left out (they are cheap by comparison). For the cost of a
    training step see :func:`training_flops`.

    Parameters
    ----------
    model : a built Keras model (e.g. from :mod:`coursekit.keras_models`).
    """
    return sum(_layer_flops(model))


def _layer_flops(model: Any) -> list[int]:
    """Forward FLOPs per example of each Dense / Conv2D layer of ``model``, in layer order."""
    import keras

    if not hasattr(model, "layers"):
        raise TypeError(f"expected a built Keras model with .layers, got {type(model).__name__}")
    flops = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            n_in = int(layer.kernel.shape[0])
            flops.append(2 * n_in * int(layer.units))
        elif isinstance(layer, keras.layers.Conv2D):
            kh, kw, c_in, c_out = (int(d) for d in layer.kernel.shape)
            _, h, w, _ = layer.output.shape
            flops.append(2 * kh * kw * c_in * c_out * int(h) * int(w))
    return flops


def training_flops(model: Any) -> int:
    """Floating-point operations of one training step per example (forward + backward).

    Per layer with weights, the forward product costs F; the backward pass computes
    the gradient with respect to the weights (another F) and with respect to the
    layer's input (another F), except for the first such layer of a ``Sequential``
    model, whose input is the data and needs no gradient. So the total is
    ``3 * forward_flops(model) - F_first``: about 2x the forward pass when the first
    layer dominates (the baseline MLP: 409,088 of 3 x 203,264), about 3x when it is a
    small part (the small CNN: 14,256,384, 2.92x). Optimizer updates, activations
    and pooling are left out.

    Parameters
    ----------
    model : a built Keras ``Sequential`` model (e.g. from :mod:`coursekit.keras_models`).
    """
    flops = _layer_flops(model)
    if not flops:
        return 0
    return 3 * sum(flops) - flops[0]


_COLUMNS = (
    ("device", "device", "{}"),
    ("model", "model", "{}"),
    ("batch", "batch_size", "{:d}"),
    ("images/s", "images_per_second", "{:,.0f}"),
    ("s/epoch", "seconds_per_epoch", "{:.3f}"),
    ("1st epoch s", "first_epoch_seconds", "{:.3f}"),
    ("test acc", "test_accuracy", "{:.4f}"),
)


def format_table(results: Sequence[BenchResult]) -> str:
    """Format benchmark rows as an aligned plain-text table (header, rule, one line per row)."""
    header = [name for name, _, _ in _COLUMNS]
    rows = [[fmt.format(getattr(r, attr)) for _, attr, fmt in _COLUMNS] for r in results]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    numeric = {2, 3, 4, 5, 6}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [line(header), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in rows]
    return "\n".join(out)
