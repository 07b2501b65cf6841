"""Run-time environment: seeds, quick mode, Colab detection, device report, key metrics.

Nothing here imports TensorFlow at import time; :func:`set_seeds` and
:func:`device_report` import it only when asked to (or when it is already loaded).
"""

from __future__ import annotations

import json
import os
import platform
import random
import sys
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

QUICK_ENV = "COURSEKIT_QUICK"
HEADLESS_ENV = "COURSEKIT_HEADLESS"
METRIC_MIME = "application/vnd.coursekit.metric+json"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def _env_flag(name: str) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"environment variable {name}={os.environ[name]!r} is not understood; "
        f"use 1 (on) or 0 (off)"
    )


def quick_mode() -> bool:
    """Return True when notebooks should run in quick mode (``COURSEKIT_QUICK=1``).

    Quick mode trains for a few epochs on small subsets so that CI can execute
    every notebook in well under a minute. Results are then smaller than the
    text quotes for the full runs; notebooks assert only what holds in both.
    """
    return _env_flag(QUICK_ENV)


def headless() -> bool:
    """Return True when no live redraws should happen (``COURSEKIT_HEADLESS=1``)."""
    return _env_flag(HEADLESS_ENV)


def pick(quick: T, full: T) -> T:
    """Return ``quick`` in quick mode and ``full`` otherwise.

    Examples
    --------
    >>> epochs = pick(quick=3, full=30)
    """
    return quick if quick_mode() else full


def in_colab() -> bool:
    """Return True when running inside Google Colab."""
    return "google.colab" in sys.modules


SEED_VARIABLE = "COURSEKIT_SEED"


def seed_offset() -> int:
    """Return the run's seed offset: ``COURSEKIT_SEED`` (default 0).

    ``make verify`` runs every notebook with ``COURSEKIT_SEED`` = 0, 1 and 2 to
    check that what a notebook asserts does not hold for one lucky seed only.
    """
    raw = os.environ.get(SEED_VARIABLE, "").strip()
    if not raw:
        return 0
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(
            f"environment variable {SEED_VARIABLE}={raw!r} must be a non-negative integer "
            f"(e.g. {SEED_VARIABLE}=1), or unset for the default seeds"
        )
    return value


def seed(k: int = 0) -> int:
    """Return the seed to use for the ``k``-th random stream of a notebook.

    It is ``k`` plus the run's offset (``COURSEKIT_SEED``, default 0), so that
    ``np.random.default_rng(ck.seed())`` is seed 0 in a normal run and seed 1,
    2 in the runs of ``make verify``.
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 0:
        raise ValueError(f"seed: k must be a non-negative integer, got {k!r}")
    return int(k) + seed_offset()


def set_seeds(seed: int = 0, *, tensorflow: bool | None = None, deterministic: bool = False) -> None:
    """Seed Python's ``random``, numpy's global generator and (optionally) TensorFlow.

    The seed used is ``seed`` plus the run's offset, ``COURSEKIT_SEED``
    (default 0; see :func:`seed_offset`).

    Parameters
    ----------
    seed:
        The seed, a non-negative integer.
    tensorflow:
        True seeds TensorFlow/Keras (importing TensorFlow), False never touches it,
        None (default) seeds it only if it is already imported, so that numpy-only
        notebooks stay fast.
    deterministic:
        Also turn on TensorFlow op determinism (slower on GPU; identical results
        run to run). Implies ``tensorflow=True``.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"set_seeds: seed must be a non-negative integer, got {seed!r}")
    seed = int(seed) + seed_offset()
    os.environ["PYTHONHASHSEED"] = str(seed)  # affects subprocesses started from here
    random.seed(seed)
    np.random.seed(seed)
    if deterministic:
        tensorflow = True
    if tensorflow is None:
        tensorflow = "tensorflow" in sys.modules
    if tensorflow:
        import tensorflow as tf

        tf.keras.utils.set_random_seed(seed)  # python, numpy and the TF backend
        if deterministic:
            tf.config.experimental.enable_op_determinism()


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mixed_precision_support(gpus: list[dict[str, Any]]) -> str:
    """Describe whether float16 mixed precision pays off on the visible devices."""
    if not gpus:
        return "no (CPU only: mixed precision would be slower, keep float32)"
    caps = [g.get("compute_capability") for g in gpus]
    if all(c is not None and tuple(c) >= (7, 0) for c in caps):
        return "yes (GPU with tensor cores)"
    return "limited (GPU older than compute capability 7.0)"


def device_report(verbose: bool = True) -> dict[str, Any]:
    """Describe the machine: Python, numpy, TensorFlow/Keras versions, CPU, GPUs.

    Imports TensorFlow (a few seconds the first time). Returns a dict and, when
    ``verbose``, prints it as a short table.
    """
    report: dict[str, Any] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(terse=True),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "colab": in_colab(),
        "quick_mode": quick_mode(),
    }
    try:
        import tensorflow as tf
    except ImportError:
        report.update(tensorflow=None, keras=None, gpus=[], mixed_precision="no (TensorFlow missing)")
    else:
        gpus = []
        for dev in tf.config.list_physical_devices("GPU"):
            details = tf.config.experimental.get_device_details(dev)
            gpus.append(
                {
                    "name": details.get("device_name", dev.name),
                    "compute_capability": details.get("compute_capability"),
                }
            )
        report.update(
            tensorflow=tf.__version__,
            keras=tf.keras.__version__ if hasattr(tf.keras, "__version__") else None,
            gpus=gpus,
            mixed_precision=_mixed_precision_support(gpus),
        )
    if verbose:
        gpu_text = ", ".join(g["name"] for g in report["gpus"]) or "none (training runs on the CPU)"
        rows = [
            ("Python", report["python"]),
            ("numpy", report["numpy"]),
            ("TensorFlow", report["tensorflow"] or "not installed"),
            ("Keras", report["keras"] or "-"),
            ("CPU", f"{report['cpu']} ({report['cpu_count']} cores)"),
            ("GPU", gpu_text),
            ("mixed precision", report["mixed_precision"]),
            ("Colab", "yes" if report["colab"] else "no"),
            ("quick mode", "on" if report["quick_mode"] else "off"),
        ]
        width = max(len(k) for k, _ in rows)
        print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))
    return report


def report_metric(name: str, value: float, fmt: str = ".4f") -> None:
    """Show a notebook's headline result and tag it for the course runner's summary.

    In a Jupyter kernel this displays one output with a text line and a
    machine-readable part (``application/vnd.coursekit.metric+json``) that
    ``coursekit.runner`` collects; elsewhere it prints the text line.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("report_metric: name must be a non-empty string, e.g. 'test accuracy'")
    value = float(value)
    text = f"key metric: {name} = {value:{fmt}}"
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # plain Python without IPython
        print(text)
        return
    if get_ipython() is None:
        print(text)
        return
    payload = {"name": name, "value": value, "text": f"{name} = {value:{fmt}}"}
    display({"text/plain": text, METRIC_MIME: json.loads(json.dumps(payload))}, raw=True)
