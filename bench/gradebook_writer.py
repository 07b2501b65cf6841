"""The single writer's cost per graded submission as the gradebook grows: per-call vs batch session.

On a cluster every result comes back to one process, which records it in the
SQLite gradebook and reads the scores back, as autograde's writer does. Two ways:

- ``per-call``: ``write_result`` then ``read_grades``, each opening its own
  nbgrader ``Gradebook`` (what autograde did before the batch writer);
- ``batch``: one ``GradebookWriter`` open for the whole batch, ``write`` then
  ``read`` (what autograde does now; one transaction per submission).

Each session grows the gradebook of its own scratch course (the ``tiny`` test
fixture assignment) to ``--students`` full-mark submissions. With
``--session both`` the two are interleaved, ``--every`` submissions at a time,
so drift in the machine's speed falls on both alike; one line per slice gives
the milliseconds per submission at that size, so a projection for a large
course can use the cost at its size rather than at 4 students.

    .venv/bin/python bench/gradebook_writer.py --session both --students 2000 --every 400

Wall-clock numbers mean little on a loaded machine; the CPU column (this
process's own CPU time per submission) is the steadier figure there.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "grading" / "solutions"
SESSIONS = ("per-call", "batch")


def _course(tmp: Path, name: str) -> tuple[Any, dict[str, Any], float]:
    from coursekit.grading import make_course_copy
    from coursekit.grading.autograding import ensure_released
    from coursekit.grading.course import Course

    course = Course(make_course_copy(tmp / name, ["tiny"], source_dir=FIXTURE))
    ensure_released(course, "tiny")
    with course.gradebook() as gb:  # full marks on every autograded test
        nb = gb.find_notebook("tiny", "tiny")
        grades = {"tiny": {"grades": {c.name: {"auto_score": float(c.max_score), "needs_manual_grade": False}
                                      for c in nb.grade_cells if c.cell_type == "code"},
                           "comments": {}, "late_penalty": None}}
    return course, grades, sum(g["auto_score"] for g in grades["tiny"]["grades"].values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=2000)
    parser.add_argument("--every", type=int, default=400, help="print one line per this many submissions")
    parser.add_argument("--session", choices=[*SESSIONS, "both"], default="both",
                        help="per-call: a Gradebook per write and per read; batch: one GradebookWriter")
    args = parser.parse_args(argv)
    if args.students < 1 or args.every < 1:
        parser.error("--students and --every must be >= 1")
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]
    from coursekit.grading.writer import GradebookWriter, read_grades, write_result

    modes = list(SESSIONS) if args.session == "both" else [args.session]
    with tempfile.TemporaryDirectory(prefix="bench-writer-") as tmp, contextlib.ExitStack() as stack:
        setups = {m: _course(Path(tmp), m) for m in modes}
        writer = None
        if "batch" in setups:
            writer = stack.enter_context(GradebookWriter(setups["batch"][0], "tiny"))
        ntests = len(next(iter(setups.values()))[1]["tiny"]["grades"])
        print(f"gradebook writer, tiny assignment ({ntests} autograded tests), {args.students} submissions, "
              f"session: {', '.join(modes)}" + (" (interleaved slices)" if len(modes) > 1 else ""))
        print(f"{'session':>9s} {'submissions':>12s} {'wall ms each (median)':>22s} {'(max)':>8s} "
              f"{'CPU ms each (median)':>21s} {'gradebook MB':>13s}")
        times: dict[str, list[float]] = {m: [] for m in modes}
        cpu: dict[str, list[float]] = {m: [] for m in modes}
        for lo in range(0, args.students, args.every):
            hi = min(args.students, lo + args.every)
            for mode in modes:
                course, grades, full = setups[mode]
                for i in range(lo, hi):
                    student = f"student{i:05d}"
                    tic, cpu0 = time.perf_counter(), time.process_time()
                    if writer is not None and mode == "batch":
                        writer.write(student, grades)
                        score, _, _ = writer.read(student)
                    else:
                        write_result(course, "tiny", student, grades)
                        score, _, _ = read_grades(course, "tiny", student)
                    times[mode].append(time.perf_counter() - tic)
                    cpu[mode].append(time.process_time() - cpu0)
                    if score != full:
                        print(f"{mode}: {student}: read back {score}, wrote {full}")
                        return 1
                chunk, cchunk = times[mode][lo:hi], cpu[mode][lo:hi]
                size = course.db_path.stat().st_size / 1e6 if course.db_path else float("nan")
                print(f"{mode:>9s} {hi:12d} {1000 * statistics.median(chunk):22.1f} {1000 * max(chunk):8.1f} "
                      f"{1000 * statistics.median(cchunk):21.1f} {size:13.1f}", flush=True)
        print(f"\n{'all ' + str(args.students):>22s} {'wall ms each (median)':>22s} {'CPU ms each (median)':>21s}")
        for mode in modes:
            print(f"{mode:>22s} {1000 * statistics.median(times[mode]):22.1f} "
                  f"{1000 * statistics.median(cpu[mode]):21.1f}")
        if len(modes) > 1:
            print(f"{'per-call / batch':>22s} {statistics.median(times['per-call']) / statistics.median(times['batch']):21.1f}x "
                  f"{statistics.median(cpu['per-call']) / statistics.median(cpu['batch']):20.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
