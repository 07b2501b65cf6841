"""The data a Keras assignment's isolated training run sees: the training split, and stand-ins for the test split.

Used by :mod:`coursekit.grading.isolated_keras_grade`: the worker that runs the
student's training cell gets a Fashion-MNIST folder whose test images are
training images turned upside down and inverted (:func:`stand_in_test_split`),
mounted over the real data folder in its sandbox (:func:`hiding_test_data`), so
the model it trains cannot have learnt from a real test image.
"""

from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np

DATA_ENV = "COURSEKIT_FASHION_MNIST_DIR"
_WORKER_DATA = "/ck-worker-data"  # where the stand-in data folder appears when no data folder is bound


def _idx(array: np.ndarray) -> bytes:
    arr = np.ascontiguousarray(array, dtype=np.uint8)
    return struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def stand_in_test_split(x_train: np.ndarray, y_train: np.ndarray, n_test: int,
                        image_keys: Callable[[np.ndarray], set]) -> tuple[np.ndarray, np.ndarray]:
    """``n_test`` training images turned upside down and inverted, none sharing a fingerprint with
    a training image (``image_keys``: the set-up cell's ``_ck_image_keys``), and their labels."""
    if x_train.ndim != 3 or len(x_train) == 0:
        raise ValueError(f"stand_in_test_split: expected training images of shape (n, h, w), got {x_train.shape}")
    train_keys = image_keys(x_train)
    chosen: list[int] = []
    for i in range(len(x_train)):
        if not image_keys(255 - x_train[i:i + 1, ::-1, :]) & train_keys:
            chosen.append(i)
            if len(chosen) == n_test:
                break
    if not chosen:
        raise ValueError("stand_in_test_split: no training image gives a usable stand-in")
    index = np.resize(np.array(chosen), n_test)
    return (255 - x_train[index, ::-1, :]).astype(np.uint8), np.asarray(y_train)[index]


def write_data_folder(folder: Path, train: tuple[np.ndarray, np.ndarray],
                      test: tuple[np.ndarray, np.ndarray]) -> Path:
    """Write the four IDX files of a Fashion-MNIST folder (readable by the sandbox's uid)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = {"train-images-idx3-ubyte.gz": train[0], "train-labels-idx1-ubyte.gz": train[1],
             "t10k-images-idx3-ubyte.gz": test[0], "t10k-labels-idx1-ubyte.gz": test[1]}
    for name, array in names.items():
        with gzip.open(folder / name, "wb", compresslevel=1) as f:
            f.write(_idx(array))
        os.chmod(folder / name, 0o644)
    os.chmod(folder, 0o755)
    return folder


def hiding_test_data(wrap: Callable[[list[str]], list[str]], folder: Path,
                     real: str | None) -> Callable[[list[str]], list[str]]:
    """``wrap``, but the sandbox sees ``folder`` where the real data folder was (and the
    environment variable names it); without bubblewrap, only the variable changes."""
    def wrapped(argv: list[str]) -> list[str]:
        out = list(wrap(argv))
        if not out or os.path.basename(out[0]) != "bwrap":
            return ["env", f"{DATA_ENV}={folder}", *out]
        target = os.path.realpath(real) if real else _WORKER_DATA
        at = out.index("--cap-drop") if "--cap-drop" in out else 1
        # after --clearenv and every other mount: the stand-in is mounted over the real folder, hiding it
        out[at:at] = ["--setenv", DATA_ENV, target, "--ro-bind", str(folder), target]
        return out
    return wrapped
