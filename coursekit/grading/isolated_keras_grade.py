"""Isolated grading of an assignment whose answers are Keras models (``fashion_mnist_keras``).

:func:`coursekit.grading.isolated_grade.grade_isolated` hands a plan here when the
assignment's locked cells import ``keras``: a model is not plain data, so it
travels as the bytes of its ``.keras`` file, checked with
:func:`coursekit.grading.isolated_keras.archive_problems` and loaded with
:func:`~coursekit.grading.isolated_keras.load_untrusted_model` (``safe_mode``) in
the grading process. Nothing is unpickled, no student code is imported here.

What runs where (one sandboxed zygote per submission, as for the numpy assignments):

- **Function tests** (``normalize``, ``prepare_data``, ``build_model``): a fork of
  the zygote runs the set-up cell, the AST-extracted definitions of the answer
  cells and the reference for the cells the test does not grade. The hidden test
  runs in the grading process, in a fresh namespace holding the trusted set-up and
  data cells (the grader's own data); the student's functions are proxies whose
  answers come back as plain data, a ``keras.Model`` as checked ``.keras`` bytes.
- **Training tests** (the ``train`` cell: ``test_no_test_training`` and the two
  accuracy tests): **one** fork per submission runs the set-up and data cells, the
  reference functions and the student's training cell, then sends back only data:
  the saved ``fashion_model.keras`` as bytes, the ``model.fit`` records (image
  fingerprints as hex strings, counts, problems, the weights' fingerprints before
  and after each call), the fingerprints of the weights at every ``compile`` and
  whether ``keras.Model.fit`` was still the recorder. The three tests grade that one
  run: they read only data and run no student code, each in a fresh namespace of
  its own, so nothing one of them does reaches another; training again per test
  would cost two more trainings and grade the same cell with the same seed.

The training worker never holds a test image: its sandbox sees, instead of the
real data folder, one whose test split holds training images turned upside down
and inverted (no augmentation makes those; each differs from every training
image by its fingerprints). The grader counts a ``model.fit`` input that holds
those stand-ins, or a real test image, as a test image used in training. The
saved model must also be reachable from a compiled model through recorded
``model.fit`` calls alone: weights changed by ``train_on_batch``, a custom loop or
``set_weights`` before a ``model.fit(..., epochs=0)`` fail ``test_no_test_training``
and leave the accuracy tests ungraded. What remains: the worker is the student's
own process, so its code can forge those records; what it cannot do is learn from
test images it never had (test data typed into the submission's source excepted:
a large literal, visible to a reader and to the static scan). Without the sandbox
(``--no-isolation``) the worker could read the real data folder.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from coursekit.grading.isolated import IsolatedResult, _Abort, _compiled, _message, _NoGuard
from coursekit.grading.isolated_channel import ForkServer
from coursekit.grading.isolated_keras import (
    UntrustedModelError,
    archive_problems,
    load_untrusted_model,
)
from coursekit.grading.isolated_keras_data import (
    DATA_ENV,
    hiding_test_data,
    stand_in_test_split,
    write_data_folder,
)
from coursekit.grading.isolated_source import Plan, TestSpec, python_source

#: Seconds the one training run (and the zygote's start, TensorFlow included) may take, as a multiple of a
#: test's limit.
TRAIN_LIMIT_FACTOR = 3.0
_MODULES = ("keras", "tensorflow")

# Runs in the worker first: the zygote's stdout was closed in the fork, and Keras writes progress there.
_STREAMS = '''
import os as _ck_os
import sys as _ck_sys

_ck_sys.stdout = _ck_sys.stderr = open(_ck_os.devnull, "w")  # noqa: SIM115
'''

# Runs in the worker right after the set-up cell (trusted code, before any student code).
_RECORDER = '''
_ck_compiled = set()
_ck_setup_fit = keras.Model.fit
_ck_setup_compile = keras.Model.compile


def _ck_recording_fit(self, *args, **kwargs):
    _ck_before = _ck_weights_key(self)
    _ck_n = len(_ck_fit_log)
    _ck_history = _ck_setup_fit(self, *args, **kwargs)
    if len(_ck_fit_log) > _ck_n:
        _ck_fit_log[-1]["before"] = _ck_before
    return _ck_history


def _ck_recording_compile(self, *args, **kwargs):
    _ck_out = _ck_setup_compile(self, *args, **kwargs)
    _ck_compiled.add(_ck_weights_key(self))
    return _ck_out


keras.Model.fit = _ck_recording_fit
keras.Model.compile = _ck_recording_compile
'''

# Runs in the worker before the answer cells: what the grader calls there.
_HELPERS = '''
def _ck_answer(_ck_value):
    import os as _ck_os
    import tempfile as _ck_tempfile
    if not isinstance(_ck_value, keras.Model):
        return {"kind": "value", "value": _ck_value}
    _ck_fd, _ck_path = _ck_tempfile.mkstemp(suffix=".keras")
    _ck_os.close(_ck_fd)
    try:
        _ck_value.save(_ck_path)
        with open(_ck_path, "rb") as _ck_f:
            return {"kind": "keras", "data": np.frombuffer(_ck_f.read(), dtype=np.uint8)}
    finally:
        _ck_os.unlink(_ck_path)


def _ck_call(_ck_name, *args, **kwargs):
    _ck_func = globals().get(_ck_name)
    if not callable(_ck_func):
        raise NameError(f"name {_ck_name!r} is not defined")
    return _ck_answer(_ck_func(*args, **kwargs))


def _ck_training_report(_ck_file):
    import os as _ck_os
    _ck_log = [{"keys": sorted(bytes(k).hex() for k in e["keys"]), "n_images": int(e["n_images"]),
                "problems": [str(p) for p in e["problems"]], "weights": str(e.get("weights")),
                "before": str(e.get("before"))} for e in _ck_fit_log]
    _ck_data = None
    if _ck_os.path.isfile(_ck_file):
        with open(_ck_file, "rb") as _ck_f:
            _ck_data = np.frombuffer(_ck_f.read(), dtype=np.uint8)
    return {"intact": keras.Model.fit is _ck_recording_fit, "log": _ck_log,
            "compiled": sorted(str(k) for k in _ck_compiled), "model": _ck_data}
'''


# ---------------------------------------------------------------------------
# the grading side


def _names_used(source: str) -> set[str]:
    try:
        return {n.id for n in ast.walk(ast.parse(python_source(source))) if isinstance(n, ast.Name)}
    except SyntaxError:
        return set()


def _keras_imports(source: str) -> str:
    """The top-level ``keras``/``tensorflow`` imports of a student's cell (which the generic
    reduction leaves out)."""
    try:
        tree = ast.parse(python_source(source))
    except SyntaxError:
        return ""
    kept = [n for n in tree.body if (isinstance(n, ast.Import) and all(
        a.name.split(".")[0] in _MODULES for a in n.names)) or (isinstance(n, ast.ImportFrom) and not n.level
        and (n.module or "").split(".")[0] in _MODULES)]
    return "\n".join(ast.unparse(n) for n in kept)


class _Grader:
    """One submission: its plan, the trusted data, the zygote and the one training run."""

    def __init__(self, plan: Plan, server: Any, timeout: float, stand_in: tuple[np.ndarray, np.ndarray]):
        self.plan, self.server, self.timeout, self.stand_in = plan, server, timeout, stand_in
        self.report: dict | None = None
        self.train_error: str | None = None
        self.variables: dict[str, Any] = {}
        self._fit_log: tuple[list[dict], str | None, bytes | None] | None = None

    # -- sources
    def worker_sources(self, spec: TestSpec) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        last = max((c.index for c in self.plan.cells if c.grade_id in spec.graded), default=spec.index)
        out.append((_STREAMS, "<grader streams>"))
        for src, filename in self.plan.worker_sources(spec):
            cell = next((c for c in self.plan.cells if filename.endswith(f" {c.grade_id}>")), None)
            if spec.training and filename.startswith("<locked") and cell is not None and cell.index > last:
                continue  # the cells after the training cell (evaluation, plots) are not needed there
            if filename.startswith(("<student ", "<answer ")) and cell is not None:
                imports = _keras_imports(cell.student)
                if imports:
                    out.append((imports, f"<imports {cell.grade_id}>"))
            out.append((src, filename))
            if filename == "<locked setup>":
                out += [(_RECORDER, "<grader recorder>"), (_HELPERS, "<grader helpers>")]
        return out

    def grader_sources(self, spec: TestSpec) -> list[tuple[str, str]]:
        out = []
        for src, filename in self.plan.grader_sources(spec):
            cell = next((c for c in self.plan.cells if filename == f"<locked {c.grade_id}>"), None)
            out.append((python_source(cell.source) if cell is not None else src, filename))
        return out

    def load(self, worker: Any, spec: TestSpec) -> None:
        """Run the test's sources in its worker; the training cell's failure is the student's."""
        for src, filename in self.worker_sources(spec):
            try:
                worker.exec(src, filename)
            except _Abort:
                raise
            except Exception as exc:  # noqa: BLE001 - as in coursekit.grading.isolated.run_test
                if filename.startswith("<answer "):
                    raise AssertionError(
                        f"{spec.graded_label}: your cell raised {type(exc).__name__}: {exc}") from None
                if filename.startswith(("<locked", "<grader")):
                    raise _Abort(f"grader error: {filename} failed in the isolated process "
                                 f"({type(exc).__name__}: {exc})") from None

    # -- the one training run
    def train(self, spec: TestSpec) -> None:
        worker = self.server()
        worker.label = spec.grade_id
        try:
            worker.start(self.timeout * TRAIN_LIMIT_FACTOR)
            self.load(worker, spec)
            path = self.plan_constant("MODEL_PATH", "fashion_model.keras")
            answer = worker.call("_ck_training_report", (path,), {})
            if not isinstance(answer, dict) or not {"intact", "log", "compiled", "model"} <= set(answer):
                raise AssertionError(f"{spec.graded_label}: the grader could not read the training run's records")
            self.report = answer
            last = max(c.index for c in self.plan.cells if c.grade_id in spec.graded)
            needed = set().union(*(_names_used(c.source) for c in self.plan.cells
                                   if c.kind == "locked" and c.index > last))
            wanted = [n for n in spec.variables if n in needed]
            self.variables = worker.get(wanted) if wanted else {}
        except (Exception, _Abort) as exc:  # noqa: BLE001 - every failure costs the training tests
            self.train_error = _message(exc)
        finally:
            worker.close()

    def plan_constant(self, name: str, default: str) -> str:
        for cell in self.plan.cells:
            if cell.kind == "setup":
                for node in ast.parse(python_source(cell.source)).body:
                    if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                            and node.targets[0].id == name and isinstance(node.value, ast.Constant)):
                        return str(node.value.value)
        return default

    def fit_log(self, key_of: Callable[[Any], str]) -> tuple[list[dict], str | None, bytes | None]:
        """The records whose weights come from a compiled model through recorded fits alone; a
        message when the saved model's weights were changed outside model.fit; the model bytes."""
        if self._fit_log is None:
            self._fit_log = self._checked_fit_log(key_of)
        return self._fit_log

    def _checked_fit_log(self, key_of: Callable[[Any], str]) -> tuple[list[dict], str | None, bytes | None]:
        report = self.report or {}
        log = [e for e in report.get("log", []) if isinstance(e, dict)]
        good = {str(k) for k in report.get("compiled", [])}
        valid: list[dict] = []
        changed = True
        while changed:  # follow the chains compile -> fit -> fit ...
            changed = False
            for entry in log:
                if entry not in valid and str(entry.get("before")) in good:
                    valid.append(entry)
                    good.add(str(entry.get("weights")))
                    changed = True
        records = [{"keys": {bytes.fromhex(k) for k in e.get("keys", []) if isinstance(k, str)},
                    "n_images": int(e.get("n_images", 0)), "problems": [str(p) for p in e.get("problems", [])],
                    "weights": str(e.get("weights"))} for e in valid]
        raw = report.get("model")
        data = bytes(np.asarray(raw, dtype=np.uint8)) if isinstance(raw, np.ndarray) else None
        outside = None
        if data is not None and not archive_problems(data):
            try:
                key = key_of(load_untrusted_model(data, compile=False))
            except UntrustedModelError:
                key = None
            if key is not None and key not in good and any(str(e.get("weights")) == key for e in log):
                outside = ("the weights of fashion_model.keras were changed outside model.fit before the recorded "
                           "model.fit call that returned them (train_on_batch, a custom training loop, set_weights "
                           "or load_weights): train the compiled model with model.fit only")
        return records, outside, data

    # -- one test
    def run(self, spec: TestSpec) -> IsolatedResult:
        import keras

        start = time.perf_counter()
        fit_before = keras.Model.fit
        tmp = Path(tempfile.mkdtemp(prefix="ck-keras-"))
        worker = None
        try:
            ns: dict[str, Any] = {"__name__": "__main__"}
            if spec.training:
                if self.report is None and self.train_error is None:
                    self.train(spec)
                if self.train_error is not None:
                    raise _Abort(self.train_error)
                ns.update(self.variables)
            else:
                worker = self.server()
                worker.label = spec.grade_id
                worker.start(self.timeout)
                self.load(worker, spec)
                for name in self.plan.api_names():
                    ns[name] = _model_proxy(worker, name)
            model_file = tmp / "fashion_model.keras"
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for src, filename in self.grader_sources(spec):
                    exec(_compiled(src, filename), ns)
                    if filename == "<setup>":
                        ns["_ck_recording_fit"] = keras.Model.fit  # the grader's own copy, installed just now
                        if spec.training:
                            records, outside, data = self.fit_log(ns["_ck_weights_key"])
                            if data is not None:
                                problems = archive_problems(data)
                                if problems:
                                    raise AssertionError("the grader refuses fashion_model.keras: "
                                                         + "; ".join(problems[:3]))
                                model_file.write_bytes(data)
                            if outside:
                                raise AssertionError(("No test images in training: " if spec.grade_id == next(
                                    s.grade_id for s in self.plan.tests if s.training) else
                                    "not graded, because ") + outside)
                            ns["_ck_fit_log"] = records
                            if not (self.report or {}).get("intact"):
                                ns["_ck_recording_fit"] = object()  # the worker's fit was not the recorder
                            ns["MODEL_PATH"] = str(model_file)
            ns["_ck_guard"] = _NoGuard()
            if spec.training:
                ns["_MODEL_FILE"] = str(model_file)
                ns["_ck_stand_in_test_images"] = self.stand_in[0]
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                exec(_compiled(spec.test_source, f"<{spec.grade_id}>"), ns)
        except (Exception, _Abort) as exc:  # noqa: BLE001 - any failure of a test costs its points
            message = _message(exc)
            note = self.plan.notes.get(spec.graded_label)
            if note and ("not defined" in message or "NameError" in message):
                message += f" ({note})"
            return IsolatedResult(spec.grade_id, 0.0, spec.points, message, time.perf_counter() - start,
                                  tuple(spec.graded), spec.training)
        finally:
            keras.Model.fit = fit_before
            if worker is not None:
                worker.close()
            shutil.rmtree(tmp, ignore_errors=True)
            _close_figures()
        return IsolatedResult(spec.grade_id, spec.points, spec.points, "", time.perf_counter() - start,
                              tuple(spec.graded), spec.training)


def _close_figures() -> None:
    import sys

    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")


def _model_proxy(worker: Any, name: str) -> Callable[..., Any]:
    def proxy(*args: Any, **kwargs: Any) -> Any:
        answer = worker.call("_ck_call", (name, *args), kwargs)
        if not isinstance(answer, dict) or answer.get("kind") not in ("value", "keras"):
            raise AssertionError(f"{name}: the grader could not read the answer")
        if answer["kind"] == "value":
            return answer.get("value")
        data = answer.get("data")
        if not isinstance(data, np.ndarray):
            raise AssertionError(f"{name}: the grader could not read the model")
        try:
            return load_untrusted_model(bytes(data.astype(np.uint8, copy=False)))
        except UntrustedModelError as exc:
            raise AssertionError(f"{name}: {exc}") from None
    proxy.__name__ = proxy.__qualname__ = name
    return proxy


def _trusted_data(plan: Plan) -> dict[str, Any]:
    """The set-up cell run here (trusted): the real loader and the fingerprint function."""
    import keras

    fit = keras.Model.fit
    ns: dict[str, Any] = {"__name__": "__main__"}
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for cell in plan.cells:
                if cell.kind == "setup":
                    exec(_compiled(python_source(cell.source), "<setup>"), ns)
            data = ns["_ck_load_fashion_mnist"]()
    finally:
        keras.Model.fit = fit
    return {"data": data, "image_keys": ns["_ck_image_keys"]}


def grade_keras(plan: Plan, *, wrap: Callable[[list[str]], list[str]], timeout: float,
                only: set[str] | None = None) -> dict[str, IsolatedResult]:
    """Grade a Keras assignment's tests in isolation (see the module docstring).

    Parameters
    ----------
    plan : Plan
        From :func:`coursekit.grading.isolated_source.plan_for`.
    wrap : callable
        ``wrap(argv) -> argv`` that runs ``argv`` in the grading sandbox.
    timeout : float
        Seconds each test may take (the one training run: ``TRAIN_LIMIT_FACTOR`` times that).
    only : set of str, optional
        Grade only these grade ids.

    Returns
    -------
    dict
        ``grade_id -> IsolatedResult``.
    """
    if timeout <= 0:
        raise ValueError(f"grade_keras: timeout must be positive, got {timeout}")
    trusted = _trusted_data(plan)
    (x_tr, y_tr), (x_te, y_te) = trusted["data"]
    stand_in = stand_in_test_split(np.asarray(x_tr), np.asarray(y_tr), len(x_te), trusted["image_keys"])
    tmp = Path(tempfile.mkdtemp(prefix="ck-keras-data-"))
    os.chmod(tmp, 0o755)
    try:
        folder = write_data_folder(tmp / "fashion", (np.asarray(x_tr), np.asarray(y_tr)), stand_in)
        wrapped = hiding_test_data(wrap, folder, os.environ.get(DATA_ENV) or None)
        # importing TensorFlow in the zygote is slow on a loaded machine: as long as the training run may take
        with ForkServer(wrapped, start_limit=timeout * TRAIN_LIMIT_FACTOR, preload=plan.locked_imports()) as server:
            grader = _Grader(plan, server, timeout, stand_in)
            return {spec.grade_id: grader.run(spec) for spec in plan.tests
                    if only is None or spec.grade_id in only}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
