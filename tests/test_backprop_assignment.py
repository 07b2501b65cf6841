"""The backprop assignment (solutions/backprop): metadata, reference solution, planted bugs.

The expensive part runs once per session: the assignment is released into a
scratch course (``make_course_copy``) and a batch of submissions is autograded
with the real pipeline (sandboxed kernel, 2 workers): one submission per planted
bug of ``tests/fixtures/backprop_bugs/bugs.py``; the reference solution and the
unmodified release come from the session's grading cache (tests/grading_cache.py),
which grades them once for this module and tests/test_grading_release.py. The failing test's message must name
the mistake in the feedback; the points each bug costs are checked on the isolated
grader in tests/test_isolated_grading.py.
"""

from __future__ import annotations

import html
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
from assignment_support import (
    build_submission as _build_submission,
    load_bug_table,
    meta as _meta,
    replace_solution as _replace_solution,
    solution_cells as _solution_cells,
    test_points as _test_points,
)

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "solutions" / "backprop" / "backprop.ipynb"
SPEC = ROOT / "solutions" / "backprop" / "SPEC.md"
BUGS_FILE = Path(__file__).resolve().parent / "fixtures" / "backprop_bugs" / "bugs.py"
ASSIGNMENT = "backprop"


BUGS = load_bug_table(BUGS_FILE, "backprop_bugs")


def _source_nb():
    return nbformat.read(SOURCE, as_version=4)



def build_submission(release_nb, source_nb, bug=None):
    """The release filled with the reference code, except ``bug.cell`` (the bug's code)."""
    return _build_submission(release_nb, source_nb, {bug.cell: bug.code} if bug else None)


# ---------------------------------------------------------------------------
# Cheap checks of the source notebook, the SPEC and the bug table
# ---------------------------------------------------------------------------



def test_every_test_cell_starts_with_the_guard_and_has_hidden_tests():
    for cell in _source_nb().cells:
        if _meta(cell).get("grade"):
            assert cell.source.startswith("_ck_guard.verify()\n"), _meta(cell)["grade_id"]
            assert "### BEGIN HIDDEN TESTS" in cell.source, _meta(cell)["grade_id"]




def test_bug_table_has_at_least_12_bugs_on_real_cells():
    nb = _source_nb()
    solutions, tests = _solution_cells(nb), _test_points(nb)
    assert len(BUGS) >= 12
    assert len({b.name for b in BUGS}) == len(BUGS)
    assert len({(b.cell, b.code) for b in BUGS}) == len(BUGS)
    for bug in BUGS:
        assert bug.cell in solutions, bug.name
        assert bug.fails and set(bug.fails) <= set(tests), bug.name
        assert bug.keywords, bug.name
        reference = _replace_solution(solutions[bug.cell].source, None)
        assert _replace_solution(solutions[bug.cell].source, bug.code) != reference, bug.name


# ---------------------------------------------------------------------------
# The reference solution against TensorFlow's automatic differentiation
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference_namespace():
    """The reference solution's functions, executed from the notebook's solution cells."""
    ns: dict = {"np": np}
    for cell in _source_nb().cells:
        if _meta(cell).get("solution") and _meta(cell)["grade_id"] not in ("train_xor", "train_mnist"):
            exec(compile(_replace_solution(cell.source, None), _meta(cell)["grade_id"], "exec"), ns)
    return ns


def test_reference_mlp_gradients_match_tf_gradient_tape(reference_namespace):
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(3)
    sizes = [7, 6, 5, 4]
    params = reference_namespace["he_init"](sizes, rng)
    params = {k: v + 0.05 * rng.normal(size=v.shape) for k, v in params.items()}
    x, y = rng.normal(size=(9, 7)), rng.integers(0, 4, size=9)
    loss, grads = reference_namespace["mlp_loss_and_grads"](params, x, y)

    tparams = {k: tf.Variable(v) for k, v in params.items()}
    with tf.GradientTape() as tape:
        a1 = tf.nn.relu(x @ tparams["W1"] + tparams["b1"])
        a2 = tf.nn.relu(a1 @ tparams["W2"] + tparams["b2"])
        logits = a2 @ tparams["W3"] + tparams["b3"]
        tloss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    tgrads = tape.gradient(tloss, tparams)
    assert abs(loss - float(tloss)) < 1e-12
    for name in params:
        np.testing.assert_allclose(grads[name], tgrads[name].numpy(), rtol=1e-9, atol=1e-12)


def test_reference_sigmoid_backward_matches_tf_gradient_tape(reference_namespace):
    tf = pytest.importorskip("tensorflow")
    z = np.linspace(-8.0, 8.0, 13)
    dout = np.cos(z)
    tz = tf.Variable(z)
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(tf.math.sigmoid(tz) * dout)
    np.testing.assert_allclose(reference_namespace["sigmoid_backward"](dout, z), tape.gradient(out, tz).numpy(),
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(reference_namespace["sigmoid"](z), tf.math.sigmoid(z).numpy(), rtol=1e-12)


def test_reference_softmax_cross_entropy_is_finite_for_logits_of_1000(reference_namespace):
    with np.errstate(all="raise", under="ignore"):
        loss, dlogits = reference_namespace["softmax_cross_entropy"](
            np.array([[1000.0, 0.0, -1000.0]]), np.array([1]))
    assert loss == pytest.approx(1000.0)
    np.testing.assert_allclose(dlogits, [[1.0, -1.0, 0.0]], atol=1e-12)


# ---------------------------------------------------------------------------
# Autograding with the pipeline: reference, blank release, planted bugs
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graded(tmp_path_factory, grading_cache):
    """Autograde every planted bug in one batch; the reference and the blank release are
    graded once per session by the shared grading cache (tests/grading_cache.py)."""
    from coursekit.grading import autograde_notebooks, make_course_copy, release

    base = tmp_path_factory.mktemp("backprop_course")
    course = make_course_copy(base / "course", [ASSIGNMENT])
    release(course, [ASSIGNMENT], log=None)
    release_path = course / "assignments" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    release_nb = nbformat.read(release_path, as_version=4)
    source_nb = _source_nb()

    subs = base / "submissions"
    subs.mkdir()
    notebooks = {}
    for name, bug in ((b.name.replace("_", "-"), b) for b in BUGS):
        path = subs / f"{name}.ipynb"
        nbformat.write(build_submission(release_nb, source_nb, bug), path)
        notebooks[name] = path
    start = time.perf_counter()
    with pytest.MonkeyPatch.context() as mp:
        # Two kernels on two cores: a multi-threaded BLAS in each oversubscribes the
        # CPU and the MNIST training cell runs 10x slower (measured: 5 s -> 60 s).
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            mp.setenv(var, "1")
        results = autograde_notebooks(course, ASSIGNMENT, notebooks, workers=2, timeout=300)
    wall = time.perf_counter() - start
    print(f"\nautograded {len(notebooks)} backprop submissions in {wall:.1f} s with 2 workers; per submission: "
          + ", ".join(f"{s} {r.seconds:.1f}s" for s, r in results.items()))
    results = {**grading_cache.graded(ASSIGNMENT), **results}
    return {"results": results, "release": release_nb, "wall": wall, "course": course}


def test_release_contains_no_solution_and_no_hidden_tests(graded):
    text = "\n".join(cell.source for cell in graded["release"].cells)
    for leak in ("BEGIN SOLUTION", "HIDDEN TESTS", "_ref_mlp", "_REF_PARTS", "out[~pos] = ez / (1.0 + ez)",
                 "dlogits[np.arange(B), y] -= 1.0"):
        assert leak not in text, leak
    stubs = [c for c in graded["release"].cells
             if c.cell_type == "code" and "raise NotImplementedError()" in c.source]
    assert {_meta(c)["grade_id"] for c in stubs} == set(_solution_cells(_source_nb()))


def test_reference_solution_scores_full_marks(graded):
    r = graded["results"]["reference"]
    assert r.reason is None, r.reason
    assert r.failed == [], str(r)
    assert r.score == r.max_score == sum(_test_points(_source_nb()).values())


def test_unmodified_release_scores_zero(graded):
    r = graded["results"]["blank"]
    assert r.max_score > 0
    assert r.score == 0, str(r)
    assert "not implemented" in r.tests["test_dense_backward"].message.lower()


# Which grade ids each planted bug costs is asserted on the isolated grader's scores
# (tests/test_isolated_grading.py), the points the gradebook records: there the XOR
# and MNIST tests train with the reference parts, so the expectation does not depend
# on training dynamics. In the notebook run (nbgrader, the student's feedback) those
# two cells use the student's functions, so only the messages are checked here.


@pytest.mark.parametrize("bug", BUGS, ids=[b.name for b in BUGS])
def test_planted_bug_feedback_names_the_mistake(graded, bug):
    message = graded["results"][bug.name.replace("_", "-")].tests[bug.fails[0]].message or ""
    missing = [k for k in bug.keywords if k.lower() not in message.lower()]
    assert not missing, f"{bug.fails[0]} message lacks {missing}: {message}"


def test_feedback_html_names_the_mistake_and_hides_the_hidden_tests(graded):
    from coursekit.grading import generate_feedback

    student = "dense-backward-bias-not-summed"
    pages = generate_feedback(graded["course"], ASSIGNMENT, [student], log=None)[student]
    html = "\n".join(Path(p).read_text() for p in pages)
    assert "did you forget to sum over the batch" in html
    for secret in ("_ref_dense_backward", "HIDDEN TESTS", "_REF_PARTS", "known_mistakes"):
        assert secret not in html, secret


def test_feedback_explains_an_isolated_pass_after_the_notebook_run_failed(graded):
    """A gradient bug in ``sgd`` fails the notebook's own XOR run (it trains with the student's parts);
    the isolated test_xor trains with the reference parts for what it does not grade and passes.
    The score that counts is the isolated one, and the feedback says both facts and why."""
    from coursekit.grading import generate_feedback

    student = "sgd-sign-flip"
    result = graded["results"][student]
    xor = result.tests["test_xor"]
    assert not result.tests["test_sgd_train"].passed, str(result)
    assert xor.passed, str(result)  # the isolated score counts
    assert xor.note and xor.note.startswith("Graded in isolation: passed"), xor
    assert "notebook's run of this cell failed" in xor.note and "XOR" in xor.note, xor.note
    assert f"test_xor: {xor.note}" in str(result)
    pages = generate_feedback(graded["course"], ASSIGNMENT, [student], log=None)[student]
    page = html.unescape("\n".join(Path(p).read_text() for p in pages))
    assert xor.note in page
    assert "XOR: predictions" in page  # the notebook's own failure is still shown below the note
