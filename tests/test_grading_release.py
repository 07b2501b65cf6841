"""The committed release and the real assignments.

- ``assignments/<a>/`` must be byte-for-byte what ``nbgrader generate_assignment``
  makes from ``solutions/<a>/`` (nbgrader's output was checked to be
  deterministic: two generations give identical bytes; cell ids come from
  the source, checksums are hashes of the source);
- no solution code or hidden-test line may appear in ``assignments/``;
- the reference solution scores full marks, the unanswered release zero.

Each assignment is released once per session into a scratch course (never the
repository's gradebook), which grades the reference (the release filled with the
reference code) and the unanswered release with 2 workers: the shared
``grading_cache`` (tests/grading_cache.py), which the assignment modules read too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from grading_cache import GradingCache

from coursekit.grading import scan_release
from coursekit.grading.course import Course

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)
ASSIGNMENTS = COURSE.assignments()

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def released(request: pytest.FixtureRequest, grading_cache: GradingCache) -> dict[str, Any]:
    rel = grading_cache.released(request.param)
    return {"name": rel.name, "fresh": rel.fresh, "course": rel.course}


def test_there_are_assignments() -> None:
    assert "backprop" in ASSIGNMENTS


def test_committed_release_is_what_generate_assignment_makes(released: dict[str, Any]) -> None:
    name, fresh = released["name"], released["fresh"]
    committed = COURSE.release_dir / name
    assert committed.is_dir(), f"{committed} is missing: run `make release`"
    fresh_files = sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file())
    have = sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file())
    assert have == fresh_files
    for rel in fresh_files:
        assert (committed / rel).read_bytes() == (fresh / rel).read_bytes(), (
            f"assignments/{name}/{rel} differs from a fresh generate_assignment: run `make release`"
        )


def test_committed_release_leaks_no_solution_or_hidden_test(released: dict[str, Any]) -> None:
    name = released["name"]
    committed = COURSE.release_dir / name
    assert committed.is_dir(), f"{committed} is missing: run `make release`"
    assert scan_release(COURSE.source_dir / name, committed) == []


def test_spec_is_released_unchanged(released: dict[str, Any]) -> None:
    """Students get SPEC.md (graded functions, shapes, points) exactly as written."""
    name = released["name"]
    spec = (COURSE.source_dir / name / "SPEC.md").read_bytes()
    assert (released["fresh"] / "SPEC.md").read_bytes() == spec
    assert (COURSE.release_dir / name / "SPEC.md").read_bytes() == spec


@pytest.fixture(scope="module")
def graded(released: dict[str, Any], grading_cache: GradingCache) -> dict[str, Any]:
    return grading_cache.graded(released["name"])


def test_reference_solution_scores_full_marks(graded: dict[str, Any]) -> None:
    r = graded["reference"]
    assert r.max_score > 0
    assert r.score == r.max_score, str(r)
    assert r.reason is None and r.flags == []


def test_unanswered_release_scores_zero(graded: dict[str, Any]) -> None:
    r = graded["blank"]
    assert r.score == 0.0, str(r)
    assert all(t.message for t in r.tests.values())


def test_every_test_cell_starts_with_the_guard(released: dict[str, Any]) -> None:
    name = released["name"]
    for path in (COURSE.source_dir / name).glob("*.ipynb"):
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            meta = cell["metadata"].get("nbgrader", {})
            if cell["cell_type"] == "code" and meta.get("grade") and not meta.get("solution"):
                first = "".join(cell["source"]).lstrip().splitlines()[0]
                assert first == "_ck_guard.verify()", (path.name, meta["grade_id"])
