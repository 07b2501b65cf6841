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
        return "\n".join(lines)


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
