"""The single gradebook writer (issue 15): one session per batch, one transaction per submission.

Nothing is graded here: the scores are written the way autograde's writer records a
runner's result, and the pool is replaced by a stand-in that returns such results,
so these tests prove the writer's bookkeeping in seconds. That the batch writer gives
the pool's real scores on the cluster is tests/test_grading_distributed.py.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from coursekit.grading.autograding import autograde, autograde_notebooks
from coursekit.grading.course import Course
from coursekit.grading.writer import GradebookWriter, read_grades, write_result

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "grading"))
import submissions as S  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Course, dict[str, Any]]:
    course, release = S.tiny_course(tmp_path_factory.mktemp("writer"))
    return course, release


def _grades(course: Course, scale: float = 1.0) -> dict[str, Any]:
    """A runner's ``grades`` for the tiny notebook: ``scale`` x full marks on every autograded test."""
    with course.gradebook() as gb:
        nb = gb.find_notebook("tiny", "tiny")
        return {"tiny": {"grades": {c.name: {"auto_score": scale * float(c.max_score), "needs_manual_grade": False}
                                    for c in nb.grade_cells if c.cell_type == "code"},
                         "comments": {}, "late_penalty": None}}


def _broken(course: Course) -> dict[str, Any]:
    """Grades that fail half-way through a write: the submission exists, then a score is missing."""
    good = _grades(course)
    return {"tiny": {**good["tiny"], "grades": {g: {} for g in good["tiny"]["grades"]}}}


def _submissions_in_db(course: Course) -> set[str]:
    """Students with a submission row, read with plain sqlite3 (another connection, as formgrader's)."""
    con = sqlite3.connect(course.db_path)
    try:
        return {row[0] for row in con.execute("SELECT student_id FROM submitted_assignment")}
    finally:
        con.close()


def test_the_batch_writer_commits_each_submission_and_a_crash_leaves_nothing_half_written(
        tiny: tuple[Course, dict[str, Any]]) -> None:
    course, _ = tiny
    full, half = _grades(course), _grades(course, 0.5)
    with pytest.raises(RuntimeError, match="crash mid-batch"), GradebookWriter(course, "tiny") as writer:
        writer.write("w_a", full)
        assert "w_a" in _submissions_in_db(course), "committed when write returns, not when the batch ends"
        writer.write("w_b", half)
        with pytest.raises(KeyError):
            writer.write("w_broken", _broken(course))
        assert "w_broken" not in _submissions_in_db(course), "a failed write leaves no half submission"
        writer.write("w_c", None)  # the session is still usable after a failed write
        total, maximum, tests = writer.read("w_a")
        raise RuntimeError("crash mid-batch")
    assert (total, maximum) == (5.0, 5.0) and all(t.passed for t in tests.values()), tests
    # a fresh session (another process, a re-run) reads everything written before the crash
    assert read_grades(course, "tiny", "w_a")[:2] == (5.0, 5.0)
    assert read_grades(course, "tiny", "w_b")[:2] == (2.5, 5.0)
    assert read_grades(course, "tiny", "w_c")[:2] == (0.0, 5.0)
    assert read_grades(course, "tiny", "w_broken") == (0.0, 0.0, {})
    # the per-call writer records exactly what the batch writer does
    write_result(course, "tiny", "w_per_call", half)
    once = read_grades(course, "tiny", "w_per_call")
    batch = read_grades(course, "tiny", "w_b")
    assert once[:2] == batch[:2]
    assert {g: t.score for g, t in once[2].items()} == {g: t.score for g, t in batch[2].items()}
    # writing a submission again updates it in place
    with GradebookWriter(course, "tiny") as writer:
        writer.write("w_b", full)
        assert writer.read("w_b")[:2] == (5.0, 5.0)


def test_the_batch_writer_explains_misuse(tiny: tuple[Course, dict[str, Any]]) -> None:
    course, _ = tiny
    with pytest.raises(RuntimeError, match="not open"):
        GradebookWriter(course, "tiny").write("x", None)
    with pytest.raises(TypeError, match="notebook name"), GradebookWriter(course, "tiny") as writer:
        writer.write("x", {"tiny": 5.0})
    with pytest.raises(ValueError, match="non-empty"):
        GradebookWriter(course, "")


def test_autograde_records_each_result_as_it_arrives_and_a_rerun_grades_only_what_is_missing(
        tiny: tuple[Course, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from coursekit.grading import pool

    root = Path(shutil.copytree(tiny[0].root, tmp_path / "course"))
    course = Course(root)
    paths = S.write_submissions(tmp_path / "subs", {"p_a": S.correct, "p_b": S.correct, "p_c": S.correct},
                                tiny[1])
    asked: list[list[str]] = []

    def stand_in_pool(broken: str | None) -> Any:
        """The pool's contract (a result per task, on_result as each arrives), without grading."""
        def run_pool(tasks: list[dict[str, Any]], workers: int, wall_limit: float, log: Any, *,
                     on_result: Any = None) -> dict[str, dict[str, Any]]:
            asked.append([t["student"] for t in tasks])
            assert on_result is not None, "autograde records each result as it arrives"
            out = {}
            for t in tasks:
                grades = _broken(course) if t["student"] == broken else _grades(course)
                out[t["student"]] = r = {"student": t["student"], "status": "ok", "grades": grades,
                                         "messages": {}, "seconds": 0.1}
                on_result(t["student"], r)
                assert course.report_path("tiny", t["student"]).is_file(), "reported before the next"
            return out
        return run_pool

    monkeypatch.setattr(pool, "run_pool", stand_in_pool(broken="p_b"))
    with pytest.raises(KeyError):  # the writer fails on p_b, in the middle of the batch
        autograde_notebooks(root, "tiny", paths, isolate=False, log=None)
    assert asked == [["p_a", "p_b", "p_c"]]
    report = json.loads(course.report_path("tiny", "p_a").read_text())
    assert (report["score"], report["max_score"]) == (5.0, 5.0)
    assert read_grades(course, "tiny", "p_a")[:2] == (5.0, 5.0)
    assert not course.report_path("tiny", "p_b").exists() and "p_b" not in _submissions_in_db(course)

    monkeypatch.setattr(pool, "run_pool", stand_in_pool(broken=None))
    res = autograde(root, "tiny", isolate=False, log=None)
    assert asked[1] == ["p_b", "p_c"], "the re-run grades only what is missing"
    assert {s: (r.score, r.max_score) for s, r in res.items()} == {s: (5.0, 5.0) for s in ("p_a", "p_b", "p_c")}
