"""Autograde submissions in parallel, each in the sandboxed kernel.

The parent process hands one submission at a time to ``workers`` long-lived
worker processes (each imports nbgrader once). A worker runs nbgrader's
autograde converter for that student, with the sandbox kernel, the per-cell
timeout, and an SQLite busy timeout so that two workers writing the same
gradebook wait for each other instead of failing (a failed write is retried).
A submission that runs past its wall-clock limit, or whose worker dies, is
killed and scored 0 with the reason; the other submissions are not affected.
Invalid notebook JSON and dead kernels are scored 0 by the parent, which alone
writes those grades. Results are kept as JSON reports in
``.nbgrader-work/reports/<assignment>/<student>.json`` (atomic writes), and
re-running skips submissions already graded unless ``force=True``.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from coursekit.grading.course import Course, atomic_write_json, ensure_tools_on_path

DEFAULT_WORKERS = 2
STARTUP_ALLOWANCE = 180.0  # seconds a fresh worker may take to import nbgrader


@dataclass
class TestResult:
    """One autograder test (a ``grade_id``) of one submission."""

    grade_id: str
    score: float
    max_score: float
    message: str | None = None

    @property
    def passed(self) -> bool:
        """Full points for this test."""
        return self.score >= self.max_score


@dataclass
class GradeResult:
    """The autograding result of one student's submission.

    Attributes
    ----------
    student, assignment : str
    score, max_score : float
        Total of the autograded tests (the gradebook's values).
    tests : dict
        ``grade_id`` -> :class:`TestResult` (score and failure message).
    reason : str or None
        Why the submission lost points wholesale (invalid JSON, kernel died,
        timeout, tampering); ``None`` for an ordinary run.
    flags : list of str
        Suspicious code found by the static scan (for the instructor).
    isolation : str
        ``"namespace+limits"`` or ``"limits only"``.
    seconds : float
        Wall time of this submission's autograding.
    notebooks : list of str
        Autograded notebook paths.
    submitted_sha : str
        Hash of the submitted files that were graded.
    """

    student: str
    assignment: str
    score: float = 0.0
    max_score: float = 0.0
    tests: dict[str, TestResult] = field(default_factory=dict)
    reason: str | None = None
    flags: list[str] = field(default_factory=list)
    isolation: str = ""
    seconds: float = 0.0
    notebooks: list[str] = field(default_factory=list)
    submitted_sha: str = ""

    @property
    def failed(self) -> list[str]:
        """Grade ids of the tests without full points."""
        return [gid for gid, t in self.tests.items() if not t.passed]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (see :meth:`from_dict`)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GradeResult:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        data["tests"] = {k: TestResult(**v) for k, v in data.get("tests", {}).items()}
        return cls(**data)

    def __str__(self) -> str:
        lines = [f"{self.student}: {self.score:g} / {self.max_score:g}"]
        if self.reason:
            lines.append(f"  reason: {self.reason}")
        for gid, t in self.tests.items():
            if not t.passed:
                lines.append(f"  {gid}: {t.score:g}/{t.max_score:g} {t.message or ''}".rstrip())
        return "\n".join(lines)


# ---------------------------------------------------------------------------
# helpers shared by parent and workers


def submitted_sha(course: Course, assignment: str, student: str) -> str:
    """Hash of a submission's notebooks (changes when it is collected again)."""
    folder = course.submitted_dir / student / assignment
    h = hashlib.sha256()
    for path in sorted(folder.glob("*.ipynb")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    stamp = folder / "timestamp.txt"
    if stamp.is_file():
        h.update(stamp.read_bytes())
    return h.hexdigest()


def _error_message(output: Mapping[str, Any], timeout: int) -> str:
    ename, evalue = output.get("ename", "Error"), str(output.get("evalue", "")).strip()
    if ename in ("KeyboardInterrupt", "CellTimeoutError"):
        return f"timed out: the cell ran longer than {timeout} s and was interrupted"
    return f"{ename}: {evalue}" if evalue else ename


def _cell_messages(nb_path: Path, timeout: int) -> tuple[dict[str, str], list[str], list[str]]:
    """Failure message per grade id, notes (timeouts, memory, tampering) for the reason,
    and the grade ids of test cells that passed without the guard's confirmation."""
    import nbformat

    from coursekit.grading.guard import GUARD_MIME, VERIFY_CALL

    nb = nbformat.read(str(nb_path), as_version=4)
    messages: dict[str, str] = {}
    notes: list[str] = []
    unverified: list[str] = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        where = f"cell {index}{f' ({gid})' if gid else ''}"
        outputs = cell.get("outputs", [])
        errors = [o for o in outputs if o.get("output_type") == "error"]
        is_test = meta.get("grade") and not meta.get("solution")
        if is_test and not errors and VERIFY_CALL in cell.source:
            if not any(GUARD_MIME in o.get("data", {}) for o in outputs):
                unverified.append(gid)
        if not errors:
            continue
        msg = _error_message(errors[-1], timeout)
        if gid:
            messages[gid] = msg
        ename = errors[-1].get("ename")
        if msg.startswith("timed out"):
            notes.append(f"{where} timed out after {timeout} s")
        elif ename == "MemoryError":
            notes.append(f"{where} ran out of memory")
        elif ename == "TamperingError":
            notes.append("tampering: the checking functions were modified")
    if unverified:
        notes.append("tampering: test cells were rewritten or skipped (" + ", ".join(unverified) + ")")
    return messages, list(dict.fromkeys(notes)), unverified


def read_grades(course: Course, assignment: str, student: str) -> tuple[float, float, dict[str, TestResult]]:
    """Scores of a submission from the gradebook: total, maximum, per autograded test."""
    from nbgrader.api import MissingEntry

    with course.gradebook() as gb:
        try:
            sub = gb.find_submission(assignment, student)
        except MissingEntry:
            return 0.0, 0.0, {}
        tests: dict[str, TestResult] = {}
        for snb in sub.notebooks:
            solution_ids = {c.name for c in snb.notebook.solution_cells}
            for grade in snb.grades:
                if grade.cell.cell_type != "code" or grade.name in solution_ids:
                    continue  # manually graded
                tests[grade.name] = TestResult(
                    grade.name, float(grade.score or 0.0), float(grade.max_score or 0.0)
                )
        return float(sub.score or 0.0), float(sub.max_score or 0.0), tests


def zero_submission(course: Course, assignment: str, student: str) -> None:
    """Record 0 points for every autograded test of a submission (creating it if needed)."""
    folder = course.submitted_dir / student / assignment
    with course.gradebook() as gb:
        gb.update_or_create_student(student)
        timestamp = None
        stamp = folder / "timestamp.txt"
        if stamp.is_file():
            from nbgrader.utils import parse_utc

            try:
                timestamp = parse_utc(stamp.read_text().strip())
            except (ValueError, TypeError):
                timestamp = None
        kwargs = {"timestamp": timestamp} if timestamp is not None else {}
        sub = gb.update_or_create_submission(assignment, student, **kwargs)
        for snb in sub.notebooks:
            solution_ids = {c.name for c in snb.notebook.solution_cells}
            for grade in snb.grades:
                if grade.cell.cell_type == "code" and grade.name not in solution_ids:
                    grade.auto_score = 0.0
                    grade.needs_manual_grade = False
        gb.db.commit()


_NOT_RUN = {
    "invalid": "not run: the notebook file is not a valid notebook",
    "failed": "not run: the submission could not be graded (see the reason)",
}
UNVERIFIED = (
    "0 points: this test did not run as written (code in the submission rewrote or "
    "skipped the test cell)"
)


def zero_grades(course: Course, assignment: str, student: str, grade_ids: Iterable[str]) -> None:
    """Set the autograded score of some tests of a submission to 0 (the parent's correction)."""
    wanted = set(grade_ids)
    with course.gradebook() as gb:
        sub = gb.find_submission(assignment, student)
        for snb in sub.notebooks:
            for grade in snb.grades:
                if grade.name in wanted:
                    grade.auto_score = 0.0
                    grade.needs_manual_grade = False
        gb.db.commit()


# ---------------------------------------------------------------------------
# the worker side


def _with_busy_timeout(db_url: str, seconds: int = 60) -> str:
    if db_url.startswith("sqlite:") and "timeout=" not in db_url:
        return db_url + ("&" if "?" in db_url else "?") + f"timeout={seconds}"
    return db_url


def _grade_one(task: dict[str, Any]) -> dict[str, Any]:
    """Autograde one submission (in a worker process). Returns a result dict."""
    start = time.perf_counter()
    course = Course(task["course"], timeout=task.get("timeout"))
    assignment, student = task["assignment"], task["student"]
    timeout = course.exec_timeout
    out: dict[str, Any] = {"student": student, "status": "ok", "reason": None, "messages": {}}
    folder = course.submitted_dir / student / assignment

    # 1. every notebook must be valid JSON / nbformat, else 0 with the reason
    import nbformat

    bad = []
    for path in sorted(folder.glob("*.ipynb")):
        try:
            nbformat.validate(nbformat.read(str(path), as_version=4))
        except Exception as exc:  # noqa: BLE001 - any parse problem is the student's file
            if type(exc).__name__ == "NotJSONError" or isinstance(exc, ValueError):
                why = "not valid JSON: truncated, or edited outside Jupyter?"
            else:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                why = f"{type(exc).__name__}: {first[:150]}"
            bad.append(f"{path.name} is not a valid notebook ({why})")
    if bad:
        out.update(status="invalid", reason="; ".join(bad))
        out["seconds"] = time.perf_counter() - start
        return out

    # 2. nbgrader autograde, in the sandbox kernel, with the busy-timeout gradebook URL
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        p for p in (task["jupyter_path"], os.environ.get("JUPYTER_PATH", "")) if p
    )
    overrides: dict[str, dict[str, Any]] = {
        "CourseDirectory": {"db_url": _with_busy_timeout(course.db_url)},
        "Execute": {"kernel_name": task["kernel_name"]},
    }
    error = ""
    for attempt in range(4):
        api = course.api(**overrides)
        res = api.autograde(assignment, student, force=True, create=True)
        if res.get("success"):
            error = ""
            break
        error = (res.get("error") or "") + "\n" + (res.get("log") or "")
        if "database is locked" not in error:
            break
        time.sleep(1 + attempt)
    if error:
        out["status"] = "failed"
        if "DeadKernelError" in error or "Kernel died" in error or "kernel died" in error.lower():
            out["reason"] = (
                "the kernel died while running the notebook (os._exit, a crash, or the "
                "memory limit); the tests that had not passed score 0"
            )
        elif "database is locked" in error:
            out["reason"] = "the gradebook stayed locked: grade this submission again"
        else:
            import re

            found = re.findall(r"^\s*((?:\w+\.)*\w*(?:Error|Exception|Exit)\b:?.*)$", error, re.M)
            last = found[-1].strip() if found else (error.strip().splitlines() or ["unknown error"])[-1]
            out["reason"] = "autograding failed: " + last[:300]
        out["log_tail"] = error[-4000:]
    else:
        notes: list[str] = []
        paths = sorted((course.autograded_dir / student / assignment).glob("*.ipynb"))
        out["notebooks"] = [str(p) for p in paths]
        out["unverified"] = []
        for path in paths:
            msgs, n, unverified = _cell_messages(path, timeout)
            out["messages"].update(msgs)
            out["unverified"] += unverified
            notes += n
        if notes:
            out["reason"] = "; ".join(notes)
    out["seconds"] = time.perf_counter() - start
    return out


def _worker_loop(conn: Any) -> None:
    """Worker process: import nbgrader once, then grade the tasks sent over ``conn``."""
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    try:
        os.setsid()  # the parent can kill this worker and its children as a group
    except OSError:
        pass
    ensure_tools_on_path()
    import warnings

    import nbgrader.apps  # noqa: F401 - warm up: the slow import happens once per worker
    from sqlalchemy.exc import SAWarning

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
            result = _grade_one(task)
        except Exception:  # noqa: BLE001 - report, never lose the worker silently
            result = {
                "student": task.get("student"),
                "status": "failed",
                "reason": "autograding failed: " + traceback.format_exc().strip().splitlines()[-1],
                "log_tail": traceback.format_exc()[-4000:],
                "messages": {},
            }
        conn.send(result)


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
            os.killpg(self.proc.pid, 9)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.kill()
        self.proc.join(5)
        self.conn.close()


def _run_pool(tasks: list[dict[str, Any]], workers: int, wall_limit: float,
              log: Callable[[str], None] | None) -> dict[str, dict[str, Any]]:
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
                    result = {"student": student, "status": "failed", "messages": {},
                              "reason": "the grading process died (out of memory?); scored 0"}
                    w.kill()
                    pool[i] = _Worker(ctx) if pending else w
                elif result is None and now > w.deadline:
                    result = {"student": student, "status": "failed", "messages": {},
                              "reason": f"grading took longer than {wall_limit:.0f} s and was stopped; scored 0"}
                    w.kill()
                    pool[i] = _Worker(ctx) if pending else w
                if result is not None:
                    result.setdefault("seconds", now - w.started)
                    results[student] = result
                    w.task = None
                    if log:
                        log(f"[{len(results)}/{total}] graded {student} in {result['seconds']:.1f} s"
                            + (f" ({result['reason']})" if result.get("reason") else ""))
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


# ---------------------------------------------------------------------------
# public API


def ensure_released(course: Course, assignment: str) -> None:
    """Register ``assignment`` in the gradebook (``generate_assignment``) if it is not there yet."""
    from nbgrader.api import MissingEntry

    course.notebooks(assignment)  # clear error for an unknown assignment
    with course.gradebook() as gb:
        try:
            gb.find_assignment(assignment)
            return
        except MissingEntry:
            pass
    from coursekit.grading.releasing import release

    release(course.root, [assignment], log=None)


def autograde(
    course_dir: str | os.PathLike[str],
    assignment: str,
    students: Iterable[str] | None = None,
    *,
    workers: int = DEFAULT_WORKERS,
    timeout: int | None = None,
    memory: int | str = "6G",
    nproc: int = 512,
    fsize: int | str = "200M",
    isolate: bool | None = None,
    force: bool = False,
    wall_limit: float | None = None,
    log: Callable[[str], None] | None = print,
) -> dict[str, GradeResult]:
    """Autograde the collected submissions ``submitted/<student>/<assignment>/``.

    Parameters
    ----------
    course_dir : path-like
        The course folder (holds ``nbgrader_config.py``).
    assignment : str
        Assignment name.
    students : iterable of str, optional
        Whom to grade; default: every student with a submission.
    workers : int
        Submissions graded at the same time (default 2).
    timeout : int, optional
        Per-cell limit in seconds (default: ``Execute.timeout`` of the config).
    memory, nproc, fsize
        Kernel limits: address space (``"6G"``), processes, largest file written.
    isolate : bool, optional
        Hide the course files from student code in a mount namespace
        (default: when available).
    force : bool
        Grade again submissions already graded (default: skip those whose
        files did not change since).
    wall_limit : float, optional
        Seconds one submission may take in all (default ``20 * timeout + 120``).
    log : callable, optional
        Progress lines; ``None`` for silence.

    Returns
    -------
    dict
        Student -> :class:`GradeResult`, in student order.
    """
    from coursekit.grading.sandbox import install_kernelspec

    course = Course(course_dir, timeout=timeout)
    ensure_tools_on_path()
    ensure_released(course, assignment)
    all_students = course.students(assignment)
    wanted = list(all_students if students is None else students)
    missing = [s for s in wanted if s not in all_students]
    if missing:
        raise FileNotFoundError(
            f"no submission of {assignment!r} for {', '.join(missing)} in {course.submitted_dir}: "
            "collect it first"
        )
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")

    results: dict[str, GradeResult] = {}
    todo = []
    for student in wanted:
        sha = submitted_sha(course, assignment, student)
        report = course.report_path(assignment, student)
        if not force and report.is_file():
            try:
                old = GradeResult.from_dict(json.loads(report.read_text()))
            except (ValueError, TypeError, KeyError):
                old = None
            if old is not None and old.submitted_sha == sha:
                results[student] = old
                if log:
                    log(f"{student}: already graded ({old.score:g}/{old.max_score:g}); --force to redo")
                continue
        todo.append((student, sha))

    if todo:
        hide = [str(course.root), str(course.source_dir)]
        if course.db_path is not None:
            hide.append(str(course.db_path))
        spec = install_kernelspec(
            course.work_dir, hide=hide, memory=memory, nproc=nproc, fsize=fsize, isolate=isolate
        )
        if log:
            log(f"autograding {len(todo)} submission(s) of {assignment} with {workers} worker(s); "
                f"kernel isolation: {spec['isolation']}, per-cell timeout {course.exec_timeout} s")
        limit = wall_limit if wall_limit is not None else 20 * course.exec_timeout + 120
        tasks = [
            {"course": str(course.root), "assignment": assignment, "student": s,
             "timeout": timeout, "kernel_name": spec["kernel_name"],
             "jupyter_path": spec["jupyter_path"]}
            for s, _ in todo
        ]
        raw = _run_pool(tasks, workers, limit, log)
        from coursekit.grading.scan import scan_submission

        for student, sha in todo:
            r = raw[student]
            if r["status"] != "ok":
                # the parent alone writes these grades, after the workers are done
                if r["status"] == "failed":
                    shutil.rmtree(course.autograded_dir / student / assignment, ignore_errors=True)
                zero_submission(course, assignment, student)
            elif r.get("unverified"):
                zero_grades(course, assignment, student, r["unverified"])
                for gid in r["unverified"]:
                    r["messages"][gid] = UNVERIFIED
            score, max_score, tests = read_grades(course, assignment, student)
            for gid, t in tests.items():
                if not t.passed:
                    t.message = r.get("messages", {}).get(gid) or (
                        _NOT_RUN.get(r["status"], "not run") if r["status"] != "ok"
                        else "no output (the test did not pass)"
                    )
            flags = []
            for path in sorted((course.submitted_dir / student / assignment).glob("*.ipynb")):
                flags += [f"{path.name}: {f}" for f in scan_submission(path)]
            result = GradeResult(
                student=student, assignment=assignment, score=score, max_score=max_score,
                tests=tests, reason=r.get("reason"), flags=flags, isolation=spec["isolation"],
                seconds=float(r.get("seconds", 0.0)), notebooks=r.get("notebooks", []),
                submitted_sha=sha,
            )
            payload = result.to_dict()
            if r.get("log_tail"):
                payload_log = course.work_dir / "logs" / assignment / f"{student}.log"
                payload_log.parent.mkdir(parents=True, exist_ok=True)
                payload_log.write_text(r["log_tail"])
            atomic_write_json(course.report_path(assignment, student), payload)
            results[student] = result
    return {s: results[s] for s in wanted}


def autograde_notebooks(
    course_dir: str | os.PathLike[str],
    assignment: str,
    submissions: Mapping[str, str | os.PathLike[str]],
    *,
    workers: int = DEFAULT_WORKERS,
    timeout: int | None = None,
    force: bool = True,
    log: Callable[[str], None] | None = None,
    **kwargs: Any,
) -> dict[str, GradeResult]:
    """Collect and autograde notebooks given as ``{student: path}`` (the API for tests).

    Parameters
    ----------
    course_dir : path-like
        A course folder, normally a temporary copy (see :func:`make_course_copy`);
        never the repository itself in tests.
    assignment : str
        Assignment name; released into the gradebook on first use.
    submissions : mapping
        Student id -> notebook file (or a folder of notebooks).
    workers, timeout, force, log
        As in :func:`autograde` (``force`` defaults to True here).
    **kwargs
        Passed on to :func:`autograde` (``memory``, ``isolate``, ``wall_limit`` ...).

    Returns
    -------
    dict
        Student -> :class:`GradeResult` with per-``grade_id`` scores and messages.
    """
    from coursekit.grading.collecting import collect, student_id

    course = Course(course_dir)
    ensure_tools_on_path()
    ensure_released(course, assignment)
    expected = course.notebooks(assignment)
    staging = course.work_dir / "incoming" / assignment
    students = []
    for raw, path in submissions.items():
        sid = student_id(raw)
        path = Path(path)
        target = staging / sid
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        if path.is_dir():
            for nb in path.glob("*.ipynb"):
                shutil.copy2(nb, target / nb.name)
        else:
            name = f"{expected[0]}.ipynb" if len(expected) == 1 else path.name
            shutil.copy2(path, target / name)
        students.append(sid)
    collect(course.root, assignment, staging, log=None)
    shutil.rmtree(staging, ignore_errors=True)
    return autograde(course.root, assignment, students, workers=workers, timeout=timeout,
                     force=force, log=log, **kwargs)


def make_course_copy(
    dest: str | os.PathLike[str],
    assignments: Iterable[str],
    *,
    source_root: str | os.PathLike[str] | None = None,
    source_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Create a fresh course folder at ``dest`` with some assignments (for tests).

    Parameters
    ----------
    dest : path-like
        New course folder (created).
    assignments : iterable of str
        Assignment folders to copy from the source folder.
    source_root : path-like, optional
        Course whose ``nbgrader_config.py`` is copied (default: the repository).
    source_dir : path-like, optional
        Where the assignment folders are (default: ``<source_root>/solutions``).

    Returns
    -------
    Path
        ``dest``; no gradebook yet (created on first release/autograde).
    """
    root = Path(source_root) if source_root else Path(__file__).resolve().parents[2]
    src = Path(source_dir) if source_dir else Course(root).source_dir
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(root / "nbgrader_config.py", dest / "nbgrader_config.py")
    course = Course(dest)
    for name in assignments:
        if not (src / name).is_dir():
            raise FileNotFoundError(f"no assignment folder {src / name}")
        shutil.copytree(src / name, course.source_dir / name, dirs_exist_ok=True)
    return dest


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use coursekit-grade autograde")
