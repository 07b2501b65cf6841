"""Training-speed benchmark on Fashion-MNIST: baseline MLP and small CNN, CPU and GPU.

Trains each model for a fixed number of epochs on each device and batch size
and prints one table row per run: device, model, batch size, images per
second, seconds per epoch (median of the epochs after the first), the first
epoch (which includes tracing / XLA compilation) and test accuracy.

Examples (from the repository root)::

    python bench/fashion_mnist.py                                  # real data, CPU (+ GPU)
    python bench/fashion_mnist.py --data synthetic --batch-sizes 128 1024 --epochs 3
    python bench/fashion_mnist.py --device gpu --mixed-precision --jit

``--data auto`` loads Fashion-MNIST with ``coursekit.data.load_fashion_mnist``
(the folder in ``COURSEKIT_FASHION_MNIST_DIR`` if set, else the cache or a
download). ``--data synthetic`` generates random images of the full size
(60,000 train + 10,000 test, 28 x 28 uint8) so the timing is meaningful
without a download; its test accuracy is chance (about 0.10) by construction.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

MODELS = ("mlp", "cnn")


def synthetic_fashion_mnist(
    n_train: int = 60_000, n_test: int = 10_000, seed: int = 0
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Random uint8 images (n, 28, 28) and labels 0..9 with Fashion-MNIST's shapes and dtypes."""
    rng = np.random.default_rng(seed)
    x_train = rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8)
    x_test = rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8)
    y_train = rng.integers(0, 10, size=n_train).astype(np.uint8)
    y_test = rng.integers(0, 10, size=n_test).astype(np.uint8)
    return (x_train, y_train), (x_test, y_test)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 1024], metavar="B",
                   help="mini-batch sizes to time (default: 128 1024)")
    p.add_argument("--epochs", type=int, default=3,
                   help="epochs per run; the first is reported separately (default: 3)")
    p.add_argument("--data", choices=("auto", "synthetic"), default="auto",
                   help="real Fashion-MNIST via coursekit.data, or full-size random data")
    p.add_argument("--synthetic-size", type=int, nargs=2, default=[60_000, 10_000],
                   metavar=("TRAIN", "TEST"), help="size of the synthetic data (default: 60000 10000)")
    p.add_argument("--device", choices=("cpu", "gpu", "all"), default="all",
                   help="where to train; 'all' = CPU plus the GPU when there is one (default)")
    p.add_argument("--models", choices=MODELS, nargs="+", default=list(MODELS),
                   help="models to time: mlp = Flatten-Dense128-Dense10, cnn = 2-conv net")
    p.add_argument("--steps-per-execution", type=int, default=1,
                   help="Keras steps_per_execution (larger cuts per-step overhead; default 1)")
    p.add_argument("--jit", action="store_true", help="XLA-compile the training step on the GPU")
    p.add_argument("--mixed-precision", action="store_true",
                   help="mixed_float16 on the GPU (ignored on the CPU)")
    p.add_argument("--json", type=Path, default=None, help="also write the rows to this JSON file")
    args = p.parse_args(argv)
    if args.epochs < 1:
        p.error("--epochs must be >= 1")
    if any(b < 1 for b in args.batch_sizes):
        p.error("--batch-sizes must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # no retracing notices between runs of different models
    from coursekit.keras_models import baseline_mlp, small_cnn
    from coursekit.throughput import available_devices, benchmark_fit, format_table

    have = available_devices()
    if args.device == "all":
        devices = have
    elif args.device in have:
        devices = [args.device]
    else:
        print("bench: --device gpu asked for, but TensorFlow sees no GPU", file=sys.stderr)
        return 2

    if args.data == "synthetic":
        train, test = synthetic_fashion_mnist(*args.synthetic_size)
        data_note = f"synthetic random images ({len(train[0]):,} train, {len(test[0]):,} test; accuracy is chance)"
    else:
        from coursekit.data import DataNotFoundError, load_fashion_mnist

        try:
            ds = load_fashion_mnist()
        except DataNotFoundError as exc:
            print(f"bench: {exc}\nOr time on full-size random images: --data synthetic",
                  file=sys.stderr)
            return 2
        train, test = ds
        kind = "SAMPLE" if getattr(ds, "is_sample", False) else "full"
        data_note = f"Fashion-MNIST {kind} ({len(train[0]):,} train, {len(test[0]):,} test)"

    gpus = tf.config.list_physical_devices("GPU")
    gpu_name = ""
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        gpu_name = details.get("device_name", gpus[0].name)
    print(f"data: {data_note}")
    print(f"TensorFlow {tf.__version__}, Python {platform.python_version()}, "
          f"CPU threads {os.cpu_count()}, GPU: {gpu_name or 'none'}")
    print(f"epochs {args.epochs}, steps_per_execution {args.steps_per_execution}; "
          f"GPU options: jit={args.jit}, mixed_precision={args.mixed_precision}")
    if args.device == "all" and not gpus:
        print("no GPU found: CPU only")
    sys.stdout.flush()

    builders = {"mlp": ("baseline_mlp", baseline_mlp), "cnn": ("small_cnn", small_cnn)}
    results = []
    for device in devices:
        for key in args.models:
            name, build = builders[key]
            for batch in args.batch_sizes:
                results.append(benchmark_fit(
                    build, train, test, batch_size=batch, epochs=args.epochs, device=device,
                    model_name=name, steps_per_execution=args.steps_per_execution,
                    jit_compile=args.jit and device == "gpu",
                    mixed_precision=args.mixed_precision and device == "gpu",
                ))
                print(f"  done: {device} {name} batch {batch}", file=sys.stderr, flush=True)
    print()
    print(format_table(results))
    if args.json:
        args.json.write_text(json.dumps([r.as_dict() for r in results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
