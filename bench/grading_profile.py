"""Where the time of one isolated-graded submission goes (issue 11, section 6).

Grades one copy of the reference solution with the real runner (nbgrader with the
sandboxed kernel, then the isolated tests in the sandbox) and prints a breakdown: the
nbgrader kernel run, the isolated tests with one zygote per submission (its start-up,
each fork and clean-up, each test), and, in the same run, the isolated tests with a
fresh sandboxed process per test (the design before the zygote) and what one such
process costs to start (bwrap + Python + numpy + coursekit).

    .venv/bin/python bench/grading_profile.py --assignment backprop --repeat 3

Wall-clock times: run it on an otherwise idle machine. Quick mode is set unless given.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _timed_server(wrap: Any, timeout: float) -> Any:
    from coursekit.grading.isolated import ForkServer

    class Timed(ForkServer):
        def __init__(self) -> None:
            super().__init__(wrap, start_limit=timeout)
            self.t: dict[str, float] = defaultdict(float)

        def _start(self) -> None:
            t = time.perf_counter()
            super()._start()
            self.t["zygote start"] += time.perf_counter() - t

        def fork(self, test: str) -> Any:
            t, before = time.perf_counter(), self.t["zygote start"]
            try:
                return super().fork(test)
            finally:
                self.t["forks"] += time.perf_counter() - t - (self.t["zygote start"] - before)

        def clean(self) -> None:
            t = time.perf_counter()
            super().clean()
            self.t["clean-ups"] += time.perf_counter() - t
    return Timed()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", default="backprop")
    parser.add_argument("--repeat", type=int, default=3, help="grade the submission this many times")
    parser.add_argument("--starts", type=int, default=5, help="fresh worker processes to time")
    args = parser.parse_args(argv)
    os.environ.setdefault("COURSEKIT_QUICK", "1")
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    import nbformat

    import coursekit
    from coursekit.grading import autograde_notebooks, make_course_copy, release
    from coursekit.grading.course import Course
    from coursekit.grading.isolated import RemoteWorker, grade_plan
    from coursekit.grading.isolated_source import plan_for
    from coursekit.grading.runner import grade_submission
    from coursekit.grading.sandbox import install_kernelspec
    from coursekit.grading.writer import snapshot

    print(f"coursekit from      {Path(coursekit.__file__).parent}")
    notebook = next((ROOT / "solutions" / args.assignment).glob("*.ipynb"))
    rows: dict[str, list[float]] = defaultdict(list)
    per_test: dict[str, list[float]] = defaultdict(list)
    seen_in_sandbox: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        root = make_course_copy(Path(tmp) / "course", [args.assignment])
        release(root, [args.assignment], log=None)
        autograde_notebooks(root, args.assignment, {"student000": notebook}, workers=1)  # collects it
        course = Course(root)
        spec = install_kernelspec(course.work_dir)
        task = {"course": str(root), "assignment": args.assignment, "student": "student000", "timeout": None,
                "kernel_name": spec["kernel_name"], "jupyter_path": spec["jupyter_path"],
                "snapshot": str(snapshot(course, Path(tmp) / "snap.db")), "uid": 2_000_000 + 4242,
                "limits": {"memory": spec["memory"], "nproc": spec["nproc"], "fsize": spec["fsize"]},
                "isolation": spec["isolation"]}

        def grader(source: Path, submitted: Path, *, wrap: Any, timeout: float) -> dict:
            plan = plan_for(nbformat.read(str(source), as_version=4), nbformat.read(str(submitted), as_version=4))
            server = _timed_server(wrap, timeout)
            try:
                start = time.perf_counter()
                results = grade_plan(plan, server, timeout)
                rows["isolated, one zygote per submission"].append(time.perf_counter() - start)
            finally:
                server.close()
            for key, value in server.t.items():
                rows[f"  {key}"].append(value)
            seen_in_sandbox.add(f"{server.info.get('coursekit')} (sandboxed: {server.info.get('sandboxed')})")
            for gid, r in results.items():
                per_test[gid].append(r.seconds)
            start = time.perf_counter()
            old = grade_plan(plan, lambda: RemoteWorker(wrap), timeout)
            rows["isolated, a fresh process per test (before)"].append(time.perf_counter() - start)
            assert all(r.passed for r in old.values()), {g: r.message for g, r in old.items() if not r.passed}
            for _ in range(args.starts):
                start = time.perf_counter()
                worker = RemoteWorker(wrap)
                worker.start(timeout)
                rows["  one fresh process: start to ready"].append(time.perf_counter() - start)
                worker.close()
            return results

        for _ in range(args.repeat):
            out = grade_submission(task, isolated=grader)
            assert out["status"] == "ok", out.get("reason")
            rows["nbgrader kernel run (notebook)"].append(out["phases"]["notebook"])
            rows["runner total (kernel + isolated + the before-run)"].append(out["seconds"])
    print(f"zygote's coursekit  {', '.join(sorted(seen_in_sandbox))}")
    print(f"assignment          {args.assignment}, {args.repeat} submission(s), {len(per_test)} tests each")
    print(f"{'phase':52s} {'median s':>9s} {'min':>7s} {'max':>7s}")
    for name, values in rows.items():
        print(f"{name:52s} {statistics.median(values):9.3f} {min(values):7.3f} {max(values):7.3f}")
    print("per test with the zygote (fork to clean-up):")
    for gid, values in per_test.items():
        print(f"  {gid:50s} {statistics.median(values):9.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
