"""The grading pipeline end to end on the tiny fixture assignment.

One batch of good and pathological submissions is graded once (2 workers,
sandboxed kernels) in a scratch course; each test checks one outcome.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from coursekit.grading import (
    autograde,
    autograde_notebooks,
    collect,
    export_grades,
    generate_feedback,
    summarize,
)
from coursekit.grading.sandbox import namespace_available
from coursekit.grading.scan import _hidden_lines

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "grading"
sys.path.insert(0, str(FIXTURE))
import submissions as S  # noqa: E402

pytestmark = pytest.mark.timeout(900)
TIMEOUT = 30  # per cell; the honest cells take well under a second


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("grading")
    course, release = S.tiny_course(tmp)
    builders = {name: build for name, (build, _, _) in S.EXPECTED.items()}
    paths = S.write_submissions(tmp / "subs", builders, release, course=str(course.root))
    results = autograde_notebooks(course.root, "tiny", paths, workers=2, timeout=TIMEOUT, memory="2G")
    return {"course": course, "results": results, "paths": paths, "release": release}


def _result(graded: dict[str, Any], name: str) -> Any:
    return graded["results"][name]


@pytest.mark.parametrize("name", list(S.EXPECTED))
def test_submission_gets_its_expected_score(graded: dict[str, Any], name: str) -> None:
    if name == "cheat_read_files" and not namespace_available():
        pytest.skip("limits-only sandbox: student code can read the solutions (documented risk)")
    r = _result(graded, name)
    assert r.max_score == 5.0
    assert r.score == S.EXPECTED[name][1], str(r)


@pytest.mark.parametrize("name", [n for n, v in S.EXPECTED.items() if v[2]])
def test_submission_scored_by_reason_says_why(graded: dict[str, Any], name: str) -> None:
    r = _result(graded, name)
    assert r.reason and S.EXPECTED[name][2] in r.reason, str(r)


def test_reference_solution_has_no_reason_and_no_flags(graded: dict[str, Any]) -> None:
    r = _result(graded, "correct")
    assert r.reason is None and r.flags == [] and r.failed == []


def test_failed_hidden_test_reports_the_assertion_message(graded: dict[str, Any]) -> None:
    t = _result(graded, "wrong_mean").tests["test_mean_hidden"]
    assert not t.passed
    assert t.message == "AssertionError: mean_of must return a Python float"


def test_unanswered_cell_reports_not_implemented(graded: dict[str, Any]) -> None:
    assert _result(graded, "blank").tests["test_square_visible"].message == "NotImplementedError"


def test_infinite_loop_is_interrupted_after_the_cell_timeout(graded: dict[str, Any]) -> None:
    r = _result(graded, "infinite_loop")
    assert f"timed out after {TIMEOUT} s" in r.reason
    assert r.seconds < 6 * TIMEOUT


def test_memory_hog_is_stopped_by_the_memory_limit(graded: dict[str, Any]) -> None:
    assert "hit the memory limit (MemoryError" in _result(graded, "memory_hog").reason


def test_huge_output_is_cut_in_the_autograded_notebook(graded: dict[str, Any]) -> None:
    path = Path(_result(graded, "huge_output").notebooks[0])
    assert path.stat().st_size < 5_000_000


def test_deleted_test_cell_is_restored_and_graded(graded: dict[str, Any]) -> None:
    r = _result(graded, "deleted_test")
    assert "test_square_hidden" in r.failed
    assert "square is wrong for negative inputs" in r.tests["test_square_hidden"].message


def test_edited_test_cell_is_restored(graded: dict[str, Any]) -> None:
    r = _result(graded, "edited_test")
    assert r.tests["test_square_visible"].message == "AssertionError: square([1, 2]) should be [1, 4]"


def test_invalid_notebook_is_kept_byte_for_byte(graded: dict[str, Any]) -> None:
    course = graded["course"]
    kept = course.submitted_dir / "invalid_json" / "tiny" / "tiny.ipynb"
    assert kept.read_bytes() == graded["paths"]["invalid_json"].read_bytes()


def test_replaced_checking_functions_score_nothing(graded: dict[str, Any]) -> None:
    r = _result(graded, "cheat_allclose")
    assert r.score == 0.0 and "tampering: the checking functions were modified" in r.reason


def test_cell_rewriting_hook_scores_nothing(graded: dict[str, Any]) -> None:
    r = _result(graded, "cheat_hook")
    assert r.score == 0.0 and "mean_of must return a Python float" in r.tests["test_mean_hidden"].message


@pytest.mark.skipif(not namespace_available(), reason="no user namespaces: limits-only sandbox")
def test_solutions_and_gradebook_are_invisible_to_student_code(graded: dict[str, Any]) -> None:
    r = _result(graded, "cheat_read_files")
    assert r.isolation == "bwrap"
    nb = json.loads(Path(r.notebooks[0]).read_text())
    printed = "".join(
        "".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", [])
        if o.get("output_type") == "stream"
    )
    assert "stolen 0 0" in printed


@pytest.mark.parametrize("name", ["cheat_allclose", "cheat_hook", "cheat_read_files", "kernel_killed"])
def test_static_scan_flags_suspicious_submissions(graded: dict[str, Any], name: str) -> None:
    assert _result(graded, name).flags


def test_two_workers_lose_no_grade(graded: dict[str, Any]) -> None:
    course = graded["course"]
    with course.gradebook() as gb:
        stored = {s.student.id: s.score for s in gb.find_assignment("tiny").submissions}
    assert set(stored) == set(S.EXPECTED)
    assert stored == {name: r.score for name, r in graded["results"].items()}


def test_every_submission_has_a_report(graded: dict[str, Any]) -> None:
    course = graded["course"]
    for name in S.EXPECTED:
        report = json.loads(course.report_path("tiny", name).read_text())
        assert report["score"] == graded["results"][name].score


def test_autograde_again_skips_graded_submissions(graded: dict[str, Any]) -> None:
    lines: list[str] = []
    again = autograde(graded["course"].root, "tiny", ["correct", "wrong_mean"], log=lines.append)
    assert all("already graded" in line for line in lines) and len(lines) == 2
    assert again["wrong_mean"].score == 3.0


def test_feedback_shows_messages_but_no_hidden_test_code(graded: dict[str, Any]) -> None:
    course = graded["course"]
    pages = generate_feedback(course.root, "tiny", log=None)
    hidden, _ = _hidden_lines(json.loads((FIXTURE / "solutions" / "tiny" / "tiny.ipynb").read_text()))
    assert "_hidden_probe_q7 = np.linspace(-3.0, 3.0, 7)" in hidden
    assert set(pages) == set(S.EXPECTED)
    html = pages["wrong_square_negative"][0].read_text()
    assert "square is wrong for negative inputs" in html
    for student, files in pages.items():
        text = "".join(f.read_text() for f in files)
        for line in hidden:
            assert line not in text and line.replace('"', "&quot;") not in text, (student, line)
        assert "BEGIN HIDDEN TESTS" not in text and "_hidden_probe_q7" not in text


def test_feedback_of_an_unreadable_notebook_gives_the_reason(graded: dict[str, Any]) -> None:
    course = graded["course"]
    pages = generate_feedback(course.root, "tiny", ["invalid_json"], log=None)
    assert "not a valid notebook" in pages["invalid_json"][0].read_text()


def test_export_writes_one_row_per_student(graded: dict[str, Any]) -> None:
    out = export_grades(graded["course"].root, ["tiny"])
    rows = list(csv.DictReader(out.open()))
    assert {r["student"] for r in rows} == set(S.EXPECTED)
    row = next(r for r in rows if r["student"] == "wrong_mean")
    assert float(row["score"]) == 3.0 and float(row["test_mean_hidden"]) == 0.0


def test_summary_counts_failures_per_test(graded: dict[str, Any]) -> None:
    s = summarize(graded["course"].root, "tiny")
    failed = sum("test_mean_hidden" in r.failed for r in graded["results"].values())
    assert s["tests"]["test_mean_hidden"]["failed"] == failed
    assert s["n"] >= len(S.EXPECTED)  # later tests add students who pass everything
    assert "mean_of must return a Python float" in s["text"]
    assert sum(count for _, count in s["histogram"]) == s["n"]


def test_cli_summary_prints_the_report(graded: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    from coursekit.grading.cli import main

    assert main(["--course", str(graded["course"].root), "summary", "tiny"]) == 0
    assert "tests, most failed first" in capsys.readouterr().out


def test_resubmission_is_archived_and_regraded(graded: dict[str, Any], tmp_path: Path) -> None:
    course = graded["course"]
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "late.ipynb").write_text(S.blank(graded["release"]))
    collect(course.root, "tiny", drop, log=None)
    first = autograde(course.root, "tiny", ["late"], timeout=TIMEOUT, log=None)["late"]
    (drop / "late.ipynb").write_text(S.correct(graded["release"]))
    got = collect(course.root, "tiny", drop, log=None)["late"]
    second = autograde(course.root, "tiny", ["late"], timeout=TIMEOUT, log=None)["late"]
    assert (first.score, second.score) == (0.0, 5.0)
    assert json.loads((got.archived / "tiny.ipynb").read_text()) == graded["release"]


def _wall_limit_for(honest_seconds: float) -> float:
    """The wall limit of the test below: 25 s, or 3x what the honest submission took in the batch.

    The stuck submission costs the whole limit, so it is short where the machine is quick; the
    honest "after" must still fit in it, and on a loaded machine it takes longer (5-8 s at load 5
    in the batch of this module, 17 s at load 15; two suites at once on 2 cores slow it further),
    so the limit follows the time the same submission took here (graded two at a time, i.e. at
    least the load "after" runs under).
    """
    return float(max(25, round(3 * honest_seconds)))


def test_wall_limit_stops_a_submission_and_the_batch_goes_on(graded: dict[str, Any]) -> None:
    course = graded["course"]
    limit = _wall_limit_for(_result(graded, "correct").seconds)
    res = autograde_notebooks(
        course.root, "tiny",
        {"stuck": graded["paths"]["infinite_loop"], "after": graded["paths"]["correct"]},
        workers=1, timeout=300, wall_limit=limit,
    )
    assert f"wall limit hit: still running after {limit:.0f} s" in res["stuck"].reason
    assert res["stuck"].score == 0.0
    assert res["after"].score == 5.0


def test_validate_exits_nonzero_when_tests_fail(graded: dict[str, Any]) -> None:
    from coursekit.grading.cli import main

    course = graded["course"]
    release = str(course.release_dir / "tiny" / "tiny.ipynb")
    assert main(["--course", str(course.root), "validate", release]) == 1
    assert main(["--course", str(course.root), "validate", "--invert", release]) == 0
    assert main(["--course", str(course.root), "validate", str(graded["paths"]["correct"])]) == 0


def test_limits_only_sandbox_grades_and_the_summary_warns(graded: dict[str, Any]) -> None:
    course = graded["course"]
    res = autograde_notebooks(course.root, "tiny", {"noiso": graded["paths"]["correct"]},
                              timeout=TIMEOUT, isolate=False)
    assert res["noiso"].score == 5.0
    assert res["noiso"].isolation == "limits only"
    assert "WARNING: some submissions ran with resource limits only" in summarize(course.root, "tiny")["text"]
