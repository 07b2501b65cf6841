"""The grading side of isolated grading's processes: the request/answer loop and who starts the workers.

A *worker* holds one test's student code (see :mod:`coursekit.grading.isolated_worker`)
and answers requests over a private pipe or socket. Two ways to get one:

- :class:`ForkServer` (the default of :func:`coursekit.grading.isolated_grade.grade_isolated`):
  one sandbox per submission runs the zygote (:mod:`coursekit.grading.isolated_zygote`),
  which imports numpy and coursekit once; each test's worker is a fresh fork of it,
  talking over a socket pair made here for that test alone. When the test ends the
  zygote kills the worker and everything it started, and wipes what it could have
  left behind, before the next fork.
- :class:`RemoteWorker`: a fresh sandboxed process per test (the simple way; it pays
  the start-up, about 0.3-1 s, for every test).

Everything a worker sends is decoded into plain data; a worker that dies, hangs or
breaks the protocol ends its test with an :class:`Abort` that names what happened.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

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

#: Seconds the zygote may take to fork a worker, or to clean up after one.
CONTROL_LIMIT = 20.0


class Abort(BaseException):
    """Ends a test at once (worker died, timed out, broke the protocol); never caught by test code."""


def worker_env() -> dict[str, str]:
    """The environment of a worker started without the sandbox (which sets its own)."""
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    env.pop("NBGRADER_EXECUTION", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, 9)
        except (ProcessLookupError, PermissionError):
            proc.kill()
    proc.wait()


class Channel:
    """The request/answer loop with one worker over the file descriptors ``fd_in``/``fd_out``."""

    def __init__(self) -> None:
        self._in = self._out = -1
        self.limit = 0.0
        self.deadline = float("inf")
        self.handles: dict[int, Any] = {}
        self.ready = False
        self._rng_sent: Any = None

    def _connect(self, fd_in: int, fd_out: int) -> None:
        self._in, self._out = fd_in, fd_out
        os.set_blocking(self._out, False)

    # -- plumbing
    def _timed_out(self) -> Abort:
        self.close()
        return Abort(f"timed out: the test ran longer than its limit ({self.limit:g} s)")

    def _ended(self) -> Abort:
        return Abort("the process running your code ended before answering")

    def _read_exact(self, n: int) -> bytes:
        chunks, left = [], n
        while left:
            wait = self.deadline - time.monotonic()
            if wait <= 0 or not select.select([self._in], [], [], wait)[0]:
                raise self._timed_out()
            try:
                chunk = os.read(self._in, min(left, 1 << 20))
            except BlockingIOError:
                continue
            except OSError:
                raise EOFError from None
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _read(self) -> tuple[dict, list[bytes]]:
        try:
            return read_frame(self._read_exact)
        except EOFError:
            raise self._ended() from None
        except WireError as exc:
            self.close()
            raise Abort(f"your code's process sent data the grader cannot read ({exc})") from None

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
                raise Abort("the process running your code ended before the test finished") from None

    def start(self, limit: float) -> None:
        self.limit = limit
        self.deadline = time.monotonic() + limit
        if not self.ready:
            msg, _ = self._read()
            if msg.get("op") != "ready":
                raise Abort("the grading worker did not start")
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
            raise Abort(f"your code's process sent an unexpected message ({str(op)[:40]!r})")

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
            raise Abort(f"your code's process sent data the grader cannot read ({exc})") from None
        except Exception as exc:  # noqa: BLE001 - the callback's error goes back to the caller
            self._send(exception_node(exc))
            return
        enc = self._encoder()
        self._send({"op": "result", "value": enc.node(value)}, enc)

    # -- requests
    def exec(self, src: str, filename: str) -> None:
        self.exec_all([(src, filename, True)])

    def exec_all(self, sources: list[tuple[str, str, bool]]) -> None:
        """Run ``(source, filename, fatal)`` in order, in one request; the first fatal failure
        raises here, with ``.at`` its filename (the others' failures are skipped)."""
        self._send({"op": "exec", "sources": [list(item) for item in sources]})
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
        raise NotImplementedError  # pragma: no cover - each kind of worker ends differently


class RemoteWorker(Channel):
    """One fresh worker process (``wrap([python, -m, coursekit.grading.isolated_worker])``) for one test."""

    def __init__(self, wrap: Callable[[list[str]], list[str]]):
        super().__init__()
        argv = wrap([sys.executable, "-m", "coursekit.grading.isolated_worker"])
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0,
                                     stderr=subprocess.DEVNULL, env=worker_env(), start_new_session=True)
        self._connect(self.proc.stdout.fileno(), self.proc.stdin.fileno())

    def _ended(self) -> Abort:
        code = self.proc.wait()
        return Abort(f"the process running your code ended (exit code {code}) before answering")

    def close(self) -> None:
        _kill_group(self.proc)
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


class ForkServer:
    """One zygote per submission; calling it returns a fresh forked worker (one at a time).

    ``wrap(argv) -> argv`` runs the zygote inside the grading sandbox; ``start_limit``
    is the seconds it may take to start, ``control_limit`` those it may take to fork a
    worker or to clean up after one; ``preload`` names modules the zygote imports once
    (trusted: those the locked cells import); ``warmup`` is trusted source (the notebook's
    setup cell) the zygote runs once in a namespace it then drops, so that the modules it
    imports as it runs are loaded before the forks (each worker runs it again, for real). A zygote that stops answering (killed or stopped by the code of a test) is killed with its
    whole sandbox, and every later test of the submission scores 0 with the reason.
    Use as a context manager, or call :meth:`close`.
    """

    sequential = True  # one worker alive at a time: the zygote cleans up between them

    def __init__(self, wrap: Callable[[list[str]], list[str]], start_limit: float = 120.0,
                 control_limit: float = CONTROL_LIMIT, preload: tuple[str, ...] = (), warmup: str = ""):
        self.wrap, self.start_limit, self.control_limit = wrap, start_limit, control_limit
        self.preload = tuple(m for m in preload if m.replace(".", "").replace("_", "").isalnum())
        self.warmup = warmup
        self.proc: subprocess.Popen | None = None
        self.ctrl: socket.socket | None = None
        self.broken: str | None = None
        self.info: dict = {}
        self.current = ""  # the test whose worker runs now (for the reason)
        self.child = 0  # its pid, as the zygote sees it

    def __call__(self) -> ForkedWorker:
        return ForkedWorker(self)

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _reply(self, limit: float) -> dict:
        deadline = time.monotonic() + limit
        buf = b""

        def read(n: int) -> bytes:
            nonlocal buf
            while len(buf) < n:
                wait = deadline - time.monotonic()
                if wait <= 0 or not select.select([self.ctrl], [], [], wait)[0]:
                    raise TimeoutError
                chunk = self.ctrl.recv(1 << 16)
                if not chunk:
                    raise EOFError
                buf += chunk
            out, buf = buf[:n], buf[n:]
            return out
        msg, _ = read_frame(read)
        return msg

    def _start(self) -> None:
        parent, child = socket.socketpair()
        warm = ["--warm-up", self.warmup] if self.warmup else []
        argv = self.wrap([sys.executable, "-m", "coursekit.grading.isolated_zygote", *warm, *self.preload])
        try:
            self.proc = subprocess.Popen(argv, stdin=child.fileno(), stdout=child.fileno(),
                                         stderr=subprocess.DEVNULL, env=worker_env(), start_new_session=True)
        finally:
            child.close()
        self.ctrl = parent
        try:
            self.info = self._reply(self.start_limit)
        except (TimeoutError, EOFError, WireError, OSError):
            self.fail(f"the grading worker did not start within {self.start_limit:g} s")
            return
        if self.info.get("op") != "ready":
            self.fail("the grading worker did not start")

    def fail(self, reason: str) -> None:
        """Give up on this zygote: kill its sandbox; later tests score 0 with ``reason``."""
        if self.broken is None:
            self.broken = reason
        if self.child and not self.info.get("sandboxed"):
            try:  # no sandbox to take it down: kill the last worker's group (it ran setsid)
                os.killpg(self.child, 9)
            except OSError:
                pass
        self._kill()

    def fork(self, test: str) -> socket.socket:
        """A socket connected to a fresh worker (raises :class:`Abort` when the zygote is gone)."""
        if self.proc is None and self.broken is None:
            self._start()
        if self.broken is not None:
            raise Abort(self.broken)
        self.current = test
        mine, theirs = socket.socketpair()
        try:
            socket.send_fds(self.ctrl, [b"F"], [theirs.fileno()])
            msg = self._reply(self.control_limit)
        except (TimeoutError, EOFError, WireError, OSError):
            mine.close()
            self.fail(f"the grading process of this submission stopped answering before {test} "
                      "(code of an earlier test killed or stopped it); the remaining tests score 0")
            raise Abort(self.broken) from None
        finally:
            theirs.close()
        if msg.get("op") != "forked":
            mine.close()
            why = f" ({str(msg.get('message'))[:200]})" if msg.get("message") else ""
            self.fail(f"the grading process of this submission could not start a worker for {test}{why}; "
                      "the remaining tests score 0")
            raise Abort(self.broken)
        self.child = int(msg.get("pid") or 0)
        return mine

    def clean(self) -> None:
        """Kill the current worker and all it started; wipe its files (the zygote does it)."""
        if self.broken is not None or self.ctrl is None:
            return
        try:
            self.ctrl.sendall(b"K")
            msg = self._reply(self.control_limit)
        except (TimeoutError, EOFError, WireError, OSError):
            msg = {}
        if msg.get("op") == "stuck":
            self.fail(f"the processes that {self.current} started could not be stopped; the remaining tests "
                      "score 0")
        elif msg.get("op") != "clean":
            self.fail(f"the grading process of this submission stopped answering after {self.current} ran "
                      "your code (it was killed or stopped from inside); the remaining tests score 0")

    def _kill(self) -> None:
        if self.proc is not None:
            _kill_group(self.proc)
        if self.ctrl is not None:
            self.ctrl.close()
            self.ctrl = None

    def close(self) -> None:
        """Stop the zygote and its sandbox."""
        if self.ctrl is not None and self.broken is None:
            try:
                self.ctrl.sendall(b"Q")
            except OSError:
                pass
        self._kill()


class ForkedWorker(Channel):
    """A worker forked by a :class:`ForkServer` (forked when its test starts)."""

    def __init__(self, server: ForkServer):
        super().__init__()
        self.server = server
        self.sock: socket.socket | None = None
        self.label = ""  # the test it runs (set by run_test; named in the reasons)

    def start(self, limit: float) -> None:
        if self.sock is None:
            self.sock = self.server.fork(self.label or "this test")
            self._connect(self.sock.fileno(), self.sock.fileno())
        super().start(limit)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
            self.server.clean()


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
