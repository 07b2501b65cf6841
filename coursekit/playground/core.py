"""The playground object: configuration, training loop and state (numpy only).

One *step* is one epoch, as in TensorFlow Playground: the training points are
shuffled and visited once in mini-batches of ``batch_size``, one optimizer
update per mini-batch. After every step the train and test loss and accuracy
and the full-batch gradient of every layer are recorded.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from coursekit.losses import binary_cross_entropy_with_logits
from coursekit.optim import SGD, Adam, Optimizer
from coursekit.playground.data import DATASETS, make_data, split
from coursekit.playground.net import ACTIVATION_NAMES, MLP

__all__ = ["OPTIMIZER_NAMES", "Config", "Playground", "State"]

#: Optimizer menu: name -> how it is built from ``coursekit.optim``.
OPTIMIZER_NAMES: tuple[str, ...] = ("SGD", "momentum", "Adam")

# Fields whose change needs new data / a new network / only a new optimizer.
_DATA_FIELDS = {"dataset", "noise", "n_points", "train_fraction", "seed"}
_NET_FIELDS = {"hidden_layers", "units", "activation"}


@dataclass
class Config:
    """Every knob of the playground (the controls of its user interface).

    dataset: "xor", "circles", "spirals" or "blobs"; noise: level 0..1;
    n_points: total number of points; train_fraction: share used for training;
    hidden_layers: 0..4; units: units per hidden layer, 1..8 (an int for all
    layers or one int per layer); activation: "linear", "sigmoid", "tanh",
    "relu"; learning_rate, batch_size, l2 (weight decay lambda); optimizer:
    "SGD", "momentum" (SGD with momentum 0.9) or "Adam"; seed: data,
    initial weights and batch order.
    """

    dataset: str = "xor"
    noise: float = 0.3
    n_points: int = 200
    train_fraction: float = 0.5
    hidden_layers: int = 1
    units: int | tuple[int, ...] = 4
    activation: str = "tanh"
    learning_rate: float = 0.03
    batch_size: int = 10
    l2: float = 0.0
    optimizer: str = "SGD"
    seed: int = 0

    def layer_sizes(self) -> tuple[int, ...]:
        """Units of each hidden layer, e.g. (4, 4)."""
        if isinstance(self.units, int | np.integer):
            return (int(self.units),) * self.hidden_layers
        return tuple(int(u) for u in self.units)

    def validate(self) -> None:
        """Raise ValueError, naming the knob and its allowed values, if one is out of range."""

        def bad(name: str, allowed: str) -> None:
            raise ValueError(f"Playground: {name} must be {allowed}, got {getattr(self, name)!r}.")

        if self.dataset not in DATASETS:
            bad("dataset", f"one of {list(DATASETS)}")
        if not 0.0 <= float(self.noise) <= 1.0:
            bad("noise", "a level between 0 and 1")
        if not isinstance(self.n_points, int | np.integer) or not 8 <= self.n_points <= 5000:
            bad("n_points", "an integer between 8 and 5000")
        if not 0.05 <= float(self.train_fraction) <= 0.95:
            bad("train_fraction", "between 0.05 and 0.95")
        if not isinstance(self.hidden_layers, int | np.integer) or not 0 <= self.hidden_layers <= 4:
            bad("hidden_layers", "an integer from 0 to 4")
        sizes = self.layer_sizes() if not isinstance(self.units, int | np.integer) else None
        if sizes is not None and len(sizes) != self.hidden_layers:
            bad("units", f"one int per hidden layer ({self.hidden_layers} of them) or a single int")
        if not all(1 <= u <= 8 for u in (sizes if sizes is not None else (int(self.units),))):
            bad("units", "between 1 and 8 per layer")
        if self.activation not in ACTIVATION_NAMES:
            bad("activation", f"one of {list(ACTIVATION_NAMES)}")
        if not (np.isfinite(self.learning_rate) and self.learning_rate > 0):
            bad("learning_rate", "a positive number")
        if not isinstance(self.batch_size, int | np.integer) or self.batch_size < 1:
            bad("batch_size", "an integer >= 1")
        if not (np.isfinite(self.l2) and self.l2 >= 0):
            bad("l2", "a number >= 0")
        if self.optimizer not in OPTIMIZER_NAMES:
            bad("optimizer", f"one of {list(OPTIMIZER_NAMES)}")
        if not isinstance(self.seed, int | np.integer) or self.seed < 0:
            bad("seed", "an integer >= 0")


@dataclass
class State:
    """A snapshot of the playground after ``step`` steps (copies: safe to keep).

    ``history`` maps "step", "train_loss", "test_loss", "train_accuracy",
    "test_accuracy" to lists (entry 0 is the untrained net). ``grad_rms`` is
    the root-mean-square of d(data loss)/dW of every weight layer (first layer first)
    at the current weights, on the whole training set. ``diverged`` is True
    once the loss or a weight stopped being finite (training then stops).
    """

    step: int
    train_loss: float
    test_loss: float
    train_accuracy: float
    test_accuracy: float
    diverged: bool
    grad_rms: list[float]
    weights: list[np.ndarray]
    biases: list[np.ndarray]
    history: dict[str, list[float]] = field(default_factory=dict)
    config: Config = field(default_factory=Config)

    def __str__(self) -> str:
        head = "diverged at " if self.diverged else ""
        return (
            f"{head}step {self.step}: train loss {self.train_loss:.4f} "
            f"(accuracy {self.train_accuracy:.1%}), test loss {self.test_loss:.4f} "
            f"(accuracy {self.test_accuracy:.1%})"
        )


def _make_optimizer(name: str, lr: float) -> Optimizer:
    if name == "SGD":
        return SGD(learning_rate=lr)
    if name == "momentum":
        return SGD(learning_rate=lr, momentum=0.9)
    return Adam(learning_rate=lr)


class Playground:
    """TensorFlow Playground in a notebook: a tiny net on 2-D data, trained in numpy.

    Works the same with and without widgets: ``run(steps)`` trains, ``state``
    reports, ``figure()`` draws; ``show()`` (or ending a cell with the object)
    displays the interactive controls when ipywidgets and a live kernel are
    there, else the figure.

    Parameters
    ----------
    **config
        Any field of :class:`Config` (dataset, noise, hidden_layers, units, ...).

    Examples
    --------
    >>> pg = Playground(dataset="xor", hidden_layers=0)
    >>> pg.run(50).train_accuracy <= 0.75
    True
    """

    def __init__(self, **config: Any) -> None:
        self.config = Config()
        self._set_fields(config)
        self.config.validate()
        self._view: Any = None
        self._ui: Any = None
        self.reset()

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> Playground:
        """A playground set up as preset ``name`` (see ``PRESETS``), with ``overrides`` applied."""
        from coursekit.playground.presets import get_preset

        return cls(**{**dataclasses.asdict(get_preset(name).config), **overrides})

    # -- configuration ---------------------------------------------------------------
    def _set_fields(self, values: dict[str, Any]) -> None:
        names = {f.name for f in dataclasses.fields(Config)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise TypeError(f"Playground: unknown setting(s) {unknown}; the knobs are {sorted(names)}.")
        for k, v in values.items():
            setattr(self.config, k, v)

    def set(self, **changes: Any) -> None:
        """Change knobs. Data and network knobs restart training; learning rate,
        batch size, L2 and optimizer act from the next step on the current weights."""
        old = dataclasses.replace(self.config)
        if "hidden_layers" in changes and "units" not in changes and not isinstance(
            self.config.units, int | np.integer
        ):
            changes["units"] = max(self.config.layer_sizes(), default=4)
        self._set_fields(changes)
        try:
            self.config.validate()
        except ValueError:
            self.config = old
            raise
        changed = {k for k in changes if getattr(old, k) != getattr(self.config, k)}
        if changed & (_DATA_FIELDS | _NET_FIELDS):
            self.reset(new_data=bool(changed & _DATA_FIELDS))
        elif "optimizer" in changed:
            self.optimizer = _make_optimizer(self.config.optimizer, self.config.learning_rate)
        elif "learning_rate" in changed:
            self.optimizer.learning_rate = float(self.config.learning_rate)

    def reset(self, new_data: bool = True) -> None:
        """Fresh initial weights (and data when ``new_data``), step 0, empty history."""
        c = self.config
        if new_data or not hasattr(self, "X"):
            X, y = make_data(c.dataset, int(c.n_points), float(c.noise), int(c.seed))
            self.X, self.y = X, y
            self.X_train, self.y_train, self.X_test, self.y_test = split(
                X, y, float(c.train_fraction), int(c.seed) + 1
            )
        self.net = MLP(c.layer_sizes(), c.activation, np.random.default_rng(int(c.seed) + 1000))
        self.optimizer = _make_optimizer(c.optimizer, float(c.learning_rate))
        self._rng = np.random.default_rng(int(c.seed) + 2000)
        self.step_count = 0
        self.diverged = False
        self.history: dict[str, list[float]] = {
            k: [] for k in ("step", "train_loss", "test_loss", "train_accuracy", "test_accuracy")
        }
        self._record()

    # -- training --------------------------------------------------------------------
    def _record(self) -> None:
        with np.errstate(all="ignore"):
            cache = self.net.forward(self.X_train)
            train_loss, grads = self.net.gradients(self.X_train, self.y_train, 0.0, cache=cache)
            train_logits = cache[0]
            test_logits = self.net.forward(self.X_test)[0]
            test_loss = binary_cross_entropy_with_logits(test_logits, self.y_test.astype(float))
        self.grad_rms = [float(np.sqrt(np.mean(g * g))) for g in grads[0::2]]
        h = self.history
        h["step"].append(self.step_count)
        h["train_loss"].append(float(train_loss))
        h["test_loss"].append(float(test_loss))
        h["train_accuracy"].append(float(np.mean((train_logits > 0) == (self.y_train == 1))))
        h["test_accuracy"].append(float(np.mean((test_logits > 0) == (self.y_test == 1))))
        finite = np.isfinite(train_loss) and all(np.all(np.isfinite(p)) for p in self.net.params)
        if not finite:
            self.diverged = True

    def step(self) -> State:
        """One epoch of mini-batch updates; returns the new state (no-op once diverged)."""
        if self.diverged:
            return self.state
        c = self.config
        n = len(self.y_train)
        order = self._rng.permutation(n)
        bs = int(c.batch_size)
        lam = float(c.l2)
        flat, gflat = self.net.flat, np.empty_like(self.net.flat)
        with np.errstate(all="ignore"):
            for start in range(0, n, bs):
                idx = order[start:start + bs]
                self.net.gradients(self.X_train[idx], self.y_train[idx], lam, out=gflat, with_loss=False)
                self.optimizer.step([flat], [gflat])
        self.step_count += 1
        self._record()
        return self.state

    def run(self, steps: int) -> State:
        """Train ``steps`` more steps (fewer if it diverges) and return the final state."""
        if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 0:
            raise ValueError(f"Playground.run: steps must be an integer >= 0, got {steps!r}.")
        for _ in range(int(steps)):
            if self.diverged:
                break
            self.step()
        return self.state

    # -- reading ---------------------------------------------------------------------
    @property
    def state(self) -> State:
        """The current :class:`State` (a copy)."""
        h = self.history
        return State(
            step=self.step_count,
            train_loss=h["train_loss"][-1],
            test_loss=h["test_loss"][-1],
            train_accuracy=h["train_accuracy"][-1],
            test_accuracy=h["test_accuracy"][-1],
            diverged=self.diverged,
            grad_rms=list(self.grad_rms),
            weights=[W.copy() for W in self.net.params[0::2]],
            biases=[b.copy() for b in self.net.params[1::2]],
            history={k: list(v) for k, v in h.items()},
            config=dataclasses.replace(self.config),
        )

    def predict_proba(self, X: Any) -> np.ndarray:
        """P(class 1) of the current net for points X of shape (n, 2)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != 2:
            raise ValueError(f"Playground.predict_proba: X must have shape (n, 2), got {X.shape}.")
        with np.errstate(all="ignore"):
            return self.net.predict_proba(X)

    # -- drawing and widgets (matplotlib / ipywidgets imported only here) ------------
    def figure(self) -> Any:
        """The playground's figure (network with per-unit pictures, boundary, losses, gradients)."""
        from coursekit.playground.view import PlaygroundView

        if self._view is None:
            self._view = PlaygroundView(self)
        return self._view.draw()

    def widget(self) -> Any:
        """The interactive controls (an ipywidgets box), built once; needs ipywidgets."""
        from coursekit.playground.widgets import PlaygroundUI

        if self._ui is None:
            self._ui = PlaygroundUI(self)
        return self._ui.box

    def show(self, widgets: bool | None = None) -> None:
        """Display the controls (live kernel with ipywidgets) or else the figure.

        ``widgets=None`` decides automatically: controls unless headless
        (``COURSEKIT_HEADLESS=1`` or no kernel) or ipywidgets is missing.
        """
        from IPython.display import display

        from coursekit.playground.widgets import widgets_available
        from coursekit.plot.live import is_headless

        if widgets is None:
            widgets = widgets_available() and not is_headless()
        display(self.widget() if widgets else self.figure())

    def _ipython_display_(self) -> None:
        self.show()

    def __repr__(self) -> str:
        c = self.config
        layers = "x".join(map(str, c.layer_sizes())) or "no hidden layer"
        return f"Playground({c.dataset}, {layers} {c.activation}, {c.optimizer} lr={c.learning_rate}; {self.state})"
