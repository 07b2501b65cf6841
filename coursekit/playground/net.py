"""The playground's network: a small fully connected binary classifier in numpy.

Layer l computes ``Z_l = A_{l-1} @ W_l + b_l`` and ``A_l = g(Z_l)`` with ``g``
from :mod:`coursekit.activations` (or the identity, "linear"); the last layer
is one output unit whose logit ``z`` goes into the stable
``binary_cross_entropy_with_logits``. L2 weight decay follows the course's
convention (lecture 11, assignment ``optimizers_regularization``): penalty
``(lam / 2) * sum ||W||^2`` over the weight matrices, gradient ``+ lam * W``,
biases not decayed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from coursekit.activations import ACTIVATIONS, sigmoid
from coursekit.losses import binary_cross_entropy_with_logits

__all__ = ["ACTIVATION_NAMES", "MLP", "activation_pair"]

#: The activations the playground offers, in the order of its menu.
ACTIVATION_NAMES: tuple[str, ...] = ("linear", "sigmoid", "tanh", "relu")


def _identity(z: np.ndarray) -> np.ndarray:
    return np.asarray(z, dtype=np.float64)


def _d_identity(z: np.ndarray) -> np.ndarray:
    return np.ones_like(z, dtype=np.float64)


def activation_pair(name: str) -> tuple[Callable[..., np.ndarray], Callable[..., np.ndarray]]:
    """(g, g') of a playground activation: "linear" or a name of ``coursekit.activations``."""
    if name == "linear":
        return _identity, _d_identity
    if name not in ACTIVATIONS or name not in ACTIVATION_NAMES:
        raise ValueError(
            f"activation must be one of {list(ACTIVATION_NAMES)}, got {name!r}."
        )
    return ACTIVATIONS[name]


class MLP:
    """A fully connected net 2 -> hidden... -> 1 (logit), with Glorot-uniform weights.

    Parameters
    ----------
    hidden : sequence of int
        Units of each hidden layer (empty: logistic regression).
    activation : str
        "linear", "sigmoid", "tanh" or "relu" (all hidden layers).
    rng : numpy Generator
        Source of the initial weights (Glorot uniform, as Keras' ``Dense``;
        biases start at 0).
    """

    def __init__(self, hidden: Sequence[int], activation: str, rng: np.random.Generator) -> None:
        self.sizes = [2, *(int(h) for h in hidden), 1]
        self.activation = activation
        self.g, self.dg = activation_pair(activation)
        shapes = []
        for fan_in, fan_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            shapes += [(fan_in, fan_out), (fan_out,)]
        # All parameters live in one flat vector; ``params`` are views into it, so an
        # optimizer can update everything with one call on ``flat`` (elementwise rules
        # give the same result as one call per array, with less overhead).
        self._slices, start = [], 0
        for sh in shapes:
            size = int(np.prod(sh))
            self._slices.append((start, start + size, sh))
            start += size
        self.flat = np.zeros(start)
        self.params = self._views(self.flat)
        for W, fan_in, fan_out in zip(self.params[0::2], self.sizes[:-1], self.sizes[1:], strict=True):
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            W[...] = rng.uniform(-limit, limit, size=(fan_in, fan_out))

    def _views(self, flat: np.ndarray) -> list[np.ndarray]:
        """Views of a flat vector shaped like the parameters: [W_1, b_1, ..., W_L, b_L]."""
        return [flat[a:b].reshape(sh) for a, b, sh in self._slices]

    @property
    def weights(self) -> list[np.ndarray]:
        """The weight matrices W_1 ... W_L (the arrays themselves)."""
        return self.params[0::2]

    @property
    def n_layers(self) -> int:
        """Number of weight layers (hidden layers + 1)."""
        return len(self.sizes) - 1

    def forward(self, X: np.ndarray) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
        """Logits (n,), and the pre-activations Z_l and activations A_l of every layer.

        ``A[0]`` is X; ``A[l]`` (1 <= l < L) the hidden layer l; ``Z[-1]`` the logits (n, 1).
        """
        A = [np.asarray(X, dtype=np.float64)]
        Z: list[np.ndarray] = []
        L = self.n_layers
        for layer in range(L):
            W, b = self.params[2 * layer], self.params[2 * layer + 1]
            z = A[-1] @ W + b
            Z.append(z)
            if layer < L - 1:
                A.append(self.g(z))
        return Z[-1][:, 0], Z, A

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """P(class 1) for every row of X, shape (n,)."""
        return sigmoid(self.forward(X)[0])

    def data_loss(self, X: np.ndarray, y: np.ndarray) -> float:
        """Mean binary cross-entropy of the net on (X, y), from the logits (stable)."""
        z = self.forward(X)[0]
        return binary_cross_entropy_with_logits(z, y.astype(np.float64))

    def l2_penalty(self, lam: float) -> float:
        """``(lam / 2) * sum ||W||^2`` over the weight matrices (biases excluded)."""
        return 0.5 * lam * float(sum(np.sum(W * W) for W in self.weights))

    def loss(self, X: np.ndarray, y: np.ndarray, lam: float = 0.0) -> float:
        """Data loss plus the L2 penalty: what the optimizer minimises."""
        return self.data_loss(X, y) + self.l2_penalty(lam)

    def gradients(
        self, X: np.ndarray, y: np.ndarray, lam: float = 0.0, *, cache: tuple | None = None,
        out: np.ndarray | None = None, with_loss: bool = True,
    ) -> tuple[float, list[np.ndarray]]:
        """Backpropagation: (data loss, [dW_1, db_1, ..., dW_L, db_L]) of ``loss(X, y, lam)``.

        ``cache``: the result of ``forward(X)`` when already computed. ``out``: a
        flat array of ``flat``'s size to write the gradients into (the returned
        arrays are then views of it). ``with_loss=False`` skips the loss (returns NaN).
        """
        logits, Z, A = cache if cache is not None else self.forward(X)
        n = X.shape[0]
        yf = y.astype(np.float64)
        data_loss = binary_cross_entropy_with_logits(logits, yf) if with_loss else float("nan")
        dz = ((sigmoid(logits) - yf) / n)[:, None]  # dLoss/dlogit of the mean BCE
        buf = np.empty_like(self.flat) if out is None else out
        grads = self._views(buf)
        for layer in range(self.n_layers - 1, -1, -1):
            W = self.params[2 * layer]
            np.matmul(A[layer].T, dz, out=grads[2 * layer])
            if lam:
                grads[2 * layer] += lam * W
            dz.sum(axis=0, out=grads[2 * layer + 1])
            if layer > 0:
                dz = (dz @ W.T) * self.dg(Z[layer - 1])
        return data_loss, grads
