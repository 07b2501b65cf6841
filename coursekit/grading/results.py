"""What autograding returns: :class:`GradeResult` and :class:`TestResult` (no nbgrader import)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from coursekit.grading.course import Course


@dataclass
class TestResult:
    """One autograder test (a ``grade_id``) of one submission."""

    grade_id: str
    score: float
    max_score: float
    message: str | None = None
    #: When the notebook's own run of this test disagrees with the isolated score
    #: (which counts): both facts and why (:func:`isolation_note`); else None.
    note: str | None = None

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
        ``"bwrap"`` (the sandbox) or ``"limits only"`` (``--no-isolation``).
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
            if t.note:
                lines.append(f"  {gid}: {t.note}" if t.passed else f"    {t.note}")
        return "\n".join(lines)


def _short(text: str | None, limit: int = 400) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def isolation_note(result: Any, notebook_passed: bool, notebook_message: str | None) -> str | None:
    """What to tell the student when the notebook's run of a test disagrees with its isolated score.

    Parameters
    ----------
    result : IsolatedResult
        The isolated score (``points``, ``max_points``, ``message``, ``graded``, ``training``).
    notebook_passed : bool
        Whether the test cell passed in the notebook's own run (nbgrader's kernel).
    notebook_message : str or None
        The error the notebook's run showed for that cell.

    Returns
    -------
    str or None
        The isolated score (the one that counts), what the notebook showed, and why they
        differ; ``None`` when both agree (and, when both failed, say the same).
    """
    passed = result.points >= result.max_points
    score = f"{result.points:g} / {result.max_points:g} points, the score that counts"
    graded = ", ".join(getattr(result, "graded", ()) or ()) or "answer"
    training = bool(getattr(result, "training", False))
    shown = _short(notebook_message) or "the cell did not pass"
    if passed and not notebook_passed:
        why = (f"the grader reran your cell {graded} with the reference solution for every function it "
               "uses, so that a mistake in one of your functions costs only that function's points: see "
               "which of your function tests failed" if training else
               f"in isolation your {graded} ran with the reference solution for the other functions, so the "
               "failure comes from one of those (see their tests) or from code outside your function "
               "definitions, which the grader does not run")
        return (f"Graded in isolation: passed ({score}). Your notebook's run of this cell failed: {shown}. "
                f"Why they differ: {why}.")
    if not passed and notebook_passed:
        why = ("the notebook runs only the visible tests, and the hidden tests, run on the result of your "
               "cell retrained with the reference functions, found the problem" if training else
               "the notebook runs only the visible tests; the hidden tests, run on your function "
               "definitions alone in a fresh process, found the mistake")
        return (f"Graded in isolation: failed ({score}): {_short(result.message)}. Your notebook's run of "
                f"this cell passed. Why they differ: {why}.")
    if not passed and not notebook_passed and _short(notebook_message) and \
            _short(notebook_message) not in _short(result.message):
        return (f"Graded in isolation: failed ({score}): {_short(result.message)}. Your notebook's run of "
                f"this cell failed too: {shown}.")
    return None


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
