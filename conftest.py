"""Test-session set-up shared by the unit tests and the nbval notebook runs.

Environment variables are set here, at import, so that every Jupyter kernel
that nbval or nbclient starts inherits them: quick mode, headless plotting,
quiet TensorFlow, and the offline data samples beside the project.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SHARED_DATA = ROOT.parent / "shared" / "data"

os.environ.setdefault("COURSEKIT_QUICK", "1")
os.environ.setdefault("COURSEKIT_HEADLESS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("PYTHONHASHSEED", "0")
for _var, _folder in (
    ("COURSEKIT_FASHION_MNIST_DIR", "fashion-mnist-sample"),
    ("COURSEKIT_MNIST_DIR", "mnist-sample"),
):
    if (SHARED_DATA / _folder).is_dir():
        os.environ.setdefault(_var, str(SHARED_DATA / _folder))
# nbgrader creates its gradebook through the `alembic` executable found on PATH.
_bin = str(Path(sys.executable).parent)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")

# Notebooks that unit tests execute on purpose are fixtures, not nbval targets.
collect_ignore_glob = ["tests/fixtures/*", "solutions/*", "assignments/*", "build/*"]
