"""The single writer's cost per graded submission as the gradebook grows.

On a cluster every result comes back to one process, which records it in the
SQLite gradebook (``write_result``, then ``read_grades``, as autograde's writer
does). This grows the gradebook of a scratch course (the ``tiny`` test fixture
assignment) to ``--students`` full-mark submissions and prints the milliseconds
per submission for each slice of ``--every``, so the projection for a large
course can use the cost at its size rather than at 4 students.

    .venv/bin/python bench/gradebook_writer.py --students 5000 --every 1000

Wall-clock numbers mean little on a loaded machine; the CPU column (this
process's own CPU time per submission) is the steadier figure there.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "grading" / "solutions"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=5000)
    parser.add_argument("--every", type=int, default=1000, help="print one line per this many submissions")
    args = parser.parse_args(argv)
    if args.students < 1 or args.every < 1:
        parser.error("--students and --every must be >= 1")
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]
    from coursekit.grading import make_course_copy
    from coursekit.grading.autograding import ensure_released
    from coursekit.grading.course import Course
    from coursekit.grading.writer import read_grades, write_result

    with tempfile.TemporaryDirectory(prefix="bench-writer-") as tmp:
        course = Course(make_course_copy(Path(tmp) / "course", ["tiny"], source_dir=FIXTURE))
        ensure_released(course, "tiny")
        with course.gradebook() as gb:  # full marks on every autograded test
            nb = gb.find_notebook("tiny", "tiny")
            grades = {"tiny": {"grades": {c.name: {"auto_score": float(c.max_score), "needs_manual_grade": False}
                                          for c in nb.grade_cells if c.cell_type == "code"},
                               "comments": {}, "late_penalty": None}}
        full = sum(g["auto_score"] for g in grades["tiny"]["grades"].values())
        print(f"gradebook writer, tiny assignment ({len(grades['tiny']['grades'])} autograded tests), "
              f"{args.students} submissions")
        print(f"{'submissions':>12s} {'wall ms each (median)':>22s} {'(max)':>8s} {'CPU ms each (median)':>21s} "
              f"{'gradebook MB':>13s}")
        times: list[float] = []
        cpu: list[float] = []
        for i in range(args.students):
            tic, cpu0 = time.perf_counter(), time.process_time()
            write_result(course, "tiny", f"student{i:05d}", grades)
            score, _, _ = read_grades(course, "tiny", f"student{i:05d}")
            times.append(time.perf_counter() - tic)
            cpu.append(time.process_time() - cpu0)
            if score != full:
                print(f"student{i:05d}: read back {score}, wrote {full}")
                return 1
            if (i + 1) % args.every == 0 or i + 1 == args.students:
                chunk = times[-args.every:]
                size = course.db_path.stat().st_size / 1e6 if course.db_path else float("nan")
                print(f"{i + 1:12d} {1000 * statistics.median(chunk):22.1f} {1000 * max(chunk):8.1f} "
                      f"{1000 * statistics.median(cpu[-args.every:]):21.1f} {size:13.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
