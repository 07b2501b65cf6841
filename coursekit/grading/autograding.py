"""Autograde submissions: the public API over the pool, the runner and the writer.

The layout (imports point down only)::

    autograding   the API: which submissions, the kernelspec, the batch, the reports
      |- pool       worker processes, wall limit, observed reasons for dead workers
      |    `- runner   one submission: nbgrader against a private gradebook copy,
      |         |      strict per-test scores, the isolated test runner
      |         |- isolated  (H2) grade each function in a fresh sandboxed process
      |         |- kernel_export  the training variables the kernel leaves at shutdown
      |         `- sandbox   bubblewrap command lines, the kernel launcher
      `- writer     the single gradebook writer (only this process writes grades)

A submission that runs past its wall limit, or whose worker or kernel dies,
scores 0 with a reason saying what was observed; the others are not affected.
Results are kept as JSON reports in
``.nbgrader-work/reports/<assignment>/<student>.json`` (atomic writes), and
re-running skips submissions already graded unless ``force=True``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from coursekit.grading.course import (
    Course,
    atomic_write_json,
    ensure_tools_on_path,
    make_course_copy,
)
from coursekit.grading.results import GradeResult, TestResult, submitted_sha

__all__ = ["GradeResult", "TestResult", "autograde", "autograde_notebooks", "ensure_released",
           "make_course_copy", "default_wall_limit"]

DEFAULT_WORKERS = 2
_NOT_RUN = {
    "invalid": "not run: the notebook file is not a valid notebook",
    "failed": "not run: the submission could not be graded (see the reason)",
}


def default_wall_limit(timeout: int) -> float:
    """Seconds one submission may take in all: ``2 * timeout``, within 2 to 15 minutes."""
    return float(min(900, max(120, 2 * timeout)))


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


def _uid_base() -> int:
    from coursekit.grading.sandbox import UID_BASE

    return UID_BASE + (os.getpid() % 1000) * 10_000


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
    cluster: Any = None,
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
        ``None``/``True``: run student code in the bubblewrap sandbox, and refuse
        (:class:`~coursekit.grading.sandbox.SandboxUnavailable`) where it cannot
        work; ``False`` (``--no-isolation``): resource limits only.
    force : bool
        Grade again submissions already graded (default: skip those whose
        files did not change since).
    wall_limit : float, optional
        Seconds one submission may take in all (default :func:`default_wall_limit`).
    cluster : str or distributed.Client, optional
        Grade on Dask instead of the local pool: ``local:N``, ``tcp://host:8786``,
        ``slurm:jobs=J,cores=C,memory=M`` (:mod:`coursekit.grading.distributed`);
        ``workers`` is then ignored. Each result is recorded as it arrives.
    log : callable, optional
        Progress lines; ``None`` for silence.

    Returns
    -------
    dict
        Student -> :class:`GradeResult`, in student order.
    """
    from coursekit.grading.sandbox import (
        SandboxUnavailable,
        bwrap_problem,
        install_kernelspec,
        parse_size,
    )

    course = Course(course_dir, timeout=timeout)
    ensure_tools_on_path()
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if isolate is not False:
        problem = bwrap_problem()
        if problem:
            raise SandboxUnavailable(
                f"cannot sandbox student code: {problem}. Grading without the sandbox lets "
                "submissions read the gradebook and the solutions: pass --no-isolation "
                "(isolate=False) only if you accept that.")
    ensure_released(course, assignment)
    all_students = course.students(assignment)
    wanted = list(all_students if students is None else students)
    missing = [s for s in wanted if s not in all_students]
    if missing:
        raise FileNotFoundError(
            f"no submission of {assignment!r} for {', '.join(missing)} in {course.submitted_dir}: "
            "collect it first"
        )

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
    if not todo:
        return {s: results[s] for s in wanted}

    from coursekit.grading.pool import run_pool
    from coursekit.grading.runner import submission_task
    from coursekit.grading.scan import scan_submission
    from coursekit.grading.writer import GradebookWriter, snapshot

    spec = install_kernelspec(course.work_dir, memory=memory, nproc=nproc, fsize=fsize,
                              isolate=isolate is not False)
    limits = {"memory": parse_size(memory), "nproc": int(nproc), "fsize": parse_size(fsize)}
    limit = wall_limit if wall_limit is not None else default_wall_limit(course.exec_timeout)
    snap = snapshot(course, course.work_dir / "gradebook-snapshot.db")
    if log:
        where = f"on the Dask cluster {cluster}" if cluster is not None else f"with {workers} worker(s)"
        log(f"autograding {len(todo)} submission(s) of {assignment} {where}; "
            f"kernel isolation: {spec['isolation']}, per-cell timeout {course.exec_timeout} s, "
            f"wall limit {limit:.0f} s per submission")
    base = _uid_base()
    tasks = [submission_task(course.root, assignment, s, spec=spec, snapshot=snap, uid=base + i,
                             timeout=timeout, limits=limits)
             for i, (s, _) in enumerate(todo)]
    shas = dict(todo)

    def record(student: str, r: dict[str, Any]) -> None:
        sha = shas[student]
        if r["status"] == "failed":
            shutil.rmtree(course.autograded_dir / student / assignment, ignore_errors=True)
        # the single writer: this process alone records grades, one transaction per submission
        writer.write(student, r.get("grades") if r["status"] == "ok" else None)
        score, max_score, tests = writer.read(student)
        for gid, t in tests.items():
            t.note = r.get("test_notes", {}).get(gid)  # the notebook's run disagreed with the isolated score
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
        if r.get("log_tail"):
            payload_log = course.work_dir / "logs" / assignment / f"{student}.log"
            payload_log.parent.mkdir(parents=True, exist_ok=True)
            payload_log.write_text(r["log_tail"])
        atomic_write_json(course.report_path(assignment, student), result.to_dict())
        results[student] = result

    # one gradebook session for the whole batch; each submission is committed (and its
    # report written) as it is recorded, so a crash later loses none of them
    with GradebookWriter(course, assignment) as writer:
        try:
            if cluster is None:
                raw = run_pool(tasks, workers, limit, log, on_result=record)
            else:
                from coursekit.grading.distributed import run_cluster

                raw = run_cluster(tasks, cluster, limit, log, on_result=record)
        finally:
            snap.unlink(missing_ok=True)
        for student, _ in todo:
            if student not in results:
                record(student, raw[student])
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use coursekit-grade autograde")
