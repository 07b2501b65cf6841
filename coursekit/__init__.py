"""coursekit: the helper library of the Introduction to Deep Learning course.

``import coursekit`` is light on purpose: it imports numpy only. TensorFlow,
matplotlib, nbgrader and friends are imported by the functions that need them,
so numpy-only notebooks and the autograder start fast.

Submodules (imported on first use, e.g. ``coursekit.plot``):

- ``coursekit.env``: seeds, quick mode, Colab detection, device report, metrics.
- ``coursekit.data``: IDX reader and the MNIST / Fashion-MNIST loaders.
- ``coursekit.datasets``: small seeded 2-D data sets for the lectures.
- ``coursekit.activations``: activation functions and their derivatives (numpy).
- ``coursekit.losses``: stable log-softmax / cross-entropy losses on logits (numpy).
- ``coursekit.plot``: figures (axes in, axes out; never ``plt.show()``).
- ``coursekit.check``: numerical gradients, gradient checks with diagnosis, assertions.
- ``coursekit.optim``: numpy optimizers that match Keras step for step; 2-D test surfaces.
- ``coursekit.keras_models``, ``coursekit.tfdata``, ``coursekit.throughput``: Keras model
  builders, the tf.data input pipeline, and training-speed measurement.
- ``coursekit.runner``: executes the notebook sequence headless (the main job).
- ``coursekit.grading``: the instructor's nbgrader workflow.
- ``coursekit.playground``: a TensorFlow-Playground-like tool in the notebook (numpy; widgets optional).
"""

from __future__ import annotations

import importlib
from typing import Any

from coursekit._meta import REPO, VERSION
from coursekit.env import device_report, in_colab, pick, quick_mode, report_metric, seed, set_seeds

__version__ = VERSION

_SUBMODULES = frozenset(
    {
        "env", "data", "datasets", "activations", "losses", "plot", "check", "optim",
        "keras_models", "tfdata", "throughput", "runner", "grading", "playground",
    }
)

__all__ = [
    "REPO",
    "__version__",
    "device_report",
    "in_colab",
    "pick",
    "quick_mode",
    "report_metric",
    "seed",
    "set_seeds",
    *sorted(_SUBMODULES),
]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        module = importlib.import_module(f"coursekit.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'coursekit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBMODULES)
