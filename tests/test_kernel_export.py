"""The training tests are graded on the variables of the notebook's own run first (issue 11, section 6).

:mod:`coursekit.grading.kernel_export`: the grading kernel writes the training variables
(``xor_params``, ``mnist_params``, ...) when it is shut down after the last cell, and the
isolated test runner grades them before it would retrain with the reference parts. Proved
here: the file is read back as plain data only, and never through a link, a FIFO or past its
size limit; a training test whose notebook variables pass is not retrained (the training
cell does not run again), one whose variables fail is retrained with the reference parts
(so a bug in ``sgd_train`` still costs only ``test_sgd_train``), in the isolated runner and
through the whole pipeline with the sandboxed kernel.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest
from assignment_support import build_submission, load_bug_table

from coursekit.grading import kernel_export
from coursekit.grading.isolated import ForkServer, LocalWorker, grade_plan
from coursekit.grading.isolated_grade import trained_names
from coursekit.grading.isolated_source import plan_for
from coursekit.grading.isolated_worker import Encoder, frame_bytes
from coursekit.grading.kernel_export import read_exported, write_exported

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "solutions" / "backprop" / "backprop.ipynb"
RELEASE = ROOT / "assignments" / "backprop" / "backprop.ipynb"
RAISES = 'raise RuntimeError("the training cell ran again")'


# ---------------------------------------------------------------------------
# the file


def test_round_trip_keeps_plain_data_and_only_the_names_asked_for(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    ns = {"params": {"W1": np.arange(6.0).reshape(2, 3), "b1": np.zeros(3)}, "history": [1.5, 0.25],
          "rng": rng, "func": len, "other": 7}
    path = tmp_path / "trained.frame"
    write_exported(ns, ["params", "history", "rng", "func", "missing"], path)
    got = read_exported(path, ["params", "history", "rng", "func", "other"])
    assert set(got) == {"params", "history", "rng"}  # a function cannot cross; "other" was not written
    np.testing.assert_array_equal(got["params"]["W1"], ns["params"]["W1"])
    assert got["history"] == [1.5, 0.25]
    assert got["rng"].random() == np.random.default_rng(3).random()
    assert not list(tmp_path.glob("*.tmp")), "the write is atomic: no temporary file is left"
    assert read_exported(path, ["history"]) == {"history": [1.5, 0.25]}


def _frame(value: dict[str, Any]) -> bytes:
    enc = Encoder()
    return frame_bytes({"op": "result", "value": {k: enc.node(v) for k, v in value.items()}}, enc)


def test_forged_and_broken_files_give_nothing(tmp_path: Path) -> None:
    good = _frame({"x": np.ones(3)})
    cases = {
        "missing": None,
        "empty": b"",
        "truncated": good[:-5],
        "garbage": os.urandom(64),
        "not a result": frame_bytes({"op": "ok"}),
        "huge header length": (1 << 62).to_bytes(8, "big") + bytes(8),
    }
    for name, data in cases.items():
        path = tmp_path / name.replace(" ", "_")
        if data is not None:
            path.write_bytes(data)
        assert read_exported(path, ["x"]) == {}, name
    # an object node (a worker's callable) and a refused dtype are left out, the rest is kept
    forged = _frame({"x": np.ones(2)}).replace(b'"t": "nd"', b'"t": "fn"', 1)
    (tmp_path / "fn").write_bytes(forged)
    assert read_exported(tmp_path / "fn", ["x"]) == {}
    enc = Encoder()
    mixed = frame_bytes({"op": "result", "value": {
        "x": enc.node(np.ones(2)), "y": {"t": "nd", "dtype": "|O", "shape": [1], "buf": 0}}}, enc)
    (tmp_path / "mixed").write_bytes(mixed)
    assert set(read_exported(tmp_path / "mixed", ["x", "y"])) == {"x"}


def test_a_link_a_fifo_or_an_oversized_file_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "real.frame"
    target.write_bytes(_frame({"x": np.ones(3)}))
    assert set(read_exported(target, ["x"])) == {"x"}
    (tmp_path / "link").symlink_to(target)
    assert read_exported(tmp_path / "link", ["x"]) == {}, "followed a symbolic link"
    os.mkfifo(tmp_path / "fifo")
    reader = threading.Thread(target=lambda: read_exported(tmp_path / "fifo", ["x"]), daemon=True)
    reader.start()
    reader.join(5)
    assert not reader.is_alive(), "reading a FIFO blocked the grader"
    assert read_exported(tmp_path / "fifo", ["x"]) == {}
    monkeypatch.setattr(kernel_export, "MAX_BYTES", 16)
    assert read_exported(target, ["x"]) == {}, "read a file over the size limit"
    monkeypatch.undo()
    long_list = tmp_path / "long.frame"
    long_list.write_bytes(_frame({"x": [0.5] * 1_000_000}))  # ~5 MB of JSON: parsing it costs the grader
    assert read_exported(long_list, ["x"]) == {}, "parsed an oversized JSON header"


def test_the_names_are_the_training_tests_variables() -> None:
    names = trained_names(SOURCE, SOURCE)
    assert {"xor_params", "mnist_params", "val_accuracy"} <= set(names), names
    assert not {"sigmoid", "relu", "X_xor"} & set(names), names  # functions and locked data are not asked for
    fashion = ROOT / "solutions" / "fashion_mnist_keras" / "fashion_mnist_keras.ipynb"
    assert trained_names(fashion, fashion) == []  # Keras models travel another way


# ---------------------------------------------------------------------------
# the isolated runner


@pytest.fixture(scope="module")
def backprop() -> dict[str, Any]:
    source = nbformat.read(SOURCE, as_version=4)
    release = nbformat.read(RELEASE, as_version=4)
    plan = plan_for(source, build_submission(release, source))
    spec = next(t for t in plan.tests if t.grade_id == "test_xor")
    worker = LocalWorker()  # the reference training, in this process (trusted code)
    for src, filename in plan.worker_sources(spec):
        worker.exec(src, filename)
    return {"source": source, "release": release, "good": worker.get(spec.variables)}


def _grade_xor(backprop: dict[str, Any], trained: Any, train_xor: str | None = None):
    replacements = {"train_xor": train_xor} if train_xor else {}
    plan = plan_for(backprop["source"], build_submission(backprop["release"], backprop["source"], replacements))
    with ForkServer(lambda argv: argv, preload=plan.locked_imports(), warmup=plan.setup_source()) as server:
        result = grade_plan(plan, server, 120.0, only={"test_xor"}, trained=trained)["test_xor"]
        assert server.info.get("warmed") is True, server.info  # the setup cell ran once, before the forks
        return result


def test_passing_notebook_variables_are_graded_without_retraining(backprop: dict[str, Any]) -> None:
    result = _grade_xor(backprop, lambda: backprop["good"], train_xor=RAISES)
    assert result.passed and result.from_notebook, result.message


def test_failing_notebook_variables_are_retrained_with_the_reference_parts(backprop: dict[str, Any]) -> None:
    bad = {**backprop["good"], "xor_params": {k: np.zeros_like(v) for k, v in backprop["good"]["xor_params"].items()}}
    retrained = _grade_xor(backprop, lambda: bad)
    assert retrained.passed and not retrained.from_notebook, retrained.message
    # both fail: the retraining's message (it names the student's cell) is the one given
    failed = _grade_xor(backprop, lambda: bad, train_xor=RAISES)
    assert not failed.passed and not failed.from_notebook
    assert "your cell raised RuntimeError" in failed.message, failed.message


def test_no_variables_or_a_failing_provider_means_retraining(backprop: dict[str, Any]) -> None:
    def broken() -> dict[str, Any]:
        raise OSError("no file")

    for trained in (lambda: {}, lambda: {"unrelated": 1}, broken, None):
        result = _grade_xor(backprop, trained, train_xor=RAISES)
        assert not result.passed and not result.from_notebook, trained
        assert "your cell raised RuntimeError" in result.message


# ---------------------------------------------------------------------------
# the whole pipeline: the sandboxed kernel writes the file, the runner reads it


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from coursekit.grading import make_course_copy, release
    from coursekit.grading.course import Course
    from coursekit.grading.runner import grade_submission, submission_task
    from coursekit.grading.sandbox import UID_BASE, install_kernelspec, namespace_available
    from coursekit.grading.writer import snapshot

    tmp = tmp_path_factory.mktemp("export")
    root = make_course_copy(tmp / "course", ["backprop"])
    release(root, ["backprop"], log=None)
    course = Course(root)
    spec = install_kernelspec(course.work_dir, isolate=namespace_available())
    source, fresh = nbformat.read(SOURCE, as_version=4), nbformat.read(RELEASE, as_version=4)
    sgd_bug = next(b for b in load_bug_table(ROOT / "tests" / "fixtures" / "backprop_bugs" / "bugs.py", "backprop_bugs_export")
                   if b.name == "sgd_sign_flip")
    subs = {"honest": {}, "sgdbug": {sgd_bug.cell: sgd_bug.code}}
    out = {}
    for i, (student, replacements) in enumerate(subs.items()):
        folder = course.submitted_dir / student / "backprop"
        folder.mkdir(parents=True)
        nbformat.write(build_submission(fresh, source, replacements), folder / "backprop.ipynb")
        task = submission_task(root, "backprop", student, spec=spec, snapshot=snapshot(course, tmp / f"{i}.db"),
                               uid=UID_BASE + 4500 + i)
        out[student] = grade_submission(task)
    # --no-isolation: the kernel writes into the run folder instead of its sandbox's scratch folder
    limits_only = install_kernelspec(course.work_dir, isolate=False)
    task = submission_task(root, "backprop", "honest", spec=limits_only, snapshot=snapshot(course, tmp / "l.db"),
                           uid=UID_BASE + 4599)
    out["limits only"] = grade_submission(task)
    shutil.rmtree(tmp, ignore_errors=True)
    return out


def _scores(out: dict[str, Any]) -> dict[str, float]:
    return {g: e["auto_score"] for g, e in out["grades"]["backprop"]["grades"].items() if "auto_score" in e}


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("run", ["honest", "limits only"])
def test_pipeline_grades_the_honest_network_from_the_kernel(pipeline: dict[str, Any], run: str) -> None:
    out = pipeline[run]
    assert out["status"] == "ok", out.get("reason")
    assert sorted(out.get("from_notebook", [])) == ["test_mnist", "test_xor"], out.get("from_notebook")
    assert not out["messages"], out["messages"]
    assert _scores(out)["test_mnist"] == 3.0 and _scores(out)["test_xor"] == 2.0


@pytest.mark.timeout(1200)
def test_pipeline_retrains_when_the_kernels_network_fails(pipeline: dict[str, Any]) -> None:
    out = pipeline["sgdbug"]
    assert out["status"] == "ok", out.get("reason")
    # the sign-flipped sgd_train diverged in the notebook; retrained with the reference parts, both pass
    assert not out.get("from_notebook"), out.get("from_notebook")
    scores = _scores(out)
    assert scores["test_sgd_train"] == 0.0 and "sgd_train" in out["messages"]["test_sgd_train"]
    assert scores["test_xor"] == 2.0 and scores["test_mnist"] == 3.0, out["messages"]
