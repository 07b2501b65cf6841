"""Hostile submissions against the isolated grader: none gains a point, none hurts another test.

Each case replaces the backprop `sigmoid` answer cell (graded by `test_sigmoid`) with
code that tries to fool the test from the student's process; `test_relu` is graded in
the same batch and must keep its points.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest

from coursekit.grading.isolated import LocalWorker, RemoteWorker, grade_plan
from coursekit.grading.isolated_source import definitions_only, plan_for

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "solutions" / "backprop" / "backprop.ipynb"
SIG = "def sigmoid(z):\n"
HOSTILE = {
    "steals_the_reference": SIG + "    return _ref_sigmoid(z)\n",
    "walks_the_stack": SIG + "    import sys\n    return sys._getframe(1).f_globals['_ref_sigmoid'](z)\n",
    "returns_a_lying_object": (
        "class Always:\n    def __eq__(self, other):\n        return True\n    __array_priority__ = 1000\n"
        "    shape = ()\n\n" + SIG + "    return Always()\n"),
    "patches_numpy_checks": (
        SIG + "    np.allclose = lambda *a, **k: True\n    np.testing.assert_allclose = lambda *a, **k: None\n"
        "    import coursekit.check as c\n    c.assert_close = lambda *a, **k: None\n    return z * 0\n"),
    "prints_a_forged_answer": (
        SIG + "    import os\n    print('{\"op\": \"result\", \"value\": 1}')\n"
        "    os.write(1, b'{\"op\": \"result\"}')\n    return z * 0\n"),
    "garbles_the_protocol_pipe": (
        SIG + "    import os\n    for fd in range(3, 32):\n        try:\n"
        "            os.write(fd, bytes(16) + b'garbage')\n        except OSError:\n            pass\n"
        "    return z\n"),
    "exits_the_process": SIG + "    import os\n    os._exit(0)\n",
    "never_returns": SIG + "    while True:\n        pass\n",
    "shadows_the_grader_names": (
        "def _ref_sigmoid(z):\n    return z * 0\n\n\ndef _call(name, *args, **kwargs):\n    return None\n\n\n"
        "def _check():\n    return None\n\n\n" + SIG + "    return z * 0\n"),
    "rebinds_builtins_at_top_level": (
        "import builtins\nbuiltins.AssertionError = Warning\nbuiltins.isinstance = lambda *a: True\n\n"
        + SIG + "    return z * 0\n"),
}


def _plan(sigmoid_code: str):
    source = nbformat.read(SOURCE, as_version=4)
    plan = plan_for(source, None)
    for cell in plan.cells:
        if cell.kind == "answer":
            cell.student = sigmoid_code if cell.grade_id == "sigmoid" else cell.source
    return plan


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_sigmoid_scores_zero_and_spares_the_other_tests(case):
    plan = _plan(HOSTILE[case])
    start = time.perf_counter()
    results = grade_plan(plan, lambda: RemoteWorker(lambda argv: argv), 8.0, only={"test_sigmoid", "test_relu"})
    assert results["test_sigmoid"].points == 0, results["test_sigmoid"]
    assert results["test_sigmoid"].message
    assert results["test_relu"].passed, results["test_relu"]
    assert time.perf_counter() - start < 60


def test_honest_sigmoid_scores_full_marks_with_the_same_runner():
    source = nbformat.read(SOURCE, as_version=4)
    plan = plan_for(source, None)
    for cell in plan.cells:
        if cell.kind == "answer":
            cell.student = cell.source
    results = grade_plan(plan, lambda: RemoteWorker(lambda argv: argv), 60.0, only={"test_sigmoid", "test_relu"})
    assert all(r.passed for r in results.values()), results


def test_a_hanging_submission_is_stopped_at_the_limit_with_the_reason():
    results = grade_plan(_plan(HOSTILE["never_returns"]), lambda: RemoteWorker(lambda argv: argv), 4.0,
                         only={"test_sigmoid"})
    assert "timed out" in results["test_sigmoid"].message


def test_top_level_statements_of_answers_are_not_run_and_are_noted():
    reduced, notes = definitions_only(HOSTILE["rebinds_builtins_at_top_level"])
    assert "builtins.AssertionError" not in reduced and "def sigmoid" in reduced
    assert len(notes) == 3 and all("was not run" in n for n in notes)  # builtins is not an allowed import


def test_hidden_tests_and_reference_helpers_never_reach_the_worker():
    plan = _plan(HOSTILE["steals_the_reference"])
    for spec in plan.tests:
        sent = "\n".join(src for src, _ in plan.worker_sources(spec))
        for secret in ("HIDDEN TESTS", "_ref_", "_REF_PARTS", "known_mistakes", "_call("):
            assert secret not in sent.replace("return _ref_sigmoid(z)", ""), (spec.grade_id, secret)


def test_local_worker_grades_like_the_remote_one():
    """The in-process runner (trusted code only: the mutation sweep) agrees with the isolated one."""
    wrong = SIG + "    return 1.0 / (1.0 + np.exp(-z))\n"
    local = grade_plan(_plan(wrong), LocalWorker, 30.0, only={"test_sigmoid", "test_relu"})
    remote = grade_plan(_plan(wrong), lambda: RemoteWorker(lambda argv: argv), 30.0,
                        only={"test_sigmoid", "test_relu"})
    assert {g: r.points for g, r in local.items()} == {g: r.points for g, r in remote.items()}
    assert "overflow" in local["test_sigmoid"].message and "overflow" in remote["test_sigmoid"].message
