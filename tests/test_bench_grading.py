"""bench/grading.py grades reference copies and prints its throughput table."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_grading_bench_prints_seconds_per_submission_and_wall_time():
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "grading.py"), "--assignment", "backprop",
         "--submissions", "2", "--workers", "2"],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "submissions         2 (2 with full marks)" in out.stdout
    assert re.search(r"per submission\s+min \d+\.\d s, median \d+\.\d s, max \d+\.\d s", out.stdout)
    assert re.search(r"batch wall time\s+\d+\.\d s", out.stdout)


def test_grading_bench_interleaves_pool_and_clusters_and_prints_the_scaling(monkeypatch, capsys):
    """``--cluster local:1 --cluster local:2 --rounds 2``: the order and the ratios, nothing graded."""
    import argparse
    import importlib.util
    from types import SimpleNamespace

    spec = importlib.util.spec_from_file_location("bench_grading", ROOT / "bench" / "grading.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    walls = {None: 100.0, "local:1": 200.0, "local:2": 100.0}  # pool, one worker, two workers
    order = []

    def grade_once(args, notebook, mode):
        order.append(mode)
        results = {f"s{i}": SimpleNamespace(score=5.0, max_score=5.0, seconds=20.0) for i in range(args.submissions)}
        lines = [] if mode is None else [
            "cluster batch: 8 submission(s); sent 0.74 MB (92 kB each), got back 0.40 MB; client packing "
            "19 ms each; client writer 0.40 s (50 ms each); median overhead per task (round trip less "
            "grading) 0.30 s"]
        return walls[mode], results, lines

    monkeypatch.setattr(bench, "_grade_once", grade_once)
    args = argparse.Namespace(assignment="backprop", submissions=8, workers=2, rounds=2,
                              cluster=["local:1", "local:2"])
    assert bench._bench_clusters(args, ROOT / "x.ipynb", walls[None], [20.0] * 8) == 0
    out = capsys.readouterr().out
    # round 1 reuses the pool run main() made; round 2 grades all three again, rotated
    assert order == ["local:1", "local:2", "local:1", "local:2", None]
    assert re.search(r"--cluster local:1 +200\.0 +2\.4 +20\.0 +0\.50x +1\.00x", out), out
    assert re.search(r"--cluster local:2 +100\.0 +4\.8 +20\.0 +1\.00x +2\.00x", out), out
    assert "local:2 / local:1 = 2.00x; local:1 / pool --workers 2 = 0.50x; local:2 / pool --workers 2 = 1.00x" in out
    assert "client packs a task in 19 ms and writes a result in 50 ms" in out
