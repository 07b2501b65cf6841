"""The single gradebook writer: only the grading (parent) process writes grades.

Workers grade a submission against a private copy of the gradebook (made with
:func:`snapshot`; nbgrader's preprocessors read the released cells from it and
write their scores into it) and send the scores back. :class:`GradebookWriter`
then records them in the real gradebook, one submission at a time, from the
parent process alone: no two processes ever write the same SQLite file, and
sandboxed code never sees it.

A batch keeps one :class:`GradebookWriter` (one nbgrader ``Gradebook`` session)
open for all its submissions; opening a ``Gradebook`` costs more than writing a
submission into it. Each submission is one transaction, committed before
``write`` returns: a crash later in the batch loses none of it, and a crash
inside ``write`` leaves nothing of that submission behind. :func:`write_result`
and :func:`read_grades` do the same for a single submission.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from coursekit.grading.course import Course
from coursekit.grading.results import TestResult


def snapshot(course: Course, dest: str | Path) -> Path:
    """Copy the gradebook to ``dest`` (a consistent copy, with SQLite's backup API).

    Raises
    ------
    ValueError
        When the gradebook is not an SQLite file.
    """
    if course.db_path is None:
        raise ValueError(f"the gradebook {course.db_url} is not an SQLite file: cannot snapshot it")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{course.db_path}?mode=ro", uri=True)
    try:
        out = sqlite3.connect(dest)
        with out:
            src.backup(out)
        out.close()
    finally:
        src.close()
    return dest


def _timestamp(course: Course, assignment: str, student: str) -> Any:
    stamp = course.submitted_dir / student / assignment / "timestamp.txt"
    if not stamp.is_file():
        return None
    from nbgrader.utils import parse_utc

    try:
        return parse_utc(stamp.read_text().strip())
    except (ValueError, TypeError):
        return None


class _OneTransaction:
    """A session whose ``commit`` only flushes: nbgrader's helpers commit after each step."""

    def __init__(self, session: Any) -> None:
        self._session = session

    def commit(self) -> None:
        self._session.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def _check_grades(grades: Any) -> None:
    if grades is None:
        return
    if not isinstance(grades, Mapping) or not all(isinstance(v, Mapping) for v in grades.values()):
        raise TypeError("grades must map notebook name -> {'grades': {...}, 'comments': {...}, "
                        f"'late_penalty': ...}} (or be None), got {type(grades).__name__}")


class GradebookWriter:
    """One gradebook session for a batch of one assignment (use as a context manager).

    Parameters
    ----------
    course : Course
    assignment : str
        The assignment every submission of the batch belongs to.

    Examples
    --------
    >>> with GradebookWriter(course, "backprop") as writer:  # doctest: +SKIP
    ...     writer.write("alice", grades)
    ...     total, maximum, tests = writer.read("alice")
    """

    def __init__(self, course: Course, assignment: str) -> None:
        if not isinstance(course, Course):
            raise TypeError(f"course must be a coursekit Course, got {type(course).__name__}")
        if not isinstance(assignment, str) or not assignment:
            raise ValueError(f"assignment must be a non-empty name, got {assignment!r}")
        self.course, self.assignment = course, assignment
        self._gb: Any = None

    def __enter__(self) -> GradebookWriter:
        self._gb = self.course.gradebook()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the session (what was written is already committed)."""
        if self._gb is not None:
            gb, self._gb = self._gb, None
            gb.close()

    def _session(self) -> Any:
        if self._gb is None:
            raise RuntimeError("the GradebookWriter is not open: use it as `with GradebookWriter(...) as w:`")
        return self._gb

    def write(self, student: str,
              grades: Mapping[str, Mapping[str, Mapping[str, Any]]] | None) -> None:
        """Record one submission's autograded scores, in one transaction.

        Parameters
        ----------
        student : str
        grades : mapping or None
            ``notebook -> {"grades": {grade_id: {"auto_score", "needs_manual_grade"}},
            "comments": {grade_id: auto_comment}, "late_penalty": float or None}``;
            ``None``: the submission could not be graded, every autograded test scores 0.

        Raises
        ------
        Exception
            Whatever failed; the submission's transaction is then rolled back
            (nothing of it is written) and the session stays usable.
        """
        import warnings

        from sqlalchemy.exc import SAWarning

        _check_grades(grades)
        gb = self._session()
        session = gb.db  # nothing cached: the last write committed, the last read rolled back
        gb.db = _OneTransaction(session)
        try:
            with warnings.catch_warnings():
                # nbgrader's own submission code triggers harmless SQLAlchemy autoflush warnings
                warnings.simplefilter("ignore", SAWarning)
                self._record(gb, student, grades)
            gb.db = session
            session.commit()
        except BaseException:
            gb.db = session
            session.rollback()
            raise

    def _record(self, gb: Any, student: str, grades: Mapping[str, Any] | None) -> None:
        gb.update_or_create_student(student)
        stamp = _timestamp(self.course, self.assignment, student)
        sub = gb.update_or_create_submission(
            self.assignment, student, **({"timestamp": stamp} if stamp is not None else {}))
        for snb in sub.notebooks:
            solution_ids = {c.name for c in snb.notebook.solution_cells}
            mine = (grades or {}).get(snb.name, {})
            for grade in snb.grades:
                autograded = grade.cell.cell_type == "code" and grade.name not in solution_ids
                got = mine.get("grades", {}).get(grade.name)
                if got is None:
                    if autograded:
                        grade.auto_score = 0.0
                        grade.needs_manual_grade = grade.manual_score is not None
                    continue
                grade.auto_score = got["auto_score"]
                grade.needs_manual_grade = bool(got["needs_manual_grade"]) or (
                    grade.manual_score is not None)
            for comment in snb.comments:
                if comment.name in mine.get("comments", {}):
                    comment.auto_comment = mine["comments"][comment.name]
            if mine.get("late_penalty") is not None:
                snb.late_submission_penalty = mine["late_penalty"]

    def read(self, student: str) -> tuple[float, float, dict[str, TestResult]]:
        """Scores of a submission from the gradebook: total, maximum, per autograded test.

        ``(0.0, 0.0, {})`` when the gradebook has no such submission.
        """
        from nbgrader.api import MissingEntry

        gb = self._session()
        try:
            try:
                sub = gb.find_submission(self.assignment, student)
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
        finally:
            gb.db.rollback()  # end the read transaction: hold no connection between submissions


def write_result(course: Course, assignment: str, student: str,
                 grades: Mapping[str, Mapping[str, Mapping[str, Any]]] | None) -> None:
    """Record one submission's autograded scores (a :class:`GradebookWriter` of its own).

    For a batch, keep one :class:`GradebookWriter` open instead: this opens a
    gradebook session per call. ``grades`` as in :meth:`GradebookWriter.write`.
    """
    with GradebookWriter(course, assignment) as writer:
        writer.write(student, grades)


def read_grades(course: Course, assignment: str,
                student: str) -> tuple[float, float, dict[str, TestResult]]:
    """Scores of a submission from the gradebook: total, maximum, per autograded test."""
    with GradebookWriter(course, assignment) as writer:
        return writer.read(student)


def read_private_grades(db_url: str, course_id: str, assignment: str, student: str) -> dict[str, dict[str, Any]]:
    """What nbgrader stored in a worker's private gradebook copy, per notebook."""
    from nbgrader.api import Gradebook

    out: dict[str, dict[str, Any]] = {}
    with Gradebook(db_url, course_id) as gb:
        sub = gb.find_submission(assignment, student)
        for snb in sub.notebooks:
            out[snb.name] = {
                "grades": {g.name: {"auto_score": g.auto_score,
                                    "needs_manual_grade": bool(g.needs_manual_grade)}
                           for g in snb.grades},
                "comments": {c.name: c.auto_comment for c in snb.comments},
                "late_penalty": snb.late_submission_penalty,
            }
    return out
