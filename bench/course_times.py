"""What students wait for: the notebook sequence timed in quick and full mode on full-size data.

Steps (``make bench`` runs all of them)::

    python bench/course_times.py                      # whole sequence, quick + full, + Keras overhead
    python bench/course_times.py --only 12 13 14      # some notebooks
    python bench/course_times.py --only 12 13 14 --modes full --jobs 1 2   # serial vs 2 at once
    python bench/course_times.py --skip-course        # only the Keras per-step overhead table

1. A **full-size stand-in** for MNIST and Fashion-MNIST: the offline samples
   (``../shared/data``) tiled and jittered (each copy shifted by up to 1 pixel) to
   60,000 training and 10,000 test images, written as IDX files into
   ``build/stand-in/`` with a ``STAND-IN`` marker file. The loaders announce it and
   load it with ``is_sample=True`` (source "stand-in ..."), so no notebook makes a
   full-data accuracy claim from it: it is for timing only.
2. The sequence executed by :mod:`coursekit.runner` in each mode on the stand-in;
   one table: seconds per notebook, the full/quick ratio, and the share of each
   notebook's full-mode time spent in its slowest cells.
3. Keras's per-step overhead on this CPU: images/s of the 784-256-128-10 MLP at
   batch 32, 128 and 512, with ``steps_per_execution`` 1 and 32.

Timings depend on the machine and its load: quote them with the CPU line printed.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

SAMPLES = ROOT.parent / "shared" / "data"
STAND_INS = {  # data set -> (sample folder, environment variable)
    "mnist": ("mnist-sample", "COURSEKIT_MNIST_DIR"),
    "fashion-mnist": ("fashion-mnist-sample", "COURSEKIT_FASHION_MNIST_DIR"),
}
IDX_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def jitter_tile(images: np.ndarray, labels: np.ndarray, n: int, *, seed: int = 0,
                max_shift: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Repeat ``images`` (m, 28, 28) to ``n`` images, each copy shifted by up to ``max_shift`` pixels.

    The first m images are the originals; the others are shifted copies (zero fill),
    in a random order. Returns uint8 images (n, 28, 28) and their labels (n,).
    """
    images = np.asarray(images)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"jitter_tile: images must be uint8 of shape (m, 28, 28), got {images.dtype} {images.shape}")
    if len(labels) != len(images) or n < len(images):
        raise ValueError(f"jitter_tile: need len(labels) == len(images) <= n, got {len(labels)}, "
                         f"{len(images)}, {n}")
    rng = np.random.default_rng(seed)
    idx = np.concatenate([np.arange(len(images)), rng.integers(0, len(images), n - len(images))])
    k = 2 * max_shift + 1
    shifts = np.concatenate([np.full(len(images), k * max_shift + max_shift),  # (0, 0) for originals
                             rng.integers(0, k * k, n - len(images))])
    h, w = images.shape[1:]
    padded = np.pad(images, ((0, 0), (max_shift, max_shift), (max_shift, max_shift)))
    out = np.empty((n, h, w), dtype=np.uint8)
    for s in range(k * k):
        rows = np.flatnonzero(shifts == s)
        dy, dx = divmod(s, k)
        out[rows] = padded[idx[rows], dy:dy + h, dx:dx + w]
    order = np.concatenate([np.arange(len(images)), len(images) + rng.permutation(n - len(images))])
    return out[order], np.asarray(labels, dtype=np.uint8)[idx][order]


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an uncompressed IDX file (magic 0x08, big-endian dimensions)."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())
    os.replace(tmp, path)


def make_stand_in(key: str, out_root: Path, *, sizes: tuple[int, int] = (60_000, 10_000),
                  samples: Path = SAMPLES, seed: int = 0) -> Path:
    """Build (once) the full-size stand-in of data set ``key`` under ``out_root``; return its folder."""
    from coursekit.data import STAND_IN_MARKER, read_idx

    sample_name, _ = STAND_INS[key]
    src = samples / sample_name
    folder = out_root / f"{key}-stand-in"
    marker = folder / STAND_IN_MARKER
    stamp = f"stand-in of {src}: {sizes[0]} train / {sizes[1]} test, seed {seed}, shifts <= 1 px\n"
    if marker.is_file() and marker.read_text() == stamp:
        return folder
    if not src.is_dir():
        raise FileNotFoundError(f"course_times: the sample {src} is missing (needed for the stand-in)")
    folder.mkdir(parents=True, exist_ok=True)
    for (split, (img_name, lab_name)), n in zip(IDX_NAMES.items(), sizes, strict=True):
        x = read_idx(src / f"{img_name}.gz")
        y = read_idx(src / f"{lab_name}.gz")
        x, y = jitter_tile(x, y, n, seed=seed + (split == "test"))
        write_idx(folder / img_name, x)
        write_idx(folder / lab_name, y)
    marker.write_text(stamp)  # last: a half-written folder is rebuilt next time
    return folder


def slowest_cells(cells: list[tuple[str, float]], total: float, k: int = 3) -> str:
    """'id 45%, id 20%, ...': the k slowest cells and their share of ``total`` seconds."""
    top = sorted(cells, key=lambda c: -c[1])[:k]
    return ", ".join(f"{cid} {sec / max(total, 1e-9):.0%}" for cid, sec in top)


def course_table(results: dict[str, dict[str, object]], modes: list[str]) -> str:
    """Markdown table: notebook, seconds per mode, full/quick, slowest cells of the full run."""
    head = ["notebook", *(f"{m}: wall s (kernel cpu s)" for m in modes)]
    if "full" in modes and "quick" in modes:
        head.append("full/quick")
    head.append("slowest cells (share of the notebook's time)")
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(["---"] + ["---:"] * (len(head) - 2) + ["---"]) + " |"]
    names = sorted({name for m in modes for name in results.get(m, {})})
    for name in names:
        row = [name]
        for m in modes:
            r = results.get(m, {}).get(name)
            row.append("-" if r is None else f"{r.seconds:.1f} ({r.cpu_seconds:.0f} cpu)"
                       + {"ok": "", "ERRORS": " (an assert failed on the stand-in)"}.get(r.status, " FAILED"))
        if "full/quick" in head:
            f, q = results["full"].get(name), results["quick"].get(name)
            row.append(f"{f.seconds / q.seconds:.1f}x" if f and q and q.seconds > 0 else "-")
        ref = results.get(modes[0], {}).get(name)
        row.append(slowest_cells(ref.cells, ref.seconds) + f" ({modes[0]})" if ref else "-")
        lines.append("| " + " | ".join(row) + " |")
    for m in modes:
        total = sum(r.seconds for r in results.get(m, {}).values())
        lines.append(f"\n{m} mode: {total:.0f} s in all")
    return "\n".join(lines)


def keras_overhead(batches=(32, 128, 512), spe=(1, 32), n_images: int = 16_384, epochs: int = 3):
    """Images/s of the 784-256-128-10 MLP (Adam) per batch size and steps_per_execution."""
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    from coursekit.keras_models import mlp
    from coursekit.throughput import benchmark_fit

    rng = np.random.default_rng(0)
    train = (rng.integers(0, 256, (n_images, 28, 28), dtype=np.uint8), rng.integers(0, 10, n_images))
    test = (train[0][:512], train[1][:512])
    table = {}
    for b in batches:
        for s in spe:
            r = benchmark_fit(lambda: mlp((256, 128)), train, test, batch_size=b, epochs=epochs,
                              steps_per_execution=s)
            table[(b, s)] = r.images_per_second
            print(f"  keras: batch {b}, steps_per_execution {s}: {r.images_per_second:,.0f} images/s",
                  file=sys.stderr, flush=True)
    lines = ["| batch | " + " | ".join(f"images/s, steps_per_execution={s}" for s in spe)
             + (" | gain |" if len(spe) == 2 else " |"),
             "|" + " ---: |" * (len(spe) + 1 + (len(spe) == 2))]
    for b in batches:
        cells = [f"{table[(b, s)]:,.0f}" for s in spe]
        if len(spe) == 2:
            cells.append(f"{table[(b, spe[1])] / table[(b, spe[0])]:.1f}x")
        lines.append(f"| {b} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--notebooks", type=Path, default=ROOT / "notebooks")
    p.add_argument("--only", nargs="*", help="notebooks whose name contains one of these")
    p.add_argument("--modes", nargs="+", choices=("full", "quick"), default=["full", "quick"])
    p.add_argument("--jobs", type=int, nargs="+", default=[1],
                   help="runner --jobs values to time (e.g. 1 2: serial vs two at once)")
    p.add_argument("--out", type=Path, default=ROOT / "build" / "course_times")
    p.add_argument("--stand-in", type=Path, default=ROOT / "build" / "stand-in",
                   help="where the full-size stand-in data are written")
    p.add_argument("--skip-course", action="store_true", help="only the Keras overhead table")
    p.add_argument("--skip-keras", action="store_true", help="no Keras overhead table")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}")
    status = 0
    if not args.skip_course:
        from coursekit import runner

        for key, (_, var) in STAND_INS.items():
            folder = make_stand_in(key, args.stand_in)
            os.environ[var] = str(folder)
            print(f"{var}={folder}  (STAND-IN: tiled + jittered sample, timing only)")
        walls = {}
        for jobs in args.jobs:
            results: dict[str, dict] = {}
            for mode in args.modes:
                print(f"[course_times] {mode} mode, --jobs {jobs}", file=sys.stderr, flush=True)
                start = time.perf_counter()
                rows = runner.run_all(args.notebooks, args.out / f"{mode}-jobs{jobs}", timeout=args.timeout,
                                      quick=mode == "quick", only=args.only, jobs=jobs,
                                      allow_errors=True)  # a stand-in accuracy assert must not cut the timing short
                walls[(jobs, mode)] = time.perf_counter() - start
                results[mode] = {r.name: r for r in rows}
                status |= any(r.status not in ("ok", "ERRORS") for r in rows)
            print(f"\n## Notebook seconds on the full-size STAND-IN, --jobs {jobs}\n")
            print(course_table(results, args.modes))
        print("\n## Wall time of the whole run\n\n| jobs | " + " | ".join(args.modes) + " |")
        print("| ---: |" + " ---: |" * len(args.modes))
        for jobs in args.jobs:
            print(f"| {jobs} | " + " | ".join(f"{walls[(jobs, m)]:.0f} s" for m in args.modes) + " |")
    if not args.skip_keras:
        print("\n## Keras per-step overhead: MLP 784-256-128-10, Adam, random 28x28 images\n")
        print(keras_overhead())
    return int(status)


if __name__ == "__main__":
    sys.exit(main())
