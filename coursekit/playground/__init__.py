"""An interactive playground in the notebooks, like TensorFlow Playground.

A small fully connected net learns a 2-D data set (XOR, circles, spirals,
Gaussian blobs) in numpy, through ``coursekit.activations``,
``coursekit.losses`` and ``coursekit.optim``; no TensorFlow. The same object
works with and without widgets:

>>> from coursekit.playground import Playground
>>> pg = Playground.from_preset("xor", seed=0)
>>> state = pg.run(200)                    # headless: train, then read the numbers
>>> state.test_accuracy >= 0.95
True
>>> fig = pg.figure()                      # doctest: +SKIP
>>> pg.show()                              # doctest: +SKIP

``pg.show()`` (or a cell ending in ``pg``) displays the controls when a live
Jupyter kernel and ipywidgets (7.7 as on Colab, or 8) are there: data set,
noise, train share, layers, units, activation, learning rate, batch size, L2,
optimizer, seed, and play / pause / step / reset. Playing is driven by an
``ipywidgets.Play`` timer in the browser, so the kernel stays free between
steps. Headless (``COURSEKIT_HEADLESS=1``) it displays the figure.

Modules: ``core`` (Config, State, Playground), ``net`` (the numpy MLP),
``data`` (data sets), ``presets`` (one per lesson), ``view`` (the figure,
matplotlib), ``widgets`` (the controls, ipywidgets), ``smoke`` (a check that
builds the controls: ``python -m coursekit.playground.smoke``).
"""

from __future__ import annotations

from coursekit.playground.core import OPTIMIZER_NAMES, Config, Playground, State
from coursekit.playground.data import DATASETS
from coursekit.playground.net import ACTIVATION_NAMES
from coursekit.playground.presets import PRESETS, Preset, PresetResult, get_preset, run_preset

__all__ = [
    "ACTIVATION_NAMES",
    "DATASETS",
    "OPTIMIZER_NAMES",
    "PRESETS",
    "Config",
    "Playground",
    "Preset",
    "PresetResult",
    "State",
    "get_preset",
    "run_preset",
]
