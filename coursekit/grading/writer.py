"""The single gradebook writer: only the grading (parent) process writes grades.

Workers grade a submission against a private copy of the gradebook (made with
:func:`snapshot`; nbgrader's preprocessors read the released cells from it and
write their scores into it) and send the scores back. :func:`write_result`
then records them in the real gradebook, one submission at a time, from the
parent process alone: no two processes ever write the same SQLite file, and
sandboxed code never sees it.
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


def write_result(course: Course, assignment: str, student: str,
                 grades: Mapping[str, Mapping[str, Mapping[str, Any]]] | None) -> None:
    """Record a submission's autograded scores in the gradebook (the only writer).

    Parameters
    ----------
    course : Course
    assignment, student : str
    grades : mapping or None
        ``notebook -> {"grades": {grade_id: {"auto_score", "needs_manual_grade"}},
        "comments": {grade_id: auto_comment}, "late_penalty": float or None}``;
        ``None``: the submission could not be graded, every autograded test scores 0.
    """
    import warnings

    from sqlalchemy.exc import SAWarning

    with warnings.catch_warnings(), course.gradebook() as gb:
        # nbgrader's own submission code triggers harmless SQLAlchemy autoflush warnings
        warnings.simplefilter("ignore", SAWarning)
        gb.update_or_create_student(student)
        stamp = _timestamp(course, assignment, student)
        sub = gb.update_or_create_submission(
            assignment, student, **({"timestamp": stamp} if stamp is not None else {}))
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
        gb.db.commit()


def read_grades(course: Course, assignment: str,
                student: str) -> tuple[float, float, dict[str, TestResult]]:
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
