"""Grades to CSV (one row per student, one column per autograded test)."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable
from pathlib import Path

from coursekit.grading.course import Course, atomic_write_text


def export_grades(
    course_dir: str | os.PathLike[str],
    assignments: Iterable[str] | None = None,
    out: str | os.PathLike[str] | None = None,
) -> Path:
    """Write the gradebook's scores to a CSV file (replaced atomically).

    Columns: ``assignment, student, score, max_score, timestamp, reason,
    flags`` and then one column per ``grade_id`` (points). Students without a
    submission of an assignment get an empty row with score 0.

    Parameters
    ----------
    course_dir : path-like
        The course folder.
    assignments : iterable of str, optional
        Default: every assignment in the gradebook.
    out : path-like, optional
        Default ``grades/grades.csv`` (or ``grades/<assignment>.csv`` for one assignment).

    Returns
    -------
    Path
        The CSV file.
    """
    from nbgrader.api import MissingEntry

    course = Course(course_dir)
    with course.gradebook() as gb:
        names = list(assignments) if assignments is not None else [a.name for a in gb.assignments]
        if out is None:
            out = course.root / "grades" / (f"{names[0]}.csv" if len(names) == 1 else "grades.csv")
        rows = []
        grade_ids: list[str] = []
        students = sorted(s.id for s in gb.students)
        for name in names:
            assignment = gb.find_assignment(name)
            ids = [c.name for nb in assignment.notebooks for c in nb.grade_cells
                   if c.cell_type == "code"]
            grade_ids += [g for g in ids if g not in grade_ids]
            for student in students:
                row: dict[str, object] = {"assignment": name, "student": student}
                try:
                    sub = gb.find_submission(name, student)
                except MissingEntry:
                    row.update(score=0, max_score=assignment.max_score, timestamp="",
                               reason="no submission", flags=0)
                    rows.append(row)
                    continue
                report = course.report_path(name, student)
                info = json.loads(report.read_text()) if report.is_file() else {}
                row.update(
                    score=round(float(sub.score or 0.0), 4),
                    max_score=float(sub.max_score or 0.0),
                    timestamp=str(sub.timestamp or ""),
                    reason=info.get("reason") or "",
                    flags=len(info.get("flags", [])),
                )
                for snb in sub.notebooks:
                    for grade in snb.grades:
                        row[grade.name] = round(float(grade.score or 0.0), 4)
                rows.append(row)
    fields = ["assignment", "student", "score", "max_score", "timestamp", "reason", "flags", *grade_ids]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    out = Path(out)
    atomic_write_text(out, buf.getvalue())
    return out
