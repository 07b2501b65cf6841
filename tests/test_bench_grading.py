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
