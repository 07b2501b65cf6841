"""Feedback agrees with the isolated score (issue 11, section 3).

The isolated grader (coursekit.grading.isolated) trains the XOR and MNIST networks
with the reference parts and grades each function alone, while the notebook's own
run (the student's feedback) uses the student's functions and only the visible
tests. When the two disagree, the feedback must show the score that counts (the
isolated one), what the notebook showed, and why. The end-to-end case (a sign error
in ``sgd``: the notebook's XOR training goes uphill and its test_xor cell fails, the
isolated test_xor passes, and the page says both) is graded in the batch of
tests/test_backprop_assignment.py.
"""

from __future__ import annotations

import nbformat

from coursekit.grading.isolated import IsolatedResult
from coursekit.grading.results import GradeResult, TestResult as _TestResult, isolation_note

XOR_FAIL = "AssertionError: XOR: predictions [1, 0, 0, 1], expected [0, 1, 1, 0]"


def _result(points: float, message: str = "", training: bool = False) -> IsolatedResult:
    return IsolatedResult("test_xor", points, 2.0, message, graded=("train_xor",), training=training)


def test_agreement_needs_no_note():
    assert isolation_note(_result(2.0), True, None) is None
    same = "AssertionError: sigmoid: overflow for large |z|"
    assert isolation_note(_result(0.0, same), False, same) is None


def test_isolated_pass_after_a_failed_notebook_run_says_both_and_why():
    note = isolation_note(_result(2.0, training=True), False, XOR_FAIL)
    assert note.startswith("Graded in isolation: passed (2 / 2 points, the score that counts)")
    assert "notebook's run of this cell failed" in note and "predictions [1, 0, 0, 1]" in note
    assert "reference solution for every function" in note and "train_xor" in note


def test_isolated_failure_after_a_passing_notebook_run_says_both_and_why():
    note = isolation_note(_result(0.0, "AssertionError: he_init: W1 has standard deviation 1"), True, None)
    assert note.startswith("Graded in isolation: failed (0 / 2 points, the score that counts)")
    assert "standard deviation 1" in note and "notebook's run of this cell passed" in note
    assert "only the visible tests" in note


def test_two_different_failures_are_both_shown():
    note = isolation_note(_result(0.0, "AssertionError: the hidden test's reason"), False, XOR_FAIL)
    assert "the hidden test's reason" in note and "failed too" in note and "predictions" in note


def test_the_text_summary_shows_notes_of_passed_tests():
    r = GradeResult("s", "backprop", 2.0, 2.0, {"test_xor": _TestResult("test_xor", 2.0, 2.0, note="NOTE")})
    assert "test_xor: NOTE" in str(r)
    assert GradeResult.from_dict(r.to_dict()).tests["test_xor"].note == "NOTE"


def test_notes_go_first_in_the_test_cell_and_the_failure_replaces_the_notebook_error(tmp_path):
    from coursekit.grading.runner import _note_isolated_results

    nb = nbformat.v4.new_notebook()
    for gid in ("test_a", "test_b"):
        cell = nbformat.v4.new_code_cell("check()", metadata={"nbgrader": {"grade_id": gid, "grade": True}})
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="visible tests\n")]
        nb.cells.append(cell)
    nb.cells[0].outputs.append(nbformat.v4.new_output("error", ename="AssertionError", evalue="mine",
                                                      traceback=["AssertionError: mine"]))
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    results = {"test_a": IsolatedResult("test_a", 1.0, 1.0, ""),
               "test_b": IsolatedResult("test_b", 0.0, 1.0, "AssertionError: hidden reason")}
    seen = {"scores": {"test_a": 0.0, "test_b": 1.0}, "messages": {"test_a": "AssertionError: mine"}}
    notes = _note_isolated_results(path, results, seen)
    out = nbformat.read(path, as_version=4)
    a, b = out.cells[0].outputs, out.cells[1].outputs
    assert set(notes) == {"test_a", "test_b"}
    assert a[0].output_type == "display_data" and "passed" in a[0].data["text/plain"]
    assert a[-1].output_type == "error" and a[-1].evalue == "mine"  # the student's own traceback stays
    assert b[0].output_type == "display_data" and "notebook's run of this cell passed" in b[0].data["text/plain"]
    assert b[-1].output_type == "error" and b[-1].evalue == "hidden reason"


# The end-to-end check (a real submission graded through the pipeline, its feedback page
# showing the note) rides in tests/test_backprop_assignment.py's batch, whose sgd-sign-flip
# bug fails the notebook's XOR run while the isolated test_xor passes.
