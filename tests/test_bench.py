"""Runs bench/fashion_mnist.py as a user would (subprocess) on the offline sample."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "fashion_mnist.py"
NUMBER = r"[\d,]+(?:\.\d+)?"

pytest.importorskip("tensorflow")


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=600)  # 75 s at load 5 under nice 19: hangs only


@pytest.mark.skipif(not os.environ.get("COURSEKIT_FASHION_MNIST_DIR"),
                    reason="needs COURSEKIT_FASHION_MNIST_DIR (set by conftest from ../shared/data)")
def test_bench_prints_a_table_row_per_model_on_the_sample(tmp_path):
    out_json = tmp_path / "rows.json"
    proc = _run("--batch-sizes", "128", "--epochs", "1", "--device", "cpu", "--data", "auto",
                "--json", str(out_json))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Fashion-MNIST SAMPLE (720 train, 180 test)" in proc.stdout
    lines = proc.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("device"))
    assert lines[header].split()[:5] == ["device", "model", "batch", "images/s", "s/epoch"]
    rows = [line.split() for line in lines[header + 2:] if line.strip()]
    assert [r[:3] for r in rows] == [["cpu", "baseline_mlp", "128"], ["cpu", "small_cnn", "128"]]
    for r in rows:
        assert all(re.fullmatch(NUMBER, cell) for cell in r[3:]), r
        assert 0.0 <= float(r[6]) <= 1.0
    saved = json.loads(out_json.read_text())
    assert [s["model"] for s in saved] == ["baseline_mlp", "small_cnn"]
    assert all(s["images_per_second"] > 0 for s in saved)


def test_synthetic_data_have_full_fashion_mnist_shapes():
    spec = importlib.util.spec_from_file_location("bench_fashion_mnist", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    (x, y), (xt, yt) = bench.synthetic_fashion_mnist()
    assert x.shape == (60_000, 28, 28) and xt.shape == (10_000, 28, 28)
    assert x.dtype == np.uint8 and y.dtype == np.uint8
    assert set(np.unique(y)) == set(range(10))


def test_bench_refuses_missing_gpu():
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    proc = _run("--device", "gpu", "--data", "synthetic", "--synthetic-size", "64", "16")
    assert proc.returncode == 2
    assert "TensorFlow sees no GPU" in proc.stderr
