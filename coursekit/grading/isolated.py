"""Grade each test of a submission so that nothing inside the student's kernel can change the score.

``grade_isolated(source_notebook, submitted_notebook, wrap=..., timeout=...)``
(:mod:`coursekit.grading.isolated_grade`, the entry point; this module holds the numpy path)
returns ``{grade_id: IsolatedResult}`` for every autograded test cell. It does
not use the notebook's outputs at all. For each test cell:

1. A fresh **worker** process receives the source of the student's answer cells,
   reduced with the AST to function and class definitions, imports of allowed
   modules and constant assignments (no top-level statement of the student runs).
   The answer cells this test does **not** grade are then replaced by the reference
   solution (the source notebook's solution cells), so a mistake in
   ``relu_backward`` costs only ``relu_backward``'s points. For a training test (an
   answer cell with top-level code, e.g. ``train_xor``), the locked cells before it
   and the student's training cell itself run there, with the reference for every
   function, and the trained variables are sent back.
2. The **test** (hidden and visible part of the cell, as written in the source
   notebook) runs here, in the grading process, in a fresh namespace with the real
   numpy and coursekit. The student's functions are proxies: a call sends the
   arguments to the worker and decodes the answer into plain data
   (:mod:`coursekit.grading.isolated_worker`). The test passes when it raises
   nothing: full points; otherwise 0 and the exception's message.

Where the workers come from (:mod:`coursekit.grading.isolated_channel`). Each
submission gets **one** sandbox (``wrap(argv)``), running a zygote
(:mod:`coursekit.grading.isolated_zygote`) that imports numpy and
coursekit once; each test's worker is a ``fork`` of it, connected by a socket pair
made for that test alone (passed with ``SCM_RIGHTS``), so start-up is paid once per
submission instead of once per test (bench/grading_profile.py, backprop, 13 tests, on a
loaded 2-core machine: a fresh sandboxed process took 0.7-2.2 s to be ready, the 13
forks 0.16-0.24 s in all, the 13 clean-ups 0.24-0.34 s). The zygote never receives student
code, hidden tests or references: a test's sources go to its worker after the fork.
When a test ends (or times out), the zygote kills the worker and every process it
started (the zygote is their subreaper: ``setsid`` or double forks do not escape),
then deletes what it could leave for the next test: the files of the scratch folder,
``/tmp`` and ``/dev/shm`` (all private to this sandbox) and System V IPC objects.
The kernel's keyrings, which are kept per uid outside every namespace and outlive
their processes, are out of reach: the zygote, the kernel and every worker refuse the
keyring system calls (:mod:`coursekit.grading.seccomp`) before any student code runs.
The zygote is not dumpable, so a
worker (same uid) cannot ptrace it, read or write its memory or open its file
descriptors through ``/proc``. A fresh process per test (:class:`RemoteWorker`, the
previous design) stays available and gives the same scores
(tests/test_isolated_hostile.py); it is only slower.

Threat model. *What a submission can do:* anything inside its worker process
(patch numpy, read ``/proc``, print, exit, sleep, fork, write raw bytes to the
protocol socket, kill or stop the zygote) and inside its notebook kernel. *What it
cannot do:* change the code that decides its points, or see the hidden tests, the
reference helpers (``_ref_*``) or the expected values: these never leave the grading
process, which only ever receives plain data from the worker (never pickles, never
objects with methods), compares it itself and keeps the score. A forged or garbled
answer is just a wrong answer; a worker that dies, floods or hangs scores 0 on that
test only (with the reason). No state carries from one test to the next: each test
has a fresh fork of a zygote that never ran student code, no process of the previous
test survives, and the writable places it shared are wiped (tested: a worker that
leaves the reference ``relu`` in files, shared memory and a lingering process does not
pass ``test_relu``). A worker that kills or stops the zygote costs the remaining tests
of its own submission (0 points, the reason names the test whose code did it); the
zygote runs in that submission's sandbox, so no other submission is touched. *What
remains:* the worker holds the reference code of the functions a test does not grade
(e.g. the reference ``relu`` while ``mlp_loss_and_grads`` is graded); code there can
copy it into an answer that a test quotes in its failure message (e.g. dict keys) and
so into its own feedback, but never into the worker of that function's own test; the
arguments a test passes are visible to the student's function (as in any test); the
training tests grade what the training cell produced (``xor_params``,
``mnist_params``), in the notebook's run or in the worker, which the student could also
write down by hand (or write into the kernel's file: it is read as plain data, so a forged
file is just another answer); and the worker's sandbox is only as
strong as ``wrap`` (see docs/instructor.md). Without the sandbox (tests,
``--no-isolation``) the zygote kills the processes of each test but deletes no file.

Only source notebooks whose metadata has ``coursekit.isolated_grading = true``
are graded this way (backprop, optimizers_regularization; fashion_mnist_keras, whose
locked cells import Keras, by :mod:`coursekit.grading.isolated_keras_grade`); for
others the result is empty and nbgrader's score stands.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from coursekit.grading.isolated_channel import Abort as _Abort, ForkServer, RemoteWorker
from coursekit.grading.isolated_source import Plan, TestSpec

__all__ = ["ForkServer", "IsolatedResult", "LocalWorker", "RemoteWorker", "ZYGOTE_START_LIMIT", "grade_plan"]


@dataclass
class IsolatedResult:
    """The isolated score of one autograded test cell."""

    grade_id: str
    points: float
    max_points: float
    message: str
    seconds: float = 0.0  #: wall time of this test (worker start, student code and test)
    graded: tuple[str, ...] = ()  #: the answer cells this test grades
    training: bool = False  #: a training test (the graded cell's own code ran, with the reference parts)
    #: a training test graded on the variables of the notebook's own run (they passed: no retraining)
    from_notebook: bool = False

    @property
    def passed(self) -> bool:
        """Full points."""
        return self.points >= self.max_points


#: Seconds the submission's zygote may take to start (it imports numpy and coursekit).
ZYGOTE_START_LIMIT = 60.0


class LocalWorker:
    """The same interface, in this process, for trusted code (the mutation sweep)."""

    def __init__(self, wrap: Any = None):
        self.ns: dict[str, Any] = {"__name__": "__main__"}

    def start(self, limit: float) -> None:
        pass

    def exec(self, src: str, filename: str) -> None:
        exec(_compiled(src, filename), self.ns)

    def exec_all(self, sources: list[tuple[str, str, bool]]) -> None:
        for src, filename, fatal in sources:
            try:
                self.exec(src, filename)
            except Exception as exc:
                if fatal:
                    exc.at = filename  # type: ignore[attr-defined]
                    raise

    def get(self, names: list[str]) -> dict[str, Any]:
        return {n: self.ns[n] for n in names if n in self.ns}

    def call(self, name: str, args: tuple, kwargs: dict) -> Any:
        func = self.ns.get(name)
        if not callable(func):
            raise NameError(f"name {name!r} is not defined")
        return func(*args, **kwargs)

    def close(self) -> None:
        self.ns.clear()


def _proxy(worker: Any, name: str) -> Callable[..., Any]:
    def proxy(*args: Any, **kwargs: Any) -> Any:
        return worker.call(name, args, kwargs)
    proxy.__name__ = proxy.__qualname__ = name
    return proxy


def _message(exc: BaseException) -> str:
    if isinstance(exc, _Abort):
        return str(exc)
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@functools.lru_cache(maxsize=2048)
def _compiled(src: str, filename: str) -> Any:
    return compile(src, filename, "exec")


class _NoGuard:
    def verify(self) -> None:
        """Nothing to check here: the test runs outside the student's reach."""


def run_test(plan: Plan, spec: TestSpec, worker: Any, timeout: float,
             trained: Mapping[str, Any] | None = None) -> IsolatedResult:
    """Grade one test cell with a new worker (closed afterwards).

    ``trained`` (training tests only): the variables of the notebook's own run, graded
    instead of those of a retraining in the worker (which then trains nothing)."""
    start = time.perf_counter()
    worker.label = spec.grade_id
    trained = trained if spec.training else None
    try:
        worker.start(timeout)
        sources = plan.worker_sources(spec, trained=trained is not None)
        try:  # one request: a failing student definition is skipped, an answer or locked cell ends it
            worker.exec_all([(src, fn, fn.startswith(("<answer ", "<locked"))) for src, fn in sources])
        except _Abort:
            raise
        except Exception as exc:  # noqa: BLE001 - reported when it matters
            filename = str(getattr(exc, "at", ""))
            if filename.startswith("<locked"):
                raise _Abort(f"grader error: the locked cell {filename} failed in the isolated process "
                             f"({type(exc).__name__}: {exc})") from None
            raise AssertionError(f"{spec.graded_label}: your cell raised {type(exc).__name__}: {exc}") from None
        # The student's names first, so that the trusted code below wins every clash
        # (a submission defining `_ref_sigmoid` or `np` changes nothing).
        ns: dict[str, Any] = {"__name__": "__main__"}
        for name in plan.api_names():
            ns[name] = _proxy(worker, name)
        if trained is not None:
            ns.update({name: trained[name] for name in spec.variables if name in trained})
        elif spec.variables:
            ns.update(worker.get(spec.variables))
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for src, filename in plan.grader_sources(spec):
                exec(_compiled(src, filename), ns)
        ns["_ck_guard"] = _NoGuard()
        if "_use_reference_parts_in_this_cell" in ns:  # the worker already holds the reference parts
            ns["_use_reference_parts_in_this_cell"] = lambda *names: None
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(_compiled(spec.test_source, f"<{spec.grade_id}>"), ns)
    except (Exception, _Abort) as exc:  # noqa: BLE001 - any failure of a test costs its points
        message = _message(exc)
        note = plan.notes.get(spec.graded_label)
        if note and ("not defined" in message or "NameError" in message):
            message += f" ({note})"
        return IsolatedResult(spec.grade_id, 0.0, spec.points, message, time.perf_counter() - start,
                              tuple(spec.graded), spec.training, trained is not None)
    finally:
        worker.close()
    return IsolatedResult(spec.grade_id, spec.points, spec.points, "", time.perf_counter() - start,
                          tuple(spec.graded), spec.training, trained is not None)


def _grade_one(plan: Plan, spec: TestSpec, worker: Any, new_worker: Callable[[], Any], timeout: float,
               trained: Callable[[], Mapping[str, Any]] | None) -> IsolatedResult:
    """A training test is graded first on the notebook's own variables, when there are any;
    only if they do not pass is it graded on a retraining with the reference parts."""
    if spec.training and trained is not None:
        try:
            values = trained()
        except Exception:  # noqa: BLE001 - no values: retrain
            values = {}
        if any(name in values for name in spec.variables):
            first = run_test(plan, spec, worker, timeout, trained=values)
            if first.passed:
                return first
            worker = new_worker()
            again = run_test(plan, spec, worker, timeout)
            again.seconds += first.seconds
            return again
    return run_test(plan, spec, worker, timeout)


def grade_plan(plan: Plan, new_worker: Callable[[], Any], timeout: float,
               only: set[str] | None = None,
               trained: Callable[[], Mapping[str, Any]] | None = None) -> dict[str, IsolatedResult]:
    """Run the plan's tests (all, or the grade ids in ``only``).

    ``new_worker()`` returns a worker for one test: a :class:`ForkServer` (one worker
    at a time, forked from one zygote), or e.g. ``lambda: RemoteWorker(wrap)`` (a fresh
    process each, started up to three ahead), or :class:`LocalWorker` (trusted code).
    ``trained()`` (optional; it may wait for the kernel run to end) returns the variables
    the notebook's own run left (:mod:`coursekit.grading.kernel_export`): a training test
    whose variables pass there is not retrained.
    """
    specs = [s for s in plan.tests if only is None or s.grade_id in only]
    if getattr(new_worker, "sequential", False):
        return {spec.grade_id: _grade_one(plan, spec, new_worker(), new_worker, timeout, trained)
                for spec in specs}
    ahead = max(1, min(3, os.cpu_count() or 1))
    workers = [new_worker() for _ in specs[:ahead]]
    results: dict[str, IsolatedResult] = {}
    try:
        for i, spec in enumerate(specs):
            if i + ahead < len(specs):
                workers.append(new_worker())
            results[spec.grade_id] = _grade_one(plan, spec, workers[i], new_worker, timeout, trained)
    finally:
        for worker in workers[len(results):]:
            worker.close()
    return results
