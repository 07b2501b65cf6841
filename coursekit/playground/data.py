"""The playground's four data sets and the train/test split.

``noise`` is a level from 0 (clean) to 1 (heavy), turned into each set's own
unit: the standard deviation of the XOR and blob clusters, the radial jitter
of the circles, the angle jitter (radians) of the spirals.
"""

from __future__ import annotations

import numpy as np

from coursekit import datasets

__all__ = ["DATASETS", "gaussian_blobs", "make_data", "split"]

#: Data set name -> label shown in the menu.
DATASETS: dict[str, str] = {
    "xor": "XOR",
    "circles": "circles",
    "spirals": "spirals",
    "blobs": "Gaussian blobs",
}


def gaussian_blobs(n: int = 200, noise: float = 0.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two round Gaussian clusters at (-1, -1) (class 0) and (1, 1) (class 1), std ``noise``."""
    if n < 2:
        raise ValueError(f"gaussian_blobs: n must be at least 2, got {n}.")
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"gaussian_blobs: noise must be >= 0, got {noise!r}.")
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    centers = np.where(y[:, None] == 1, 1.0, -1.0) * np.ones((n, 2))
    X = centers + noise * rng.standard_normal((n, 2))
    order = rng.permutation(n)
    return X[order], y[order].astype(np.int64)


def make_data(name: str, n: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points of data set ``name`` ("xor", "circles", "spirals", "blobs") at noise level 0..1."""
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {list(DATASETS)}, got {name!r}.")
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise is a level between 0 and 1, got {noise!r}.")
    if name == "xor":
        return datasets.xor_cloud(n, noise=0.1 + 0.6 * noise, seed=seed)
    if name == "circles":
        return datasets.circles(n, noise=0.25 * noise, factor=0.5, seed=seed)
    if name == "spirals":
        return datasets.spirals(n, noise=0.8 * noise, seed=seed)
    return gaussian_blobs(n, noise=0.3 + 1.2 * noise, seed=seed)


def split(
    X: np.ndarray, y: np.ndarray, train_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, y_train, X_test, y_test): a random ``train_fraction`` of the points for training.

    At least two points end up on each side.
    """
    n = len(y)
    n_train = int(round(train_fraction * n))
    n_train = min(max(n_train, 2), n - 2)
    order = np.random.default_rng(seed).permutation(n)
    tr, te = order[:n_train], order[n_train:]
    return X[tr], y[tr], X[te], y[te]
