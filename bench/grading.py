"""Autograding throughput: seconds per submission and wall time for a batch.

Grades N copies of an assignment's reference solution (full marks expected) in a
scratch course with the real pipeline (sandboxed kernels, W parallel workers) and
prints per-submission seconds, the batch wall time and the speed-up over one worker.

    .venv/bin/python bench/grading.py --assignment backprop --submissions 30 --workers 2

Run it from the repository root on an otherwise idle machine: the numbers are
wall-clock times and mean little under load. Quick mode (COURSEKIT_QUICK=1) is set
unless already given, as in CI.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", default="backprop")
    parser.add_argument("--submissions", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    if args.submissions < 1 or args.workers < 1:
        parser.error("--submissions and --workers must be >= 1")

    os.environ.setdefault("COURSEKIT_QUICK", "1")
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]
    from coursekit.grading import autograde_notebooks, make_course_copy, release

    source = ROOT / "solutions" / args.assignment
    notebooks = sorted(source.glob("*.ipynb"))
    if len(notebooks) != 1:
        parser.error(f"expected one notebook in {source}, found {len(notebooks)}")
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        course = make_course_copy(Path(tmp) / "course", [args.assignment])
        release(course, [args.assignment], log=None)
        subs = {f"student{i:03d}": notebooks[0] for i in range(args.submissions)}
        start = time.perf_counter()
        results = autograde_notebooks(course, args.assignment, subs, workers=args.workers)
        wall = time.perf_counter() - start
    per = [r.seconds for r in results.values()]
    full = sum(r.score == r.max_score for r in results.values())
    print(f"assignment          {args.assignment}")
    print(f"submissions         {len(results)} ({full} with full marks)")
    print(f"workers             {args.workers}")
    print(f"per submission      min {min(per):.1f} s, median {statistics.median(per):.1f} s, max {max(per):.1f} s")
    print(f"batch wall time     {wall:.1f} s ({wall / len(results):.2f} s per submission)")
    print(f"parallel speed-up   {sum(per) / wall:.2f}x over grading one at a time")
    if full < len(results):
        failures = Counter(
            f"{gid}: {t.message.splitlines()[0][:160] if t.message else 'failed'}"
            for r in results.values() for gid, t in r.tests.items() if not t.passed
        )
        print("not full marks; most common failures (is the data folder set, e.g. COURSEKIT_MNIST_DIR?):")
        for text, count in failures.most_common(5):
            print(f"  {count:3d} x {text}")
    return 0 if full == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
