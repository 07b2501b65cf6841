"""Grade each test of a submission so that nothing inside the student's kernel can change the score.

``grade_isolated(source_notebook, submitted_notebook, wrap=..., timeout=...)``
returns ``{grade_id: IsolatedResult}`` for every autograded test cell. It does
not use the notebook's outputs at all. For each test cell:

1. A fresh **worker** process (``wrap([python, -m, coursekit.grading.isolated_worker])``,
   i.e. inside the grading sandbox) imports numpy and coursekit, then receives the
   source of the student's answer cells, reduced with the AST to function and class
   definitions, imports of allowed modules and constant assignments (no top-level
   statement of the student runs). The answer cells this test does **not** grade are
   then replaced by the reference solution (the source notebook's solution cells), so
   a mistake in ``relu_backward`` costs only ``relu_backward``'s points. For a
   training test (an answer cell with top-level code, e.g. ``train_xor``), the locked
   cells before it and the student's training cell itself run there, with the
   reference for every function, and the trained variables are sent back.
2. The **test** (hidden and visible part of the cell, as written in the source
   notebook) runs here, in the grading process, in a fresh namespace with the real
   numpy and coursekit. The student's functions are proxies: a call sends the
   arguments to the worker and decodes the answer into plain data
   (:mod:`coursekit.grading.isolated_worker`). The test passes when it raises
   nothing: full points; otherwise 0 and the exception's message.

Threat model. *What a submission can do:* anything inside its worker process
(patch numpy, read ``/proc``, print, exit, sleep, fork, write raw bytes to the
protocol pipe) and inside its notebook kernel. *What it cannot do:* change the
code that decides its points, or see the hidden tests, the reference helpers
(``_ref_*``) or the expected values: these never leave the grading process, which
only ever receives plain data from the worker (never pickles, never objects with
methods), compares it itself and keeps the score. A forged or garbled answer is
just a wrong answer; a worker that dies, floods or hangs scores 0 on that test
only (with the reason), and each test gets a fresh worker, so no state carries
from one test to the next. *What remains:* the worker holds the reference code of
the functions a test does not grade (e.g. the reference ``relu`` while
``mlp_loss_and_grads`` is graded), which the notebook kernel sees anyway; the
arguments a test passes are visible to the student's function (as in any test);
the training tests grade what the training cell produced (``xor_params``,
``mnist_params``), which the student could also write down by hand; and the
worker's sandbox is only as strong as ``wrap`` (see docs/instructor.md).

Only source notebooks whose metadata has ``coursekit.isolated_grading = true``
are graded this way (backprop, optimizers_regularization); for others the
result is empty and nbgrader's score stands.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import select
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import numpy as np

from coursekit.grading.isolated_source import Plan, TestSpec, plan_for
from coursekit.grading.isolated_worker import (
    Decoder,
    Encoder,
    WireError,
    _from_jsonable,
    _jsonable,
    _remote_exception,
    exception_node,
    frame_bytes,
    read_frame,
)

__all__ = ["IsolatedResult", "grade_isolated"]


@dataclass
class IsolatedResult:
    """The isolated score of one autograded test cell."""

    grade_id: str
    points: float
    max_points: float
    message: str

    @property
    def passed(self) -> bool:
        """Full points."""
        return self.points >= self.max_points


class _Abort(BaseException):
    """Ends a test at once (worker died, timed out, broke the protocol); never caught by test code."""


def _identity(argv: list[str]) -> list[str]:
    return argv


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    env.pop("NBGRADER_EXECUTION", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


class RemoteWorker:
    """One worker process and the request/answer loop of the grading side."""

    def __init__(self, wrap: Callable[[list[str]], list[str]]):
        argv = wrap([sys.executable, "-m", "coursekit.grading.isolated_worker"])
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0,
                                     stderr=subprocess.DEVNULL, env=_worker_env(), start_new_session=True)
        self._in, self._out = self.proc.stdout.fileno(), self.proc.stdin.fileno()
        os.set_blocking(self._out, False)
        self.limit = 0.0
        self.deadline = float("inf")
        self.handles: dict[int, Any] = {}
        self.ready = False
        self._rng_sent: Any = None

    # -- plumbing
    def _timed_out(self) -> _Abort:
        self.close()
        return _Abort(f"timed out: the test ran longer than its limit ({self.limit:g} s)")

    def _read_exact(self, n: int) -> bytes:
        chunks, left = [], n
        while left:
            wait = self.deadline - time.monotonic()
            if wait <= 0 or not select.select([self._in], [], [], wait)[0]:
                raise self._timed_out()
            chunk = os.read(self._in, min(left, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _read(self) -> tuple[dict, list[bytes]]:
        try:
            return read_frame(self._read_exact)
        except EOFError:
            code = self.proc.wait()
            raise _Abort(f"the process running your code ended (exit code {code}) before answering") from None
        except WireError as exc:
            self.close()
            raise _Abort(f"your code's process sent data the grader cannot read ({exc})") from None

    def _send(self, msg: dict, enc: Encoder | None = None) -> None:
        data = memoryview(frame_bytes(msg, enc))
        while data:
            wait = self.deadline - time.monotonic()
            if wait <= 0 or not select.select([], [self._out], [], wait)[1]:
                raise self._timed_out()
            try:
                data = data[os.write(self._out, data[:1 << 20]):]
            except BlockingIOError:
                continue
            except OSError:
                raise _Abort("the process running your code ended before the test finished") from None

    def start(self, limit: float) -> None:
        self.limit = limit
        self.deadline = time.monotonic() + limit
        if not self.ready:
            msg, _ = self._read()
            if msg.get("op") != "ready":
                raise _Abort("the grading worker did not start")
            self.ready = True

    def _encoder(self) -> Encoder:
        def handle(obj: Any) -> dict:
            self.handles[id(obj)] = obj
            return {"t": "fn" if callable(obj) else "obj", "h": id(obj), "type": type(obj).__name__}
        return Encoder(handle)

    def _answer(self, resolve: Callable[[list], Any] | None = None) -> Any:
        """Read until the answer to the last request, serving callbacks meanwhile."""
        while True:
            msg, buffers = self._read()
            op = msg.get("op")
            if op == "callback":
                self._serve_callback(msg, buffers)
                continue
            if op == "raise":
                raise _remote_exception(msg)
            if op in ("ok", "result"):
                return msg, Decoder(buffers, resolve=resolve)
            self.close()
            raise _Abort(f"your code's process sent an unexpected message ({str(op)[:40]!r})")

    def _serve_callback(self, msg: dict, buffers: list[bytes]) -> None:
        target = self.handles.get(msg.get("h"))
        dec = Decoder(buffers)
        try:
            args, kwargs = dec.value(msg.get("args")), dec.value(msg.get("kwargs"))
            if not isinstance(args, list) or not isinstance(kwargs, dict) or target is None:
                raise WireError("malformed callback")
            func = target if msg.get("method") is None else getattr(target, str(msg["method"]))
            value = func(*args, **kwargs)
        except WireError as exc:
            self.close()
            raise _Abort(f"your code's process sent data the grader cannot read ({exc})") from None
        except Exception as exc:  # noqa: BLE001 - the callback's error goes back to the caller
            self._send(exception_node(exc))
            return
        enc = self._encoder()
        self._send({"op": "result", "value": enc.node(value)}, enc)

    # -- requests
    def exec(self, src: str, filename: str) -> None:
        self._send({"op": "exec", "src": src, "filename": filename})
        self._answer()

    def get(self, names: list[str]) -> dict[str, Any]:
        self._send({"op": "get", "names": names})
        msg, dec = self._answer()
        out = {}
        for name, node in (msg.get("value") or {}).items():
            try:
                out[name] = dec.value(node)
            except WireError:
                continue  # a variable the grader cannot read stays undefined
        return out

    def call(self, name: str, args: tuple, kwargs: dict) -> Any:
        enc = self._encoder()
        state = np.random.get_state()
        rng = None
        if self._rng_sent is None or not _same_state(state, self._rng_sent):
            rng = _jsonable(list(state))
        self._send({"op": "call", "name": name, "args": enc.node(list(args)), "kwargs": enc.node(dict(kwargs)),
                    "err": np.geterr(), "rng": rng}, enc)
        self._rng_sent = state

        def resolve(path: list) -> Any:
            return _resolve(args, kwargs, path)

        msg, dec = self._answer(resolve)
        try:
            value = dec.value(msg.get("value"))
            for path, node in msg.get("after", []):
                _write_back(_resolve(args, kwargs, path), dec.value(node))
            if msg.get("rng") is not None:
                np.random.set_state(tuple(_from_jsonable(msg["rng"])))
                self._rng_sent = np.random.get_state()
        except WireError as exc:
            raise AssertionError(f"{name}: {exc}") from None
        except (KeyError, IndexError, TypeError) as exc:
            raise AssertionError(f"{name}: the grader could not read the answer ({exc})") from None
        return value

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 9)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


def _same_state(a: Any, b: Any) -> bool:
    return a[0] == b[0] and a[2:] == b[2:] and np.array_equal(a[1], b[1])


def _resolve(args: tuple, kwargs: dict, path: list) -> Any:
    if not path or path[0] not in ("a", "k"):
        raise KeyError("bad reference")
    obj: Any = list(args) if path[0] == "a" else kwargs
    for key in path[1:]:
        obj = obj[key]
    return obj


def _write_back(orig: Any, new: Any) -> None:
    """Make an argument the test passed look as the student's function left it."""
    if isinstance(orig, np.ndarray) and isinstance(new, np.ndarray):
        if orig.shape == new.shape and orig.flags.writeable:
            np.copyto(orig, new, casting="unsafe")
    elif isinstance(orig, dict) and isinstance(new, dict):
        for key in [k for k in orig if k not in new]:
            del orig[key]
        for key, value in new.items():
            if isinstance(orig.get(key), np.ndarray) and isinstance(value, np.ndarray) \
                    and orig[key].shape == value.shape and orig[key].dtype == value.dtype:
                np.copyto(orig[key], value)
            else:
                orig[key] = value
    elif isinstance(orig, list) and isinstance(new, list):
        orig[:] = new
    elif isinstance(orig, np.random.Generator) and isinstance(new, np.random.Generator):
        if type(orig.bit_generator) is type(new.bit_generator):
            orig.bit_generator.state = new.bit_generator.state


class LocalWorker:
    """The same interface, in this process, for trusted code (the mutation sweep)."""

    def __init__(self, wrap: Any = None):
        self.ns: dict[str, Any] = {"__name__": "__main__"}

    def start(self, limit: float) -> None:
        pass

    def exec(self, src: str, filename: str) -> None:
        exec(_compiled(src, filename), self.ns)

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


def run_test(plan: Plan, spec: TestSpec, worker: Any, timeout: float) -> IsolatedResult:
    """Grade one test cell with a started worker (closed afterwards)."""
    try:
        worker.start(timeout)
        for src, filename in plan.worker_sources(spec):
            try:
                worker.exec(src, filename)
            except _Abort:
                raise
            except Exception as exc:  # noqa: BLE001 - reported when it matters
                if filename.startswith("<answer "):
                    raise AssertionError(
                        f"{spec.graded_label}: your cell raised {type(exc).__name__}: {exc}") from None
                if filename.startswith("<locked"):
                    raise _Abort(f"grader error: the locked cell {filename} failed in the isolated process "
                                 f"({type(exc).__name__}: {exc})") from None
        # The student's names first, so that the trusted code below wins every clash
        # (a submission defining `_ref_sigmoid` or `np` changes nothing).
        ns: dict[str, Any] = {"__name__": "__main__"}
        for name in plan.api_names():
            ns[name] = _proxy(worker, name)
        if spec.variables:
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
        return IsolatedResult(spec.grade_id, 0.0, spec.points, message)
    finally:
        worker.close()
    return IsolatedResult(spec.grade_id, spec.points, spec.points, "")


def grade_isolated(source_notebook: Path, submitted_notebook: Path, *,
                   wrap: Callable[[list[str]], list[str]] = _identity,
                   timeout: float = 120.0) -> dict[str, IsolatedResult]:
    """Grade every autograded test of a submission in isolation (see the module docstring).

    Parameters
    ----------
    source_notebook : Path
        The assignment's source notebook in ``solutions/`` (hidden tests, reference).
    submitted_notebook : Path
        The student's notebook (its outputs are ignored; only its answer cells are read).
    wrap : callable
        ``wrap(argv) -> argv`` that runs ``argv`` inside the grading sandbox; identity by default.
    timeout : float
        Seconds each test may take in all (worker start, student code and test).

    Returns
    -------
    dict
        ``grade_id -> IsolatedResult``; empty when the source notebook does not opt in
        (metadata ``coursekit.isolated_grading``).
    """
    if timeout <= 0:
        raise ValueError(f"grade_isolated: timeout must be positive, got {timeout}")
    source = nbformat.read(str(source_notebook), as_version=4)
    if not source.metadata.get("coursekit", {}).get("isolated_grading"):
        return {}
    try:
        submitted = nbformat.read(str(submitted_notebook), as_version=4)
    except Exception:  # noqa: BLE001 - an unreadable submission has no answers
        submitted = None
    plan = plan_for(source, submitted)
    return grade_plan(plan, lambda: RemoteWorker(wrap), timeout)


def grade_plan(plan: Plan, new_worker: Callable[[], Any], timeout: float,
               only: set[str] | None = None) -> dict[str, IsolatedResult]:
    """Run the plan's tests (all, or the grade ids in ``only``), starting workers ahead of time."""
    specs = [s for s in plan.tests if only is None or s.grade_id in only]
    ahead = max(1, min(3, os.cpu_count() or 1))
    workers = [new_worker() for _ in specs[:ahead]]
    results: dict[str, IsolatedResult] = {}
    try:
        for i, spec in enumerate(specs):
            if i + ahead < len(specs):
                workers.append(new_worker())
            results[spec.grade_id] = run_test(plan, spec, workers[i], timeout)
    finally:
        for worker in workers[len(results):]:
            worker.close()
    return results
