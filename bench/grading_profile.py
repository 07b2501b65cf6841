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
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _cpu() -> float:
    """CPU seconds of this process and of its children that have ended (kernels, zygotes)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class _UidCpu:
    """CPU seconds of every process of one uid (the sandboxes'), polled from ``/proc``.

    Sandboxed processes are not reaped by this process (bwrap's own init does that), so
    their time never reaches ``RUSAGE_CHILDREN``; a process's last 50 ms may be missed.
    """

    def __init__(self, uid: int, every: float = 0.05):
        self.uid, self.every, self.seen = uid, every, {}
        self.tick = os.sysconf("SC_CLK_TCK")
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        while not self.stop.wait(self.every):
            self.scan()

    def scan(self) -> None:
        for entry in os.scandir("/proc"):
            try:
                if not entry.name.isdigit() or entry.stat().st_uid != self.uid:
                    continue
                with open(f"/proc/{entry.name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                start = fields[19]  # starttime: a pid reused later is another process
                self.seen[(entry.name, start)] = (int(fields[11]) + int(fields[12])) / self.tick
            except (OSError, IndexError, ValueError):
                continue

    def total(self) -> float:
        self.scan()
        return sum(self.seen.values())

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


def _timed_server(wrap: Any, timeout: float, preload: tuple[str, ...], warmup: str = "") -> Any:
    from coursekit.grading.isolated import ForkServer

    class Timed(ForkServer):
        def __init__(self) -> None:
            super().__init__(wrap, start_limit=timeout, preload=preload, warmup=warmup)
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


def _stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _kernel_phases(out: dict[str, Any], t0: float) -> dict[str, float]:
    """Split the nbgrader kernel run by nbclient's per-cell timestamps (``metadata.execution``):
    before the first cell (notebook checks, sandbox and kernel start, nbgrader's preprocessors),
    each code cell (by grade id or first line), after the last cell (nbgrader's saving and its
    private gradebook)."""
    import nbformat

    cells: dict[str, float] = {}
    first, last = None, None
    for path in out["notebooks"]:
        for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
            run = cell.get("metadata", {}).get("execution", {})
            if cell.cell_type != "code" or "iopub.status.busy" not in run or "iopub.status.idle" not in run:
                continue
            busy, idle = _stamp(run["iopub.status.busy"]), _stamp(run["iopub.status.idle"])
            first, last = min(first or busy, busy), max(last or idle, idle)
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            line = next((ln for ln in cell.source.splitlines() if ln.strip() and not ln.startswith("#")), "")
            cells[f"cell {index} {gid or line[:30]}"] = idle - busy
    if first is None:
        return {}
    return {"  before the first cell (sandbox, kernel start, preprocessors)": first - t0,
            "  all notebook cells": sum(cells.values()),
            "  after the last cell (nbgrader saves, private gradebook)":
                t0 + out["phases"]["notebook"] - last, **cells}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", default="backprop")
    parser.add_argument("--repeat", type=int, default=3, help="grade the submission this many times")
    parser.add_argument("--starts", type=int, default=5, help="fresh worker processes to time")
    parser.add_argument("--no-before", action="store_true",
                        help="skip the fresh-process-per-test comparison and the start-up timings")
    parser.add_argument("--cells", type=int, default=8, help="print this many of the slowest notebook cells")
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
    from coursekit.grading.runner import grade_submission, submission_task
    from coursekit.grading.sandbox import install_kernelspec
    from coursekit.grading.writer import snapshot

    print(f"coursekit from      {Path(coursekit.__file__).parent}")
    notebook = next((ROOT / "solutions" / args.assignment).glob("*.ipynb"))
    rows: dict[str, list[float]] = defaultdict(list)
    for name in ("runner total (kernel + isolated + the before-run)", "  CPU s: runner total, here + sandboxed",
                 "nbgrader kernel run (notebook)", "  CPU s here: kernel run (runner, nbgrader)",
                 "  CPU s sandboxed: the kernel",
                 "  before the first cell (sandbox, kernel start, preprocessors)", "  all notebook cells",
                 "  after the last cell (nbgrader saves, private gradebook)",
                 "isolated, one zygote per submission", "  CPU s here: isolated tests (grading process)",
                 "  CPU s sandboxed: zygote and workers"):
        rows[name] = []  # the order of the table
    per_test: dict[str, list[float]] = defaultdict(list)
    per_cell: dict[str, list[float]] = defaultdict(list)
    seen_in_sandbox: set[str] = set()
    cpu: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        root = make_course_copy(Path(tmp) / "course", [args.assignment])
        release(root, [args.assignment], log=None)
        autograde_notebooks(root, args.assignment, {"student000": notebook}, workers=1)  # collects it
        course = Course(root)
        spec = install_kernelspec(course.work_dir)
        task = submission_task(root, args.assignment, "student000", spec=spec,
                               snapshot=snapshot(course, Path(tmp) / "snap.db"), uid=2_000_000 + 4242)

        def grader(source: Path, submitted: Path, *, wrap: Any, timeout: float, trained: Any = None) -> dict:
            plan = plan_for(nbformat.read(str(source), as_version=4), nbformat.read(str(submitted), as_version=4))
            cpu["isolated"], cpu["sandbox isolated"] = _cpu(), sandboxes.total()
            rows["  CPU s here: kernel run (runner, nbgrader)"].append(cpu["isolated"] - cpu["start"])
            rows["  CPU s sandboxed: the kernel"].append(cpu["sandbox isolated"] - cpu["sandbox start"])
            server = _timed_server(wrap, timeout, plan.locked_imports(), plan.setup_source())
            try:
                start = time.perf_counter()
                results = grade_plan(plan, server, timeout, trained=trained)
                rows["isolated, one zygote per submission"].append(time.perf_counter() - start)
            finally:
                server.close()
            rows["  CPU s here: isolated tests (grading process)"].append(_cpu() - cpu["isolated"])
            rows["  CPU s sandboxed: zygote and workers"].append(sandboxes.total() - cpu["sandbox isolated"])
            for key, value in server.t.items():
                rows[f"  {key}"].append(value)
            seen_in_sandbox.add(f"{server.info.get('coursekit')} (sandboxed: {server.info.get('sandboxed')})")
            for gid, r in results.items():
                per_test[gid + (" (the notebook's own variables)" if r.from_notebook else "")].append(r.seconds)
            if args.no_before:
                return results
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

        sandboxes = _UidCpu(task["uid"])
        for _ in range(args.repeat):
            t0, cpu["start"], cpu["sandbox start"] = time.time(), _cpu(), sandboxes.total()
            out = grade_submission(task, isolated=grader, overlap=False)  # one phase after the other
            rows["  CPU s: runner total, here + sandboxed"].append(
                _cpu() - cpu["start"] + sandboxes.total() - cpu["sandbox start"])
            assert out["status"] == "ok", out.get("reason")
            rows["nbgrader kernel run (notebook)"].append(out["phases"]["notebook"])
            for name, value in _kernel_phases(out, t0).items():
                (rows if name.startswith("  ") else per_cell)[name].append(value)
            rows["runner total (kernel + isolated + the before-run)"].append(out["seconds"])
        sandboxes.close()
    print(f"zygote's coursekit  {', '.join(sorted(seen_in_sandbox))}")
    print(f"assignment          {args.assignment}, {args.repeat} submission(s), {len(per_test)} tests each")
    print(f"{'phase':52s} {'median s':>9s} {'min':>7s} {'max':>7s}")
    for name, values in ((n, v) for n, v in rows.items() if v):
        print(f"{name:52s} {statistics.median(values):9.3f} {min(values):7.3f} {max(values):7.3f}")
    print("per notebook cell in the kernel run (nbclient's busy to idle):")
    for name, values in sorted(per_cell.items(), key=lambda kv: -statistics.median(kv[1]))[:args.cells]:
        print(f"  {name:50s} {statistics.median(values):9.3f}")
    print("per test with the zygote (fork to clean-up):")
    for gid, values in per_test.items():
        print(f"  {gid:50s} {statistics.median(values):9.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
