"""Isolated grading (coursekit.grading.isolated) of the numpy assignments.

Every planted bug of tests/fixtures/<assignment>_bugs/ is graded with fresh workers
(forked from one zygote per submission, as in production): the reference scores full
marks, the blank release 0, and each bug loses exactly the grade ids it lists (the training tests train with the reference
parts, so a gradient bug never costs them), with a message naming the mistake.
The training tests (they retrain MNIST) are graded for the reference, the blank
release and TRAINING_BUG, the bug of issue 10 whose XOR result used to depend on
training dynamics; the other bugs are graded on every other test.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from assignment_support import build_submission, load_bug_table, test_points

from coursekit.grading.isolated import ForkServer, grade_plan
from coursekit.grading.isolated_source import plan_for

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
ASSIGNMENTS = ["backprop", "optimizers_regularization"]
BUGS = {a: load_bug_table(FIXTURES / f"{a}_bugs" / "bugs.py", f"{a}_bugs_isolated") for a in ASSIGNMENTS}
CASES = [(a, b) for a in ASSIGNMENTS for b in BUGS[a]]
TRAINING_BUG = "mlp_missing_relu_derivative"


def _paths(assignment: str) -> tuple[Path, Path]:
    return (ROOT / "solutions" / assignment / f"{assignment}.ipynb",
            ROOT / "assignments" / assignment / f"{assignment}.ipynb")


_GRADED: dict = {}


def grade_isolated_batch(source_path: Path, release_path: Path, submissions: dict[str, dict[str, str] | None],
                         tmp_dir: Path, *, timeout: float = 300.0, skip_training: set[str] = frozenset()) -> dict:
    """Grade submissions as grade_isolated does (one zygote each, its workers forked), without the sandbox.

    ``submissions``: name -> replacements (grade_id -> code) applied to the reference,
    or None for the blank release. The submissions named in ``skip_training`` are not
    graded on the training tests (which retrain MNIST each time). Returns
    name -> {grade_id: IsolatedResult}.
    """
    source_nb = nbformat.read(source_path, as_version=4)
    release_nb = nbformat.read(release_path, as_version=4)
    results = {}
    for name, replacements in submissions.items():
        submitted = release_nb if replacements is None else build_submission(release_nb, source_nb, replacements)
        if replacements is not None:
            nbformat.write(submitted, tmp_dir / f"{name}.ipynb")
        plan = plan_for(source_nb, submitted)
        only = {t.grade_id for t in plan.tests if not t.training} if name in skip_training else None
        with ForkServer(lambda argv: argv, preload=plan.locked_imports()) as server:
            results[name] = grade_plan(plan, server, timeout, only=only)
    return results


@pytest.fixture
def graded(tmp_path_factory, request):
    """Grade one assignment's batch once (per assignment, so that each batch gets its own
    pytest-timeout budget: a loaded 2-core machine needs several minutes per batch)."""
    assignment = request.node.callspec.params["assignment"]
    if assignment not in _GRADED:
        source, release = _paths(assignment)
        subs = {"reference": {}, "blank": None, **{b.name: {b.cell: b.code} for b in BUGS[assignment]}}
        skip = {b.name for b in BUGS[assignment] if b.name != TRAINING_BUG}
        start = time.perf_counter()
        _GRADED[assignment] = grade_isolated_batch(source, release, subs, tmp_path_factory.mktemp(assignment),
                                                   skip_training=skip)
        print(f"\nisolated grading of {len(subs)} {assignment} submissions: {time.perf_counter() - start:.1f} s")
    return _GRADED


@pytest.mark.timeout(3600)
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_scores_full_marks(graded, assignment):
    results = graded[assignment]["reference"]
    points = test_points(nbformat.read(_paths(assignment)[0], as_version=4))
    assert set(results) == set(points)
    failed = {g: r.message for g, r in results.items() if not r.passed}
    assert not failed, failed
    assert sum(r.points for r in results.values()) == sum(points.values())


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_blank_release_scores_zero(graded, assignment):
    results = graded[assignment]["blank"]
    assert results and all(r.points == 0 for r in results.values()), results
    assert all(r.message for r in results.values())


@pytest.mark.parametrize(("assignment", "bug"), CASES, ids=[f"{a}-{b.name}" for a, b in CASES])
def test_planted_bug_loses_exactly_its_tests_and_names_the_mistake(graded, assignment, bug):
    results = graded[assignment][bug.name]
    assert set(results) >= set(bug.fails)
    failed = sorted(g for g, r in results.items() if not r.passed)
    assert failed == sorted(bug.fails), {g: r.message for g, r in results.items() if not r.passed}
    message = results[bug.fails[0]].message.lower()
    missing = [k for k in bug.keywords if k.lower() not in message]
    assert not missing, f"{bug.fails[0]} message lacks {missing}: {message}"


@pytest.mark.parametrize("assignment", ["backprop"])
def test_the_training_bug_keeps_the_training_tests(graded, assignment):
    results = graded["backprop"][TRAINING_BUG]
    assert results["test_xor"].passed and results["test_mnist"].passed, results


def test_no_training_test_is_in_any_bug_table():
    """Training tests train with the reference parts: no function bug may cost them."""
    for assignment in ASSIGNMENTS:
        for bug in BUGS[assignment]:
            assert not {"test_xor", "test_mnist"} & set(bug.fails), bug.name
