"""The fashion_mnist_keras assignment (solutions/fashion_mnist_keras): metadata and autograding.

The expensive part runs once per module: the assignment is released into a
scratch course (``make_course_copy``) and these submissions are autograded with
the real pipeline (sandboxed kernel, 2 workers), in quick mode on the
Fashion-MNIST course sample (``reference`` and ``blank`` by the session's grading
cache, tests/grading_cache.py, which grades them once for this module and
tests/test_grading_release.py):

- ``reference``: the solutions, full marks;
- ``blank``: the unmodified release, zero;
- ``test-training``: the reference, but trained on the training *and* test
  images; loses the no-test-training check and with it the accuracy tests;
- ``bugs``: four independent mistakes, each costing exactly its own test(s)
  with a message naming it: ``normalize`` divides by 256, ``prepare_data``
  validates on the last rows, ``build_model`` ignores its arguments, and the
  model is trained for 0 epochs (too weak: loses both accuracy tests only).
  They share one submission because each kernel start with TensorFlow costs
  tens of seconds on the 2-core machine.

The diagnoses of the hidden tests of ``normalize``, ``prepare_data`` and
``build_model`` are checked in process, cheaply: the set-up and data cells
and the hidden helpers are executed here, then each test cell against one
known mistake at a time (the message must name it) and against accepted
variants (must pass).
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import nbformat
import pytest
from assignment_support import (
    BEGIN,
    END,
    build_submission as _build_submission,
    meta as _meta,
    replace_solution as _replace_solution,
    solution_cells as _solution_cells,
    test_points as _test_points,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "grading"))
import fashion_hostile as FH  # noqa: E402

ASSIGNMENT = "fashion_mnist_keras"
SOURCE = ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
SPEC = ROOT / "solutions" / ASSIGNMENT / "SPEC.md"
ACCURACY_TESTS = ["test_accuracy_pass", "test_accuracy_full"]


def _source_nb():
    return nbformat.read(SOURCE, as_version=4)



def _reference_code(gid: str) -> str:
    """The reference solution region of a cell, dedented."""
    lines = _solution_cells(_source_nb())[gid].source.split("\n")
    b = next(i for i, line in enumerate(lines) if BEGIN in line)
    e = next(i for i, line in enumerate(lines) if END in line)
    indent = len(lines[b]) - len(lines[b].lstrip())
    return "\n".join(line[indent:] for line in lines[b + 1 : e])

def _train_code(*, epochs: str = "ck.pick(quick=15, full=12)", with_test: bool = False) -> str:
    code = _reference_code("train")
    assert "epochs=ck.pick(quick=15, full=12)" in code  # keep in step with the notebook
    code = code.replace("epochs=ck.pick(quick=15, full=12)", f"epochs={epochs}")
    if with_test:  # the cheat: the test images join the training data
        code = code.replace(
            "model = build_model",
            "x_tr = np.concatenate([x_tr, normalize(x_test_raw)])\n"
            "y_tr = np.concatenate([y_tr, y_test])\n"
            "model = build_model",
        )
    return code


SUBMISSIONS: dict[str, dict[str, str]] = {
    "reference": {},
    "test-training": {"train": _train_code(with_test=True)},
    "bugs": {
        "train": _train_code(epochs="0"),
        "normalize": "return x.astype(np.float32) / np.float32(256.0)",
        "prepare_data": (
            "x_scaled = normalize(x)\n"
            "return (x_scaled[:-n_val], y[:-n_val]), (x_scaled[-n_val:], y[-n_val:])"
        ),
        "build_model": _reference_code("build_model")
        .replace("keras.Input(shape=tuple(input_shape))", "keras.Input(shape=(28, 28))")
        .replace("keras.layers.Dense(n_classes,", "keras.layers.Dense(10,"),
    },
}
#: submission -> {failed grade_id: words its message must contain}
EXPECTED_FAILURES: dict[str, dict[str, list[str]]] = {
    "reference": {},
    "test-training": {
        "test_no_test_training": ["180 of the 180 test images", "model.fit"],
        "test_accuracy_pass": ["not graded", "test images"],
        "test_accuracy_full": ["not graded", "test images"],
    },
    "bugs": {
        "test_accuracy_pass": ["Test accuracy (pass)", "below"],
        "test_accuracy_full": ["Test accuracy (full marks)", "below"],
        "test_normalize": ["normalize", "256"],
        "test_prepare_data": ["prepare_data", "last", "shuffle"],
        "test_build_model": ["build_model((8, 8), 3)", "(None, 8, 8)"],
    },
}



build_submission = _build_submission

#: The kernel-level cheats of tests/fixtures/grading/fashion_hostile.py graded in the same batch (the
#: input-transformer and displayhook cheats give no answer either, like ``do_execute_rewrite``: the
#: isolated tests never read the kernel's outputs, so they add a kernel start each and prove nothing more).
GRADED_CHEATS = ("do_execute_rewrite", "name_rebinding", "unrecorded_test_training")
#: What the cheats that do some honest work keep (the rest fails): failed grade id -> words of its message.
CHEAT_FAILURES: dict[str, dict[str, list[str]]] = {
    "unrecorded_test_training": {gid: ["outside model.fit", "train_on_batch"]
                                 for gid in ("test_no_test_training", *ACCURACY_TESTS)},
}


# ---------------------------------------------------------------------------
# Cheap checks of the source notebook and the SPEC
# ---------------------------------------------------------------------------



def test_every_test_cell_starts_with_the_guard_and_has_hidden_tests():
    for cell in _source_nb().cells:
        if _meta(cell).get("grade"):
            assert cell.source.startswith("_ck_guard.verify()\n"), _meta(cell)["grade_id"]
            assert "### BEGIN HIDDEN TESTS" in cell.source, _meta(cell)["grade_id"]


def test_setup_cell_installs_guard_and_fit_recorder_before_student_code():
    nb = _source_nb()
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert _meta(first_code)["grade_id"] == "setup" and _meta(first_code)["locked"]
    assert "_ck_guard = install_guard()" in first_code.source
    assert "keras.Model.fit = _ck_recording_fit" in first_code.source
    assert "_ck_load_fashion_mnist = ck.data.load_fashion_mnist" in first_code.source
    first_solution = next(i for i, c in enumerate(nb.cells) if _meta(c).get("solution"))
    assert nb.cells.index(first_code) < first_solution




def test_thresholds_agree_between_notebook_and_spec():
    nb = _source_nb()
    text = "\n".join(c.source for c in nb.cells)
    visible = re.search(r"PASS_ACCURACY, FULL_ACCURACY = \(([\d.]+), ([\d.]+)\) if IS_SAMPLE else \(([\d.]+), ([\d.]+)\)",
                        text)
    hidden_pass = re.search(r"_PASS = \{True: ([\d.]+), False: ([\d.]+)\}", text)
    hidden_full = re.search(r"_FULL = \{True: ([\d.]+), False: ([\d.]+)\}", text)
    assert visible and hidden_pass and hidden_full
    sample_pass, sample_full, full_pass, full_full = map(float, visible.groups())
    assert (sample_pass, full_pass) == tuple(map(float, hidden_pass.groups()))
    assert (sample_full, full_full) == tuple(map(float, hidden_full.groups()))
    assert (full_pass, full_full) == (0.85, 0.88)
    spec = SPEC.read_text()
    for value in (sample_pass, sample_full, full_pass, full_full):
        assert f"{value:.2f}" in spec


def test_submission_variants_change_only_their_cells():
    source = _source_nb()
    solutions = _solution_cells(source)
    for name, replacements in SUBMISSIONS.items():
        for gid, code in replacements.items():
            assert gid in solutions, (name, gid)
            assert _replace_solution(solutions[gid].source, code) != _replace_solution(solutions[gid].source, None)
        assert set(EXPECTED_FAILURES[name]) <= set(_test_points(source))


# ---------------------------------------------------------------------------
# Autograding with the pipeline
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graded(tmp_path_factory, grading_cache):
    """Release into a scratch course, then autograde the faulty submissions in one batch (2 workers);
    the reference and the blank release are graded once per session by the shared grading cache
    (tests/grading_cache.py)."""
    from coursekit.grading import autograde_notebooks, make_course_copy, release

    base = tmp_path_factory.mktemp("fashion_course")
    course = make_course_copy(base / "course", [ASSIGNMENT])
    release(course, [ASSIGNMENT], log=None)
    release_path = course / "assignments" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    release_nb = nbformat.read(release_path, as_version=4)
    source_nb = _source_nb()

    subs = base / "submissions"
    subs.mkdir()
    notebooks = {}
    for name, replacements in SUBMISSIONS.items():
        if name == "reference":
            continue
        path = subs / f"{name}.ipynb"
        nbformat.write(build_submission(release_nb, source_nb, replacements), path)
        notebooks[name] = path
    for name in GRADED_CHEATS:
        path = subs / f"{name}.ipynb"
        nbformat.write(FH.CHEATS[name].build(release_nb, source_nb), path)
        notebooks[name] = path
    start = time.perf_counter()
    results = autograde_notebooks(course, ASSIGNMENT, notebooks, workers=2, timeout=240)
    wall = time.perf_counter() - start
    print(f"\nautograded {len(notebooks)} {ASSIGNMENT} submissions in {wall:.1f} s with 2 workers; per submission: "
          + ", ".join(f"{s} {r.seconds:.1f}s" for s, r in results.items()))
    for student, r in results.items():
        print(f"  {student}: {r.score}/{r.max_score}, reason {r.reason}")
        for gid in r.failed:
            print(f"    {gid}: {r.tests[gid].message}")
    results = {**grading_cache.graded(ASSIGNMENT), **results}
    return {"results": results, "release": release_nb, "wall": wall}


def test_release_contains_no_solution_no_hidden_tests_and_no_grader_thresholds(graded):
    text = "\n".join(cell.source for cell in graded["release"].cells)
    for leak in ("BEGIN SOLUTION", "HIDDEN TESTS", "_graded_model", "_split_indices", "_PASS = ",
                 "x.astype(np.float32) / np.float32(255.0)", "Dense(256, activation"):
        assert leak not in text, leak
    code = "\n".join(cell.source for cell in graded["release"].cells if cell.cell_type == "code")
    assert code.count("raise NotImplementedError()") == len(_solution_cells(_source_nb()))
    assert "keras.Model.fit = _ck_recording_fit" in text  # the recorder is part of the release


def test_reference_solution_scores_full_marks(graded):
    r = graded["results"]["reference"]
    assert r.reason is None, r.reason
    assert r.failed == [], str(r)
    assert r.score == r.max_score == sum(_test_points(_source_nb()).values())


def test_unmodified_release_scores_zero(graded):
    r = graded["results"]["blank"]
    assert r.max_score > 0
    assert r.score == 0, str(r)
    assert "not implemented" in r.tests["test_normalize"].message.lower()


@pytest.mark.parametrize("name", ["test-training", "bugs"])
def test_faulty_submission_loses_exactly_the_points_of_the_affected_tests(graded, name):
    r = graded["results"][name]
    assert r.reason is None, r.reason
    expected = EXPECTED_FAILURES[name]
    assert sorted(r.failed) == sorted(expected), str(r)
    points = _test_points(_source_nb())
    assert r.score == r.max_score - sum(points[g] for g in expected)


@pytest.mark.parametrize("name", ["test-training", "bugs"])
def test_faulty_submission_feedback_names_the_mistake(graded, name):
    r = graded["results"][name]
    for gid, words in EXPECTED_FAILURES[name].items():
        message = r.tests[gid].message or ""
        missing = [w for w in words if w.lower() not in message.lower()]
        assert not missing, f"{name}: {gid} message lacks {missing}: {message}"


@pytest.mark.parametrize("name", GRADED_CHEATS)
def test_kernel_cheat_scores_no_more_than_allowed(graded, name):
    """Issue 11, section 3: nothing done inside the kernel (hooks, rebound names, training outside
    model.fit) changes the points; the isolated tests decide them."""
    r = graded["results"][name]
    cheat = FH.CHEATS[name]
    assert r.score <= cheat.allowed, f"{name} ({cheat.why}): {r}"
    expected = CHEAT_FAILURES.get(name)
    if expected is None:
        assert r.score == 0, str(r)
        return
    assert sorted(r.failed) == sorted(expected), str(r)
    points = _test_points(_source_nb())
    assert r.score == r.max_score - sum(points[g] for g in expected) == cheat.allowed
    for gid, words in expected.items():
        message = r.tests[gid].message or ""
        assert all(w.lower() in message.lower() for w in words), f"{name}: {gid}: {message}"


# ---------------------------------------------------------------------------
# The hidden build_model checks, in process, against known mistakes
# ---------------------------------------------------------------------------

_REF_BUILD = _reference_code("build_model")
_NO_SOFTMAX = _REF_BUILD.replace('keras.layers.Dense(n_classes, activation="softmax")', "keras.layers.Dense(n_classes)")
_FROM_LOGITS = 'keras.losses.SparseCategoricalCrossentropy(from_logits=True)'
BUILD_MODEL_VARIANTS: dict[str, tuple[str, list[str] | None]] = {
    # name: (body of build_model, words of the expected failure message, or None when it must pass)
    "reference": (_REF_BUILD, None),
    "logits_with_from_logits": (_NO_SOFTMAX.replace('"sparse_categorical_crossentropy"', _FROM_LOGITS), None),
    "softmax_with_from_logits": (_REF_BUILD.replace('"sparse_categorical_crossentropy"', _FROM_LOGITS),
                                 ["build_model", "from_logits=True", "second softmax"]),
    "logits_without_from_logits": (_NO_SOFTMAX, ["build_model", "not probabilities", "from_logits=True"]),
    "categorical_loss": (_REF_BUILD.replace('"sparse_categorical_crossentropy"', '"categorical_crossentropy"'),
                         ["build_model", "one-hot", "sparse_categorical_crossentropy"]),
    "mse_loss": (_REF_BUILD.replace('"sparse_categorical_crossentropy"', '"mse"'),
                 ["build_model", "cross-entropy"]),
    "not_compiled": (_REF_BUILD.split("model.compile(")[0] + "return model", ["build_model", "not compiled"]),
    "too_many_parameters": (_REF_BUILD.replace("Dense(256,", "Dense(1024,").replace("Dense(128,", "Dense(512,"),
                            ["build_model", "parameters", "500,000"]),
    "no_input_layer": (_REF_BUILD.replace("keras.Input(shape=tuple(input_shape)),\n", ""),
                       ["build_model", "input shape", "keras.Input"]),
    "same_model_every_call": (
        "cache = globals().setdefault('_CACHED', {})\nkey = (tuple(input_shape), n_classes)\n"
        "if key in cache:\n    return cache[key]\n"
        + _REF_BUILD.replace("return model", "cache[key] = model\nreturn model"),
        ["build_model", "new model"]),
}


def _cell_source(gid: str) -> str:
    cell = next(c for c in _source_nb().cells if _meta(c).get("grade_id") == gid)
    return cell.source.replace("%pip install", "pass  # %pip install")


@pytest.fixture(scope="module")
def notebook_namespace():
    """The set-up and data cells, the reference normalize and the hidden helpers, run in this process."""
    pytest.importorskip("tensorflow")
    import keras
    import matplotlib.pyplot as plt

    original_fit = keras.Model.fit
    ns: dict = {}
    try:
        for gid in ("setup", "data"):
            exec(compile(_cell_source(gid), gid, "exec"), ns)
        exec(compile(_replace_solution(_cell_source("normalize"), None), "normalize", "exec"), ns)
        exec(compile(_cell_source("test_normalize"), "test_normalize", "exec"), ns)
        yield ns
    finally:
        keras.Model.fit = original_fit  # the set-up cell installed the recorder
        plt.close("all")


@pytest.mark.parametrize("variant", list(BUILD_MODEL_VARIANTS))
def test_hidden_build_model_checks_diagnose_known_mistakes(notebook_namespace, variant):
    body, words = BUILD_MODEL_VARIANTS[variant]
    source = _replace_solution(_cell_source("build_model"), body)
    ns = notebook_namespace
    ns.pop("_CACHED", None)
    exec(compile(source, f"build_model[{variant}]", "exec"), ns)
    test_cell = compile(_cell_source("test_build_model"), "test_build_model", "exec")
    if words is None:
        exec(test_cell, ns)
        return
    with pytest.raises(AssertionError) as info:
        exec(test_cell, ns)
    message = str(info.value)
    missing = [w for w in words if w.lower() not in message.lower()]
    assert not missing, f"{variant}: message lacks {missing}: {message}"


NORMALIZE_MISTAKES: dict[str, tuple[str, list[str]]] = {
    "unscaled": ("return x.astype(np.float32)", ["normalize", "unscaled"]),
    "by_256": ("return x.astype(np.float32) / 256", ["normalize", "256"]),
    "by_batch_max": ("return x.astype(np.float32) / x.max()", ["normalize", "x.max()", "255"]),
    "integer_division": ("return (x // 255).astype(np.float32)", ["normalize", "integer division"]),
    "standardized": ("return ((x - x.mean()) / x.std()).astype(np.float32)", ["normalize", "standardized"]),
    "float64": ("return x / 255.0", ["normalize", "float64", "float32"]),
    "flattened": ("return x.reshape(len(x), -1).astype(np.float32) / 255", ["normalize", "shape", "Flatten"]),
}
_REF_SPLIT = _reference_code("prepare_data")
PREPARE_DATA_MISTAKES: dict[str, tuple[str, list[str]]] = {
    "last_rows_like_validation_split": (
        "x_scaled = normalize(x)\nreturn (x_scaled[:-n_val], y[:-n_val]), (x_scaled[-n_val:], y[-n_val:])",
        ["prepare_data", "last", "shuffle"]),
    "first_rows": (
        "x_scaled = normalize(x)\nreturn (x_scaled[n_val:], y[n_val:]), (x_scaled[:n_val], y[:n_val])",
        ["prepare_data", "first", "shuffle"]),
    "swapped": (_REF_SPLIT.replace("val, train = perm[:n_val], perm[n_val:]", "train, val = perm[:n_val], perm[n_val:]"),
                ["prepare_data", "swapped"]),
    "labels_not_shuffled": (_REF_SPLIT.replace("y[train]", "y[:len(train)]").replace("y[val]", "y[len(train):]"),
                            ["prepare_data", "labels", "same permutation"]),
    "global_random_state": (_REF_SPLIT.replace("rng.permutation(len(x))", "np.random.permutation(len(x))"),
                            ["prepare_data", "global random state", "default_rng(seed)"]),
    "seed_ignored": (_REF_SPLIT.replace("perm = rng.permutation(len(x))",
                                        "perm = np.random.default_rng().permutation(len(x))"),
                     ["prepare_data", "same seed"]),
    "with_replacement": (_REF_SPLIT.replace("perm = rng.permutation(len(x))",
                                            "perm = rng.choice(len(x), size=len(x), replace=True)"),
                         ["prepare_data"]),
    "other_permutation_recipe": (_REF_SPLIT.replace("val, train = perm[:n_val], perm[n_val:]",
                                                    "val, train = perm[-n_val:], perm[:-n_val]"),
                                 ["prepare_data", "first round(val_fraction * n)", "rng.permutation(n)"]),
    "not_normalized": (_REF_SPLIT.replace("x_scaled = normalize(x)", "x_scaled = x"),
                       ["prepare_data", "float32"]),
}


@pytest.mark.parametrize("variant", list(NORMALIZE_MISTAKES))
def test_hidden_normalize_checks_diagnose_known_mistakes(notebook_namespace, variant):
    body, words = NORMALIZE_MISTAKES[variant]
    ns = notebook_namespace
    reference = ns["normalize"]
    try:
        exec(compile(_replace_solution(_cell_source("normalize"), body), f"normalize[{variant}]", "exec"), ns)
        with pytest.raises(AssertionError) as info:
            exec(compile(_cell_source("test_normalize"), "test_normalize", "exec"), ns)
    finally:
        ns["normalize"] = reference
    missing = [w for w in words if w.lower() not in str(info.value).lower()]
    assert not missing, f"{variant}: message lacks {missing}: {info.value}"


@pytest.mark.parametrize("variant", ["reference", *PREPARE_DATA_MISTAKES])
def test_hidden_prepare_data_checks_diagnose_known_mistakes(notebook_namespace, variant):
    body, words = PREPARE_DATA_MISTAKES.get(variant, (None, None))
    ns = notebook_namespace
    exec(compile(_replace_solution(_cell_source("prepare_data"), body), f"prepare_data[{variant}]", "exec"), ns)
    test_cell = compile(_cell_source("test_prepare_data"), "test_prepare_data", "exec")
    if words is None:
        exec(test_cell, ns)
        return
    with pytest.raises(AssertionError) as info:
        exec(test_cell, ns)
    missing = [w for w in words if w.lower() not in str(info.value).lower()]
    assert not missing, f"{variant}: message lacks {missing}: {info.value}"
