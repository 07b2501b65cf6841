"""The optimizers_regularization assignment: metadata, reference solution, planted bugs.

Mirrors tests/test_backprop_assignment.py. The expensive part runs once per
session: the assignment is released into a scratch course and a batch of
submissions is autograded with the real pipeline (2 workers): one submission per
planted bug of ``tests/fixtures/optimizers_regularization_bugs/bugs.py`` (the
reference solution and the unmodified release come from the session's grading
cache, tests/grading_cache.py). Each bug must cost
exactly the points of the test cell of its function, and the failure message
must name the mistake.
"""

from __future__ import annotations

import re
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
ASSIGNMENT = "optimizers_regularization"
SOURCE = ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
SPEC = ROOT / "solutions" / ASSIGNMENT / "SPEC.md"
BUGS_FILE = Path(__file__).resolve().parent / "fixtures" / "optimizers_regularization_bugs" / "bugs.py"


BUGS = load_bug_table(BUGS_FILE, "optimizers_regularization_bugs")


def _source_nb():
    return nbformat.read(SOURCE, as_version=4)



def build_submission(release_nb, source_nb, bug=None):
    """The release filled with the reference code, except ``bug.cell`` (the bug's code)."""
    return _build_submission(release_nb, source_nb, {bug.cell: bug.code} if bug else None)


@pytest.fixture(scope="module")
def reference():
    """The reference solution's functions, executed from the notebook's solution cells."""
    ns: dict = {"np": np}
    for gid, cell in _solution_cells(_source_nb()).items():
        exec(compile(_replace_solution(cell.source, None), gid, "exec"), ns)
    return ns


# ---------------------------------------------------------------------------
# Cheap checks of the source notebook, the SPEC and the bug table
# ---------------------------------------------------------------------------



def test_every_test_cell_starts_with_the_guard_and_has_hidden_tests():
    for cell in _source_nb().cells:
        if _meta(cell).get("grade"):
            assert cell.source.startswith("_ck_guard.verify()\n"), _meta(cell)["grade_id"]
            assert "### BEGIN HIDDEN TESTS" in cell.source, _meta(cell)["grade_id"]


def test_tensorflow_is_imported_only_inside_hidden_tests():
    for cell in _source_nb().cells:
        visible = re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", "", cell.source, flags=re.S)
        assert "tensorflow" not in visible, _meta(cell)["grade_id"]




def test_bug_table_covers_every_graded_function_on_real_cells():
    nb = _source_nb()
    solutions, tests = _solution_cells(nb), _test_points(nb)
    assert len({b.name for b in BUGS}) == len(BUGS)
    assert {f"test_{b.cell}" for b in BUGS} == set(tests)
    for bug in BUGS:
        assert bug.cell in solutions, bug.name
        assert bug.fails == (f"test_{bug.cell}",), bug.name
        assert bug.keywords, bug.name
        reference = _replace_solution(solutions[bug.cell].source, None)
        assert _replace_solution(solutions[bug.cell].source, bug.code) != reference, bug.name


# ---------------------------------------------------------------------------
# The reference solution against Keras (the hidden tests do the same for students)
# ---------------------------------------------------------------------------


def _keras_path(tf, optimizer, w0, grads):
    var = tf.Variable(w0)
    path = []
    for g in grads:
        optimizer.apply_gradients([(tf.constant(g), var)])
        path.append(var.numpy().copy())
    return path


def test_reference_optimizers_follow_keras_step_by_step(reference):
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(3, 2))
    grads = [rng.normal(size=(3, 2)) * 10.0 ** rng.uniform(-6, 1, size=(3, 2)) for _ in range(6)]
    keras = {
        "sgd": _keras_path(tf, tf.keras.optimizers.SGD(0.05, momentum=0.8), w0, grads),
        "rmsprop": _keras_path(tf, tf.keras.optimizers.RMSprop(0.01, rho=0.8), w0, grads),
        "adam": _keras_path(tf, tf.keras.optimizers.Adam(0.01, beta_1=0.8, beta_2=0.99), w0, grads),
    }
    w = {k: w0.copy() for k in keras}
    state = {"sgd": [np.zeros_like(w0)], "rmsprop": [np.zeros_like(w0)], "adam": [np.zeros_like(w0)] * 2}
    for t, g in enumerate(grads, start=1):
        w["sgd"], *state["sgd"] = reference["sgd_momentum_step"](
            w["sgd"], g, *state["sgd"], learning_rate=0.05, momentum=0.8)
        w["rmsprop"], *state["rmsprop"] = reference["rmsprop_step"](
            w["rmsprop"], g, *state["rmsprop"], learning_rate=0.01, rho=0.8)
        w["adam"], *state["adam"] = reference["adam_step"](
            w["adam"], g, *state["adam"], t, learning_rate=0.01, beta_1=0.8, beta_2=0.99)
        for name in keras:
            np.testing.assert_allclose(w[name], keras[name][t - 1], rtol=1e-6, atol=1e-9, err_msg=name)


def test_reference_early_stopping_matches_keras_callback(reference):
    tf = pytest.importorskip("tensorflow")
    curve = [1.0, 0.8, 0.79, 0.81, 0.82, 0.83, 0.5, 0.4]
    for patience, min_delta in [(0, 0.0), (2, 0.0), (3, 0.0), (3, 0.02), (10, 0.0)]:
        model = tf.keras.Sequential([tf.keras.Input((1,)), tf.keras.layers.Dense(1)])
        cb = tf.keras.callbacks.EarlyStopping(patience=patience, min_delta=min_delta, restore_best_weights=True)
        cb.set_model(model)
        model.stop_training = False
        cb.on_train_begin()
        stop = len(curve) - 1
        for epoch, loss in enumerate(curve):
            cb.on_epoch_end(epoch, {"val_loss": loss})
            if model.stop_training:
                stop = epoch
                break
        ours = reference["early_stopping"](curve, patience=patience, min_delta=min_delta)
        assert ours == (stop, cb.best_epoch), (patience, min_delta)


def test_reference_dropout_keeps_the_expected_activation(reference):
    x = np.full((200, 500), 3.0)
    out, mask = reference["dropout_forward"](x, 0.4, training=True, rng=np.random.default_rng(0))
    assert set(np.unique(mask)) == {0.0, 1.0 / 0.6}
    assert abs(out.mean() - 3.0) < 0.02
    assert abs((out == 0).mean() - 0.4) < 0.01


# ---------------------------------------------------------------------------
# Every planted bug, in-process (fast): its test cell fails and names the mistake
# ---------------------------------------------------------------------------

DEMO_CELLS = ("paths_demo", "together_model", "together_train", "together_plot")


def _run_all(bug=None) -> dict[str, str]:
    """Execute the notebook's code cells in one namespace (demo cells skipped, the Colab
    install line dropped), with ``bug`` applied to its solution cell.

    Returns grade_id -> failure message of every test cell that raised.
    """
    ns: dict = {"__name__": "__main__"}
    failed: dict[str, str] = {}
    for cell in _source_nb().cells:
        gid = _meta(cell).get("grade_id")
        if cell.cell_type != "code" or gid in DEMO_CELLS:
            continue
        source = cell.source
        if gid == "setup":
            from IPython.core.inputtransformer2 import TransformerManager

            source = TransformerManager().transform_cell(source)  # %pip runs only on Colab
        elif _meta(cell).get("solution"):
            source = _replace_solution(source, bug.code if bug is not None and gid == bug.cell else None)
        try:
            exec(compile(source, gid, "exec"), ns)
        except Exception as exc:  # noqa: BLE001 - a failing test cell is the observation
            if not _meta(cell).get("grade"):
                raise
            failed[gid] = f"{type(exc).__name__}: {exc}"
    return failed


@pytest.mark.parametrize("bug", BUGS, ids=[b.name for b in BUGS])
def test_planted_bug_fails_only_its_test_cell_in_process_naming_the_mistake(bug):
    failed = _run_all(bug)
    assert sorted(failed) == sorted(bug.fails), failed
    message = failed[bug.fails[0]]
    missing = [k for k in bug.keywords if k.lower() not in message.lower()]
    assert not missing, f"{bug.fails[0]} message lacks {missing}: {message}"


def test_reference_passes_every_test_cell_in_process():
    assert _run_all() == {}


# ---------------------------------------------------------------------------
# Autograding with the pipeline: reference, blank release, a sample of the bugs
# ---------------------------------------------------------------------------

# One bug per graded function goes through the whole pipeline (a sandboxed kernel
# per submission, about 15-25 s each on a loaded 2-core machine); all bugs are
# checked in-process above.
PIPELINE_BUGS = tuple(b for b in BUGS if b.name in {
    "sgd_pytorch_convention", "rmsprop_eps_outside_sqrt", "adam_textbook_epsilon",
    "l2_penalty_decays_biases", "l2_gradient_in_place", "dropout_scales_at_test_time",
    "dropout_backward_unscaled", "early_stopping_ignores_min_delta"})


@pytest.fixture(scope="module")
def graded(tmp_path_factory, grading_cache):
    """Autograde the pipeline bugs in one batch; the reference and the blank release are
    graded once per session by the shared grading cache (tests/grading_cache.py)."""
    from coursekit.grading import autograde_notebooks, make_course_copy, release

    base = tmp_path_factory.mktemp("optimizers_course")
    course = make_course_copy(base / "course", [ASSIGNMENT])
    release(course, [ASSIGNMENT], log=None)
    release_path = course / "assignments" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    release_nb = nbformat.read(release_path, as_version=4)
    source_nb = _source_nb()

    subs = base / "submissions"
    subs.mkdir()
    notebooks = {}
    for name, bug in ((b.name.replace("_", "-"), b) for b in PIPELINE_BUGS):
        path = subs / f"{name}.ipynb"
        nbformat.write(build_submission(release_nb, source_nb, bug), path)
        notebooks[name] = path
    start = time.perf_counter()
    results = autograde_notebooks(course, ASSIGNMENT, notebooks, workers=2, timeout=120)
    wall = time.perf_counter() - start
    print(f"\nautograded {len(notebooks)} {ASSIGNMENT} submissions in {wall:.1f} s with 2 workers; "
          + ", ".join(f"{s} {r.seconds:.1f}s" for s, r in results.items()))
    results = {**grading_cache.graded(ASSIGNMENT), **results}
    return {"results": results, "release": release_nb, "wall": wall}


def test_release_contains_no_solution_and_no_hidden_tests(graded):
    text = "\n".join(cell.source for cell in graded["release"].cells)
    for leak in ("BEGIN SOLUTION", "HIDDEN TESTS", "_ref_adam", "_keras_trajectory", "_ES_MISTAKES",
                 "alpha = learning_rate * np.sqrt(1.0 - beta_2**t)", "keep / (1.0 - p)"):
        assert leak not in text, leak
    code = "\n".join(cell.source for cell in graded["release"].cells if cell.cell_type == "code")
    assert code.count("raise NotImplementedError()") == len(_solution_cells(_source_nb()))


def test_reference_solution_scores_full_marks(graded):
    r = graded["results"]["reference"]
    assert r.reason is None, r.reason
    assert r.failed == [], str(r)
    assert r.score == r.max_score == sum(_test_points(_source_nb()).values())


def test_unmodified_release_scores_zero(graded):
    r = graded["results"]["blank"]
    assert r.max_score > 0
    assert r.score == 0, str(r)
    assert "not implemented" in r.tests["test_adam_step"].message.lower()


@pytest.mark.parametrize("bug", PIPELINE_BUGS, ids=[b.name for b in PIPELINE_BUGS])
def test_planted_bug_loses_only_the_points_of_its_function(graded, bug):
    r = graded["results"][bug.name.replace("_", "-")]
    assert r.reason is None, r.reason
    assert sorted(r.failed) == sorted(bug.fails), str(r)
    points = _test_points(_source_nb())
    assert r.score == r.max_score - sum(points[g] for g in bug.fails)


@pytest.mark.parametrize("bug", PIPELINE_BUGS, ids=[b.name for b in PIPELINE_BUGS])
def test_planted_bug_feedback_names_the_mistake(graded, bug):
    message = graded["results"][bug.name.replace("_", "-")].tests[bug.fails[0]].message or ""
    missing = [k for k in bug.keywords if k.lower() not in message.lower()]
    assert not missing, f"{bug.fails[0]} message lacks {missing}: {message}"
