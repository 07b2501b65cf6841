"""Activation functions and their derivatives, in plain numpy.

Every activation ``g`` comes with its derivative ``d_g`` (written g'(z) in the
notes), evaluated at the pre-activation ``z``:

==============  ==================================  ====================================
name            g(z)                                g'(z)
==============  ==================================  ====================================
``sigmoid``     1 / (1 + e^-z)                      g(z) (1 - g(z))
``tanh``        (e^z - e^-z) / (e^z + e^-z)         1 - g(z)^2
``relu``        max(0, z)                           1 if z > 0 else 0
``leaky_relu``  z if z > 0 else alpha z             1 if z > 0 else alpha
``softplus``    log(1 + e^z)                        sigmoid(z)
``gelu``        z Phi(z)  (exact erf form)          Phi(z) + z phi(z)
``silu``        z sigmoid(z)  (a.k.a. swish)        s + z s (1 - s),  s = sigmoid(z)
``step``        1 if z > 0 else 0                   0 (see below)
==============  ==================================  ====================================

Conventions (the same as TensorFlow's where TensorFlow has one):

- At the kink z = 0 the ReLU family uses the derivative of the left side
  (``d_relu(0) == 0``, ``d_leaky_relu(0) == alpha``), like ``tf.nn.relu``'s
  gradient. ``step(0) == 0``, so ``relu(z) == z * step(z)`` and
  ``d_relu == step`` everywhere.
- The derivative of ``step`` is 0 everywhere. Mathematically it is a Dirac
  delta at z = 0 (infinite there, zero elsewhere); no gradient-based method
  can use that, which is exactly why the step function is bad for learning.
- ``gelu`` is the exact form z * Phi(z) with Phi the standard normal CDF
  (computed with ``math.erf``), matching ``tf.nn.gelu(z)`` whose default is
  ``approximate=False``. The tanh approximation is not used.

The functions are numerically stable: ``sigmoid`` never evaluates ``exp`` of a
large positive number, ``softplus`` uses ``np.logaddexp``, and ``softmax``
subtracts the maximum along its axis. Floating inputs keep their dtype;
integers, booleans and Python numbers are computed in float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "ACTIVATIONS",
    "d_gelu",
    "d_leaky_relu",
    "d_relu",
    "d_sigmoid",
    "d_silu",
    "d_softplus",
    "d_step",
    "d_tanh",
    "gelu",
    "leaky_relu",
    "relu",
    "sigmoid",
    "silu",
    "softmax",
    "softplus",
    "step",
    "tanh",
]

_SQRT_2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _as_float(z: ArrayLike) -> np.ndarray:
    """Return ``z`` as a floating array (float64 unless already floating)."""
    z = np.asarray(z)
    if not np.issubdtype(z.dtype, np.floating):
        z = z.astype(np.float64)
    return z


def sigmoid(z: ArrayLike) -> np.ndarray:
    """Logistic sigmoid 1 / (1 + e^-z), without overflow for large |z|.

    Uses e = exp(-|z|) <= 1: sigmoid(z) = 1 / (1 + e) for z >= 0 and
    e / (1 + e) for z < 0.
    """
    z = _as_float(z)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype)


def d_sigmoid(z: ArrayLike) -> np.ndarray:
    """Derivative of the sigmoid: sigmoid(z) * (1 - sigmoid(z))."""
    s = sigmoid(z)
    return s * (1.0 - s)


def tanh(z: ArrayLike) -> np.ndarray:
    """Hyperbolic tangent (e^z - e^-z) / (e^z + e^-z)."""
    return np.tanh(_as_float(z))


def d_tanh(z: ArrayLike) -> np.ndarray:
    """Derivative of tanh: 1 - tanh(z)^2."""
    t = tanh(z)
    return 1.0 - t * t


def relu(z: ArrayLike) -> np.ndarray:
    """Rectified linear unit max(0, z)."""
    z = _as_float(z)
    return np.maximum(z, 0).astype(z.dtype)


def d_relu(z: ArrayLike) -> np.ndarray:
    """Derivative of ReLU: 1 where z > 0, else 0 (0 at z = 0, like TensorFlow)."""
    z = _as_float(z)
    return (z > 0).astype(z.dtype)


def leaky_relu(z: ArrayLike, alpha: float = 0.01) -> np.ndarray:
    """Leaky ReLU: z where z > 0, alpha * z elsewhere."""
    z = _as_float(z)
    return np.where(z > 0, z, alpha * z).astype(z.dtype)


def d_leaky_relu(z: ArrayLike, alpha: float = 0.01) -> np.ndarray:
    """Derivative of leaky ReLU: 1 where z > 0, alpha elsewhere (alpha at z = 0)."""
    z = _as_float(z)
    return np.where(z > 0, 1.0, alpha).astype(z.dtype)


def softplus(z: ArrayLike) -> np.ndarray:
    """Softplus log(1 + e^z), computed as ``np.logaddexp(0, z)`` (no overflow)."""
    z = _as_float(z)
    return np.logaddexp(z.dtype.type(0), z)


def d_softplus(z: ArrayLike) -> np.ndarray:
    """Derivative of softplus: sigmoid(z)."""
    return sigmoid(z)


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    """Standard normal CDF Phi(z) = (1 + erf(z / sqrt 2)) / 2, in float64."""
    return 0.5 * (1.0 + _erf(np.asarray(z, dtype=np.float64) / _SQRT_2))


def gelu(z: ArrayLike) -> np.ndarray:
    """Gaussian error linear unit z * Phi(z), exact erf form (= ``tf.nn.gelu``'s default)."""
    z = _as_float(z)
    return (z * _normal_cdf(z)).astype(z.dtype)


def d_gelu(z: ArrayLike) -> np.ndarray:
    """Derivative of GELU: Phi(z) + z * phi(z), phi the standard normal density."""
    z = _as_float(z)
    z64 = z.astype(np.float64)
    pdf = _INV_SQRT_2PI * np.exp(-0.5 * z64 * z64)
    return (_normal_cdf(z64) + z64 * pdf).astype(z.dtype)


def silu(z: ArrayLike) -> np.ndarray:
    """Sigmoid linear unit (swish) z * sigmoid(z)."""
    z = _as_float(z)
    return z * sigmoid(z)


def d_silu(z: ArrayLike) -> np.ndarray:
    """Derivative of SiLU: s + z s (1 - s) with s = sigmoid(z)."""
    z = _as_float(z)
    s = sigmoid(z)
    return s + z * s * (1.0 - s)


def step(z: ArrayLike) -> np.ndarray:
    """Heaviside step: 1 where z > 0, else 0 (``step(0) == 0``)."""
    z = _as_float(z)
    return (z > 0).astype(z.dtype)


def d_step(z: ArrayLike) -> np.ndarray:
    """Derivative of the step: 0 everywhere (a Dirac delta at 0, unusable for learning)."""
    z = _as_float(z)
    return np.zeros_like(z)


def softmax(z: ArrayLike, axis: int = -1) -> np.ndarray:
    """Softmax along ``axis``: exp(z - max) / sum(exp(z - max)), so no overflow.

    For a batch of logits of shape (B, K) the default ``axis=-1`` gives one
    probability vector per row.
    """
    z = _as_float(z)
    shifted = z - np.max(z, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


ACTIVATIONS: dict[str, tuple[Callable[..., np.ndarray], Callable[..., np.ndarray]]] = {
    "sigmoid": (sigmoid, d_sigmoid),
    "tanh": (tanh, d_tanh),
    "relu": (relu, d_relu),
    "leaky_relu": (leaky_relu, d_leaky_relu),
    "softplus": (softplus, d_softplus),
    "gelu": (gelu, d_gelu),
    "silu": (silu, d_silu),
    "step": (step, d_step),
}
"""Name -> (g, g'), in the order the lectures introduce them."""
