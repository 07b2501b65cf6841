"""The pool: long-lived worker processes, each grading one submission at a time.

Each worker imports nbgrader once, then runs
:func:`coursekit.grading.runner.grade_submission` for the tasks it is sent and
sends back plain data. The parent enforces the per-submission wall limit: a
submission still running when its limit is hit has its worker killed (its
kernel's whole sandbox dies with it, ``bwrap --die-with-parent``) and gets a
reason saying so; a worker that dies gets a reason with its exit status. In
both cases the blame is on the submission that worker was grading, and the
other submissions go on. No worker writes the gradebook.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import wait
from typing import Any

STARTUP_ALLOWANCE = 180.0  # seconds a fresh worker may take to import nbgrader


def _worker_loop(conn: Any) -> None:
    """Worker process: import nbgrader once, then grade the tasks sent over ``conn``."""
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    try:
        os.setsid()  # the parent can kill this worker and its children as a group
    except OSError:
        pass
    from coursekit.grading.course import ensure_tools_on_path

    ensure_tools_on_path()
    import warnings

    import nbgrader.apps  # noqa: F401 - warm up: the slow import happens once per worker
    from sqlalchemy.exc import SAWarning

    from coursekit.grading.runner import grade_submission

    # nbgrader's own autograde triggers harmless SQLAlchemy autoflush warnings
    warnings.simplefilter("ignore", SAWarning)
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        conn.send({"started": task.get("student")})
        try:
            result = grade_submission(task)
        except Exception:  # noqa: BLE001 - report, never lose the worker silently
            result = {
                "student": task.get("student"),
                "status": "failed",
                "reason": "autograding failed: " + traceback.format_exc().strip().splitlines()[-1],
                "log_tail": traceback.format_exc()[-4000:],
                "messages": {},
            }
        conn.send(result)


def _exit_text(code: int | None) -> str:
    if code is None:
        return "it stopped answering"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


class _Worker:
    def __init__(self, ctx: Any) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_loop, args=(child,), daemon=True)
        self.proc.start()
        child.close()
        self.task: dict[str, Any] | None = None
        self.deadline = 0.0
        self.started = 0.0

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.kill()
        self.proc.join(5)
        self.conn.close()


def run_pool(tasks: list[dict[str, Any]], workers: int, wall_limit: float,
             log: Callable[[str], None] | None, *,
             on_result: Callable[[str, dict[str, Any]], None] | None = None) -> dict[str, dict[str, Any]]:
    """Grade ``tasks`` with ``workers`` processes; return student -> the runner's result.

    Every task gets a result, with a reason when its worker died or ran past
    ``wall_limit`` seconds. ``on_result(student, result)`` is called in this
    process as each result arrives (the single writer records it there).
    """
    ctx = multiprocessing.get_context("spawn")
    pending = list(tasks)
    pool = [_Worker(ctx) for _ in range(max(1, min(workers, len(tasks))))]
    results: dict[str, dict[str, Any]] = {}
    total = len(tasks)
    try:
        while pending or any(w.task for w in pool):
            for i, w in enumerate(pool):
                if w.task is None and pending:
                    if not w.proc.is_alive():
                        pool[i] = w = _Worker(ctx)
                    w.task = pending.pop(0)
                    w.started = time.perf_counter()
                    # a fresh worker first imports nbgrader: the limit starts when it begins
                    w.deadline = w.started + wall_limit + STARTUP_ALLOWANCE
                    w.conn.send(w.task)
            busy = [w for w in pool if w.task]
            ready = wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout=1.0)
            now = time.perf_counter()
            for i, w in enumerate(pool):
                if not w.task:
                    continue
                student = w.task["student"]
                result = None
                if w.conn in ready:
                    try:
                        result = w.conn.recv()
                    except (EOFError, OSError):
                        result = None
                    if result is not None and "started" in result:
                        w.started = now
                        w.deadline = now + wall_limit
                        result = None
                        ready = [x for x in ready if x is not w.conn]
                if result is None and (w.proc.sentinel in ready or not w.proc.is_alive()):
                    w.proc.join(1)
                    why = _exit_text(w.proc.exitcode)
                    result = {"student": student, "status": "failed", "messages": {},
                              "reason": f"the grading worker of this submission died ({why}); scored 0"}
                    w.kill()
                    pool[i] = _Worker(ctx) if pending else w
                elif result is None and now > w.deadline:
                    result = {"student": student, "status": "failed", "messages": {},
                              "reason": f"wall limit hit: still running after {wall_limit:.0f} s, "
                              "so its kernel's whole sandbox was killed; scored 0"}
                    w.kill()
                    pool[i] = _Worker(ctx) if pending else w
                if result is not None:
                    result.setdefault("seconds", now - w.started)
                    results[student] = result
                    w.task = None
                    if log:
                        log(f"[{len(results)}/{total}] graded {student} in {result['seconds']:.1f} s"
                            + (f" ({result['reason']})" if result.get("reason") else ""))
                    if on_result:
                        on_result(student, result)
    finally:
        for w in pool:
            if w.proc.is_alive():
                try:
                    w.conn.send(None)
                except OSError:
                    pass
        for w in pool:
            w.proc.join(10)
            if w.proc.is_alive():
                w.kill()
    return results
