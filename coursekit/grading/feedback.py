"""Per-student HTML feedback that never shows hidden tests.

nbgrader's default feedback prints the hidden tests' source and their
tracebacks. Here ``ClearHiddenTests`` removes the hidden source and
:class:`HiddenTestOutputs` (which must run before it) replaces everything a
hidden-test cell printed by the failure message alone (exception type and
message, no traceback lines). ``nbgrader_config.py`` installs both, so plain
``nbgrader generate_feedback`` is safe too.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

from coursekit.grading.course import Course, atomic_write_text, ensure_tools_on_path

FEEDBACK_PREPROCESSORS = [
    "nbgrader.preprocessors.GetGrades",
    "coursekit.grading.feedback.HiddenTestOutputs",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]


class HiddenTestOutputs(NbGraderPreprocessor):
    """Replace the outputs of hidden-test cells by the bare failure message."""

    begin_test_delimeter = Unicode("BEGIN HIDDEN TESTS").tag(config=True)
    note = Unicode(" (from a hidden test; its code is not shown)").tag(config=True)

    def preprocess_cell(self, cell: Any, resources: Any, index: int) -> tuple[Any, Any]:
        from coursekit.grading.guard import GUARD_MIME

        if cell.cell_type != "code":
            return cell, resources
        # the guard's invisible confirmation has no place in an HTML page
        cell.outputs = [o for o in cell.get("outputs", []) if GUARD_MIME not in o.get("data", {})]
        if self.begin_test_delimeter not in cell.source:
            return cell, resources
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        outputs = []
        if errors:
            err = errors[-1]
            ename, evalue = err.get("ename", "Error"), str(err.get("evalue", "")).strip()
            if ename in ("KeyboardInterrupt", "CellTimeoutError"):
                line = "Timeout: the test ran too long and was interrupted"
            else:
                line = f"{ename}: {evalue}" if evalue else f"{ename}: a hidden test failed"
            err = {"output_type": "error", "ename": ename, "evalue": evalue,
                   "traceback": [line + self.note]}
            from nbformat import from_dict

            outputs.append(from_dict(err))
        cell.outputs = outputs
        return cell, resources


def hidden_test_lines(source_nb: dict[str, Any]) -> set[str]:
    """The lines of a source notebook's hidden-test regions that appear nowhere else."""
    hidden: set[str] = set()
    public: set[str] = set()
    for cell in source_nb.get("cells", []):
        src = cell.get("source", "")
        inside = False
        for line in ("".join(src) if isinstance(src, list) else str(src)).splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif line.strip():
                (hidden if inside else public).add(line.strip())
    return {h for h in hidden - public if len(h) >= 8 and not h.startswith("#")}


def leaked_lines(page: str, hidden: set[str]) -> list[str]:
    """Hidden-test lines found in an HTML page (tags removed, entities decoded)."""
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    flat = {re.sub(r"\s+", " ", line.strip()) for line in text.splitlines()}
    joined = "\n".join(flat)
    return sorted(h for h in hidden if re.sub(r"\s+", " ", h) in joined)


def _assignment_hidden_lines(course: Course, assignment: str) -> set[str]:
    lines: set[str] = set()
    for path in (course.source_dir / assignment).glob("*.ipynb"):
        lines |= hidden_test_lines(json.loads(path.read_text()))
    return lines


def _fallback_page(student: str, assignment: str, result: dict[str, Any]) -> str:
    reason = html.escape(result.get("reason") or "no notebook could be graded")
    rows = "".join(
        f"<tr><td>{html.escape(gid)}</td><td>{t['score']:g} / {t['max_score']:g}</td>"
        f"<td>{html.escape('' if t['score'] >= t['max_score'] else (t.get('message') or ''))}"
        f"{'<br>' + html.escape(t['note']) if t.get('note') else ''}</td></tr>"
        for gid, t in result.get("tests", {}).items()
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(assignment)}: feedback for {html.escape(student)}</title></head><body>"
        f"<h1>{html.escape(assignment)}</h1><p>Score: {result.get('score', 0):g} / "
        f"{result.get('max_score', 0):g}</p><p><strong>Why:</strong> {reason}</p>"
        f"<table><tr><th>test</th><th>points</th><th>message</th></tr>{rows}</table></body></html>\n"
    )


def generate_feedback(
    course_dir: str | os.PathLike[str],
    assignment: str,
    students: Iterable[str] | None = None,
    *,
    log: Callable[[str], None] | None = print,
) -> dict[str, list[Path]]:
    """Write ``feedback/<student>/<assignment>/<notebook>.html`` for graded submissions.

    Parameters
    ----------
    course_dir : path-like
        The course folder.
    assignment : str
        Assignment name.
    students : iterable of str, optional
        Default: every student with an autograded submission or a grading report.
    log : callable, optional
        Progress lines; ``None`` for silence.

    Returns
    -------
    dict
        Student -> the HTML files written. A submission that could not be run
        (invalid notebook, dead kernel) gets a short page with its score and the reason.
    """
    course = Course(course_dir)
    ensure_tools_on_path()
    reports = course.work_dir / "reports" / assignment
    if students is None:
        graded = {p.parent.name for p in course.autograded_dir.glob(f"*/{assignment}") if p.is_dir()}
        graded |= {p.stem for p in reports.glob("*.json")}
        students = sorted(graded)
    api = course.api(GenerateFeedback={"preprocessors": FEEDBACK_PREPROCESSORS})
    hidden = _assignment_hidden_lines(course, assignment)
    written: dict[str, list[Path]] = {}
    for student in students:
        out_dir = course.feedback_dir / student / assignment
        if (course.autograded_dir / student / assignment).is_dir():
            res = api.generate_feedback(assignment, student, force=True)
            if not res.get("success"):
                raise RuntimeError(
                    f"feedback for {student} failed:\n{res.get('error') or res.get('log')}"
                )
            written[student] = sorted(out_dir.glob("*.html"))
            leaked = [p for p in written[student] if leaked_lines(p.read_text(), hidden)]
        else:
            leaked = [out_dir / f"{name}.html" for name in course.notebooks(assignment)]
            written[student] = leaked
        if leaked:
            report = course.report_path(assignment, student)
            result = json.loads(report.read_text()) if report.is_file() else {}
            if (course.autograded_dir / student / assignment).is_dir():
                result["reason"] = ("the notebook page is withheld: it displayed the grader's "
                                    "hidden tests. Your scores and messages are below")
            for page in leaked:
                text = _fallback_page(student, assignment, result)
                if leaked_lines(text, hidden):  # a message quoting a hidden test: score only
                    text = _fallback_page(student, assignment, {**result, "tests": {
                        k: {**t, "message": "withheld", "note": None} for k, t in result.get("tests", {}).items()}})
                atomic_write_text(page, text)
            if log and (course.autograded_dir / student / assignment).is_dir():
                log(f"{student}: the notebook page showed hidden-test code; "
                    "published the score and messages only")
        if log:
            log(f"{student}: " + ", ".join(str(p) for p in written[student]))
    return written
