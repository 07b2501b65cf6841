"""`import coursekit` stays light: no TensorFlow, no matplotlib, no nbgrader."""

from __future__ import annotations

import json
import subprocess
import sys

CODE = """
import json, sys, time
t = time.perf_counter()
import coursekit
elapsed = time.perf_counter() - t
heavy = [m for m in ("tensorflow", "keras", "matplotlib", "nbgrader", "jupyter_server") if m in sys.modules]
print(json.dumps({"heavy": heavy, "seconds": elapsed}))
"""


def test_import_coursekit_leaves_tensorflow_out_of_sys_modules():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result["heavy"] == [], f"import coursekit pulled in {result['heavy']}"


def test_submodules_load_on_first_use():
    code = "import sys, coursekit; coursekit.datasets; print('coursekit.datasets' in sys.modules, 'coursekit.plot' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]
