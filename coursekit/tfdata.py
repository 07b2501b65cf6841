"""``tf.data`` input pipelines for image classification (MNIST, Fashion-MNIST).

The pipeline of the Fashion-MNIST lecture, in the order the TensorFlow
performance guide recommends::

    from_tensor_slices -> cache -> shuffle -> batch -> normalize -> prefetch

- **cache** keeps the decoded examples in memory after the first epoch; with
  arrays already in memory it costs nothing and saves nothing, but it is the
  step that saves the work when examples come from files that must be read and
  decoded.
- **shuffle** (with a buffer as large as the training set: a full shuffle)
  draws a new order every epoch; after ``cache`` so the cached data stay in
  their original order.
- **batch** groups B examples; the normalization then runs once per batch
  (vectorized) instead of once per image.
- **normalize** converts uint8 pixels 0..255 to float32 in [0, 1].
- **prefetch** prepares the next batches on the CPU while the accelerator
  trains on the current one (``tf.data.AUTOTUNE`` picks how many).

TensorFlow is imported inside the functions; importing this module is cheap.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["image_dataset", "train_val_split"]


def _check_xy(x: ArrayLike, y: ArrayLike | None, func: str) -> tuple[np.ndarray, np.ndarray | None]:
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(
            f"{func}: x must hold one example per row, shape (n, ...) such as (n, 28, 28); "
            f"got shape {x.shape}"
        )
    if y is None:
        return x, None
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{func}: y must be a vector of class indices, shape (n,); got {y.shape}")
    if len(y) != len(x):
        raise ValueError(
            f"{func}: x and y must have the same number of examples; "
            f"x has {len(x)} (shape {x.shape}), y has {len(y)}"
        )
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{func}: y must hold integer class indices, got dtype {y.dtype}")
    return x, y


def image_dataset(
    x: ArrayLike,
    y: ArrayLike | None = None,
    *,
    batch_size: int = 128,
    shuffle: bool = False,
    seed: int = 0,
    cache: bool = True,
    prefetch: bool = True,
    scale: float | None = None,
    drop_remainder: bool = False,
) -> Any:
    """Build a batched ``tf.data.Dataset`` of ``(images, labels)`` (or images only).

    Parameters
    ----------
    x : images, shape (n, ...) e.g. (n, 28, 28); uint8 0..255 or float.
    y : integer labels, shape (n,), or None for an unlabelled (prediction) pipeline.
    batch_size : examples per batch B.
    shuffle : reshuffle every epoch with a full-size buffer (use for training only).
    seed : shuffle seed (the order still changes from epoch to epoch, reproducibly).
    cache, prefetch : include the ``cache()`` / ``prefetch(AUTOTUNE)`` steps.
    scale : factor applied after the cast to float32; default ``1/255`` for uint8
        input (pixels to [0, 1]) and 1 for float input (already normalized).
    drop_remainder : drop the last incomplete batch (fixed shapes, e.g. for XLA).

    Returns
    -------
    tf.data.Dataset
        Elements ``(float32 images of shape (B, ...), int32 labels (B,))``, or
        just the images when ``y`` is None.
    """
    import tensorflow as tf

    x, y = _check_xy(x, y, "image_dataset")
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"image_dataset: batch_size must be a positive int, got {batch_size!r}")
    if scale is None:
        scale = 1.0 / 255.0 if x.dtype == np.uint8 else 1.0
    scale = float(scale)

    if y is None:
        ds = tf.data.Dataset.from_tensor_slices(x)
    else:
        ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.int32)))
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(int(batch_size), drop_remainder=drop_remainder)

    def to_float(images):
        return tf.cast(images, tf.float32) * scale

    if y is None:
        ds = ds.map(to_float, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(lambda images, labels: (to_float(images), labels),
                    num_parallel_calls=tf.data.AUTOTUNE)
    if prefetch:
        ds = ds.prefetch(tf.data.AUTOTUNE)
    return ds


def train_val_split(
    x: ArrayLike, y: ArrayLike, *, val_fraction: float = 0.1, seed: int = 0
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Split off a stratified validation set (each class keeps its share).

    Parameters
    ----------
    x : examples, shape (n, ...).
    y : integer labels, shape (n,).
    val_fraction : share of each class that goes to validation, 0 < f < 1.
    seed : seed of the random choice.

    Returns
    -------
    ((x_train, y_train), (x_val, y_val))
        Copies; the order within each part is shuffled.
    """
    x, y = _check_xy(x, y, "train_val_split")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"train_val_split: val_fraction must be in (0, 1), got {val_fraction!r}")
    rng = np.random.default_rng(seed)
    val_idx = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        n_val = int(round(val_fraction * len(idx)))
        val_idx.append(rng.choice(idx, size=n_val, replace=False))
    val = np.concatenate(val_idx)
    mask = np.zeros(len(y), dtype=bool)
    mask[val] = True
    train = rng.permutation(np.flatnonzero(~mask))
    val = rng.permutation(val)
    if len(train) == 0 or len(val) == 0:
        raise ValueError(
            f"train_val_split: val_fraction={val_fraction} leaves an empty part "
            f"({len(train)} train, {len(val)} validation examples of {len(y)})"
        )
    return (x[train], y[train]), (x[val], y[val])
