"""Gradient-descent optimizers written in numpy, step for step like ``keras.optimizers``.

Each optimizer keeps its state (velocities, accumulators) per parameter and
updates parameters in place with ``step(params, grads)``. The update rules are
the ones Keras 3 uses, with the same default hyper-parameters, so a numpy run
and a Keras run from the same start agree to rounding error (lecture 10 checks
this). Every rule is a few lines in ``_update``; read them next to the formulas.

The module also has the 2-D test surfaces of lecture 10 (``ravine``,
``rosenbrock``, ``saddle``, each with its gradient) and ``run_path``, which
records the path of an optimizer on such a surface.

Example
-------
>>> import numpy as np
>>> from coursekit.optim import Adam, run_path, ravine, ravine_grad
>>> path = run_path(Adam(learning_rate=0.1), ravine_grad, [-4.0, 1.5], steps=100)
>>> path.shape
(101, 2)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "Optimizer",
    "SGD",
    "Adagrad",
    "Adadelta",
    "RMSprop",
    "Adam",
    "OPTIMIZERS",
    "run_path",
    "ravine",
    "ravine_grad",
    "rosenbrock",
    "rosenbrock_grad",
    "saddle",
    "saddle_grad",
]

LearningRate = float | Callable[[int], float]


class Optimizer:
    """Base class: keeps one state dict per parameter and applies ``_update``.

    Parameters
    ----------
    learning_rate : float or callable
        A positive number, or a schedule ``lr(step)`` called with the number of
        steps taken so far (0 for the first step), like a Keras
        ``LearningRateSchedule``.
    """

    def __init__(self, learning_rate: LearningRate) -> None:
        if not callable(learning_rate):
            if not np.isfinite(learning_rate) or learning_rate <= 0:
                raise ValueError(
                    f"{type(self).__name__}: learning_rate must be a positive number or a "
                    f"schedule lr(step), got {learning_rate!r}"
                )
        self.learning_rate = learning_rate
        #: Number of steps taken (Keras calls it ``optimizer.iterations``).
        self.iterations = 0
        self._states: list[dict[str, np.ndarray]] = []

    def current_learning_rate(self) -> float:
        """The learning rate the next step will use."""
        lr = self.learning_rate
        return float(lr(self.iterations)) if callable(lr) else float(lr)

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> None:
        """Update every array in ``params`` in place with its gradient in ``grads``.

        Parameters
        ----------
        params : list of float ndarrays
            The parameters; always pass the same arrays in the same order.
        grads : list of ndarrays
            ``grads[i]`` is dLoss/d``params[i]`` and has the same shape.
        """
        name = type(self).__name__
        if isinstance(params, np.ndarray) or isinstance(grads, np.ndarray):
            raise TypeError(f"{name}.step: pass lists of arrays, e.g. step([w], [dw])")
        if len(params) != len(grads):
            raise ValueError(
                f"{name}.step: got {len(params)} parameter arrays but {len(grads)} gradients"
            )
        if self._states and len(self._states) != len(params):
            raise ValueError(
                f"{name}.step: this optimizer was used with {len(self._states)} parameter "
                f"arrays before and now gets {len(params)}; use one optimizer per model"
            )
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            g = np.asarray(g)
            if not isinstance(p, np.ndarray) or not np.issubdtype(p.dtype, np.floating):
                raise TypeError(f"{name}.step: params[{i}] must be a float numpy array")
            if g.shape != p.shape:
                raise ValueError(
                    f"{name}.step: grads[{i}] has shape {g.shape} but params[{i}] has shape "
                    f"{p.shape}; each gradient must have the shape of its parameter"
                )
        if not self._states:
            self._states = [self._init_state(p) for p in params]
        lr = self.current_learning_rate()
        for p, g, state in zip(params, grads, self._states, strict=True):
            p += self._update(np.asarray(g, dtype=p.dtype), state, lr)
        self.iterations += 1

    def _init_state(self, p: np.ndarray) -> dict[str, np.ndarray]:
        return {}

    def _update(self, g: np.ndarray, s: dict[str, np.ndarray], lr: float) -> np.ndarray:
        """Return the change to add to the parameter (and update the state ``s``)."""
        raise NotImplementedError


class SGD(Optimizer):
    """Gradient descent, optionally with (Nesterov) momentum, as ``keras.optimizers.SGD``.

    ``m <- momentum * m - lr * g``; ``w <- w + m`` (plain SGD when momentum is 0).
    """

    def __init__(
        self, learning_rate: LearningRate = 0.01, momentum: float = 0.0, nesterov: bool = False
    ) -> None:
        super().__init__(learning_rate)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1), got {momentum!r}")
        self.momentum = momentum
        self.nesterov = nesterov

    def _init_state(self, p):
        return {"m": np.zeros_like(p)}

    def _update(self, g, s, lr):
        if self.momentum == 0:
            return -lr * g
        s["m"] = self.momentum * s["m"] - lr * g
        return self.momentum * s["m"] - lr * g if self.nesterov else s["m"]


class Adagrad(Optimizer):
    """Adagrad (Duchi et al. 2011) as ``keras.optimizers.Adagrad``.

    ``a <- a + g**2`` (``a`` starts at ``initial_accumulator_value``);
    ``w <- w - lr * g / sqrt(a + epsilon)``.
    """

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
    ) -> None:
        super().__init__(learning_rate)
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def _init_state(self, p):
        return {"a": np.full_like(p, self.initial_accumulator_value)}

    def _update(self, g, s, lr):
        s["a"] = s["a"] + g**2
        return -lr * g / np.sqrt(s["a"] + self.epsilon)


class Adadelta(Optimizer):
    """Adadelta (Zeiler 2012) as ``keras.optimizers.Adadelta``.

    ``E[g2] <- rho E[g2] + (1-rho) g**2``;
    ``d = -sqrt(E[dx2] + eps) / sqrt(E[g2] + eps) * g``;
    ``E[dx2] <- rho E[dx2] + (1-rho) d**2``; ``w <- w + lr * d``.
    Zeiler's paper has no learning rate (``lr = 1``); Keras multiplies by one.
    """

    def __init__(
        self, learning_rate: LearningRate = 0.001, rho: float = 0.95, epsilon: float = 1e-7
    ) -> None:
        super().__init__(learning_rate)
        self.rho = rho
        self.epsilon = epsilon

    def _init_state(self, p):
        return {"Eg2": np.zeros_like(p), "Edx2": np.zeros_like(p)}

    def _update(self, g, s, lr):
        rho, eps = self.rho, self.epsilon
        s["Eg2"] = rho * s["Eg2"] + (1 - rho) * g**2
        d = -np.sqrt(s["Edx2"] + eps) / np.sqrt(s["Eg2"] + eps) * g
        s["Edx2"] = rho * s["Edx2"] + (1 - rho) * d**2
        return lr * d


class RMSprop(Optimizer):
    """RMSProp (Hinton, lecture 6e, 2012) as ``keras.optimizers.RMSprop`` (no momentum).

    ``v <- rho v + (1-rho) g**2``; ``w <- w - lr * g / sqrt(v + epsilon)``.
    """

    def __init__(
        self, learning_rate: LearningRate = 0.001, rho: float = 0.9, epsilon: float = 1e-7
    ) -> None:
        super().__init__(learning_rate)
        self.rho = rho
        self.epsilon = epsilon

    def _init_state(self, p):
        return {"v": np.zeros_like(p)}

    def _update(self, g, s, lr):
        s["v"] = self.rho * s["v"] + (1 - self.rho) * g**2
        return -lr * g / np.sqrt(s["v"] + self.epsilon)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2014) as ``keras.optimizers.Adam``.

    ``m <- b1 m + (1-b1) g``; ``v <- b2 v + (1-b2) g**2``;
    ``w <- w - lr_t * m / (sqrt(v) + epsilon)`` with the bias correction folded
    into ``lr_t = lr * sqrt(1 - b2**t) / (1 - b1**t)`` (t = 1 for the first step),
    the "epsilon hat" form of the paper's section 2 that Keras uses.
    """

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
    ) -> None:
        super().__init__(learning_rate)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def _init_state(self, p):
        return {"m": np.zeros_like(p), "v": np.zeros_like(p)}

    def _update(self, g, s, lr):
        b1, b2, t = self.beta_1, self.beta_2, self.iterations + 1
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = b2 * s["v"] + (1 - b2) * g**2
        lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        return -lr_t * s["m"] / (np.sqrt(s["v"]) + self.epsilon)


#: Name -> class, in the order the lecture introduces them.
OPTIMIZERS: dict[str, type[Optimizer]] = {
    "SGD": SGD,
    "Adagrad": Adagrad,
    "Adadelta": Adadelta,
    "RMSprop": RMSprop,
    "Adam": Adam,
}


def run_path(
    optimizer: Optimizer,
    grad: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    start: Sequence[float],
    steps: int,
) -> np.ndarray:
    """Run ``optimizer`` on a 2-D surface and return the visited points.

    Parameters
    ----------
    optimizer : Optimizer
        A fresh optimizer (its state is used and changed).
    grad : callable
        ``grad(w1, w2) -> (dw1, dw2)``, e.g. :func:`ravine_grad`.
    start : pair of floats
        The starting point.
    steps : int
        Number of updates.

    Returns
    -------
    ndarray of shape (steps + 1, 2)
        The start and the point after every step. Stops early (shorter array)
        if the iterate stops being finite, i.e. the optimizer diverged.
    """
    w = np.array(start, dtype=np.float64)
    if w.shape != (2,):
        raise ValueError(f"run_path: start must be a pair (w1, w2), got shape {w.shape}")
    if steps < 0:
        raise ValueError(f"run_path: steps must be >= 0, got {steps}")
    path = [w.copy()]
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps):
            g = np.array(grad(w[0], w[1]), dtype=np.float64)
            optimizer.step([w], [g])
            if not np.all(np.isfinite(w)):
                break
            path.append(w.copy())
    return np.array(path)


def ravine(w1, w2, a: float = 1.0, b: float = 50.0):
    """Elongated quadratic ``(a w1**2 + b w2**2) / 2``: a ravine along w1 (minimum at 0)."""
    return 0.5 * (a * np.asarray(w1) ** 2 + b * np.asarray(w2) ** 2)


def ravine_grad(w1, w2, a: float = 1.0, b: float = 50.0):
    """Gradient of :func:`ravine`."""
    return a * np.asarray(w1), b * np.asarray(w2)


def rosenbrock(w1, w2, a: float = 1.0, b: float = 100.0):
    """Rosenbrock's banana ``(a - w1)**2 + b (w2 - w1**2)**2``; minimum 0 at (a, a**2)."""
    w1, w2 = np.asarray(w1), np.asarray(w2)
    return (a - w1) ** 2 + b * (w2 - w1**2) ** 2


def rosenbrock_grad(w1, w2, a: float = 1.0, b: float = 100.0):
    """Gradient of :func:`rosenbrock`."""
    w1, w2 = np.asarray(w1), np.asarray(w2)
    return -2 * (a - w1) - 4 * b * w1 * (w2 - w1**2), 2 * b * (w2 - w1**2)


def saddle(w1, w2):
    """``w1**2 + w2**4/4 - w2**2/2``: a saddle point at (0, 0), minima -1/4 at (0, +-1)."""
    w1, w2 = np.asarray(w1), np.asarray(w2)
    return w1**2 + w2**4 / 4 - w2**2 / 2


def saddle_grad(w1, w2):
    """Gradient of :func:`saddle`."""
    w1, w2 = np.asarray(w1), np.asarray(w2)
    return 2 * w1, w2**3 - w2
