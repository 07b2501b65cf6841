"""Numerically stable losses in plain numpy: the forms the losses lecture (06) teaches.

Every function takes *logits* (pre-activations), never probabilities, so that
no ``log`` of a rounded-to-zero probability can appear:

- ``log_softmax(z) = z - logsumexp(z)`` (max-subtracted);
- ``softmax_cross_entropy(logits, y)``: mean of ``-log_softmax(logits)[i, y_i]``,
  and its gradient ``(softmax(logits) - onehot(y)) / B``;
- ``log_sigmoid(z) = -softplus(-z)``;
- ``binary_cross_entropy_with_logits(z, y)``: mean of
  ``max(z, 0) - z y + log(1 + e^-|z|)``, equal to ``-[y log s + (1-y) log(1-s)]``
  with ``s = sigmoid(z)`` but finite for every z.

These match ``keras.losses.SparseCategoricalCrossentropy(from_logits=True)``
and ``BinaryCrossentropy(from_logits=True)`` (checked in tests/test_losses.py).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "binary_cross_entropy_with_logits",
    "log_sigmoid",
    "log_softmax",
    "softmax_cross_entropy",
    "softmax_cross_entropy_grad",
]


def _as_float(z: ArrayLike) -> np.ndarray:
    z = np.asarray(z)
    return z if np.issubdtype(z.dtype, np.floating) else z.astype(np.float64)


def log_softmax(z: ArrayLike, axis: int = -1) -> np.ndarray:
    """log(softmax(z)) along ``axis``, computed as z - max - log(sum(exp(z - max)))."""
    z = _as_float(z)
    shifted = z - np.max(z, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _labels(logits: np.ndarray, y: ArrayLike, func: str) -> np.ndarray:
    """Integer class labels of shape (B,) from labels or one-hot rows, checked against logits."""
    if logits.ndim != 2:
        raise ValueError(f"{func}: logits must have shape (batch, classes), got shape {logits.shape}")
    y = np.asarray(y)
    if y.shape == logits.shape:  # one-hot (or soft) targets
        if not np.allclose(y.sum(axis=1), 1.0):
            raise ValueError(f"{func}: one-hot targets of shape {y.shape} must have rows that sum to 1")
        return y
    if y.shape != (logits.shape[0],):
        raise ValueError(
            f"{func}: y has shape {y.shape} but logits have shape {logits.shape}; expected integer "
            f"labels of shape ({logits.shape[0]},) or one-hot targets of shape {logits.shape}"
        )
    if not np.issubdtype(y.dtype, np.integer) or y.min(initial=0) < 0 or y.max(initial=0) >= logits.shape[1]:
        raise ValueError(f"{func}: integer labels must lie in 0..{logits.shape[1] - 1}")
    return y


def softmax_cross_entropy(logits: ArrayLike, y: ArrayLike) -> float:
    """Mean cross-entropy of softmax(logits) against labels ``y`` (shape (B,)) or one-hot (B, K)."""
    logits = _as_float(logits)
    y = _labels(logits, y, "softmax_cross_entropy")
    logp = log_softmax(logits)
    if y.ndim == 2:
        return float(-np.mean(np.sum(y * logp, axis=1)))
    return float(-np.mean(logp[np.arange(len(y)), y]))


def softmax_cross_entropy_grad(logits: ArrayLike, y: ArrayLike) -> np.ndarray:
    """Gradient of :func:`softmax_cross_entropy` with respect to the logits: (softmax - onehot) / B."""
    logits = _as_float(logits)
    y = _labels(logits, y, "softmax_cross_entropy_grad")
    p = np.exp(log_softmax(logits))
    if y.ndim == 2:
        p = p - y
    else:
        p[np.arange(len(y)), y] -= 1.0
    return p / logits.shape[0]


def log_sigmoid(z: ArrayLike) -> np.ndarray:
    """log(sigmoid(z)) = -log(1 + e^-z), finite for every z."""
    z = _as_float(z)
    return -np.logaddexp(0.0, -z)


def binary_cross_entropy_with_logits(z: ArrayLike, y: ArrayLike) -> float:
    """Mean binary cross-entropy of sigmoid(z) against targets y in [0, 1] (same shape as z)."""
    z = _as_float(z)
    y = np.asarray(y, dtype=z.dtype)
    if y.shape != z.shape:
        raise ValueError(
            f"binary_cross_entropy_with_logits: y has shape {y.shape} but z has shape {z.shape}; "
            "they must be equal (reshape y, e.g. y.reshape(-1, 1))"
        )
    return float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))
