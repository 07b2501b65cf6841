"""The student side of isolated grading: a plain-data wire format and the worker process.

:mod:`coursekit.grading.isolated` starts one worker per graded test: a fork of
the submission's zygote (:mod:`coursekit.grading.isolated_zygote`), or a process
of its own (``python -m coursekit.grading.isolated_worker``, wrapped in the
sandbox; :class:`~coursekit.grading.isolated_channel.RemoteWorker`). The
worker executes the student's function definitions (and, for the training tests,
the student's training cell) in its own namespace and then only answers requests:
*call this function with these arguments*, *send me these variables*. The hidden
tests and the reference helpers stay in the grading process; they never enter the
worker. Whatever the worker answers is decoded here into plain data (numbers,
strings, tuples, lists, dicts and real ``numpy.ndarray`` objects of numeric dtype),
so a submission cannot hand the grader an object whose ``__eq__`` lies.

Wire format: one frame = 8-byte big-endian length of a JSON header, 8-byte length
of the payload, the header, then the raw array buffers the header points into.
"""

from __future__ import annotations

import json
import os
import struct
import sys
from collections.abc import Callable
from typing import Any, BinaryIO

import numpy as np

MAX_FRAME = 1 << 30  # 1 GiB: a larger answer is refused
MAX_DEPTH = 40
_DTYPES = {np.dtype(t).str for t in (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128")}
_BITGENS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


class WireError(ValueError):
    """A frame that is not valid plain data (the grader refuses to read it)."""


# ---------------------------------------------------------------------------
# encoding


class Encoder:
    """Turns plain data into a JSON tree plus buffers.

    ``handle`` (optional) is called for objects that are not plain data
    (callables, other objects) and returns a node for them; without it such
    objects become ``{"t": "bad", "type": ...}``. ``refs`` maps ``id(obj)`` of
    objects the receiver already holds to a path, sent as ``{"t": "ref"}``.
    """

    def __init__(self, handle: Callable[[Any], dict] | None = None, refs: dict[int, list] | None = None):
        self.buffers: list[bytes] = []
        self.handle = handle
        self.refs = refs or {}

    def _buf(self, arr: np.ndarray) -> int:
        self.buffers.append(np.ascontiguousarray(arr).tobytes())
        return len(self.buffers) - 1

    def node(self, obj: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            return {"t": "bad", "type": "nested too deeply"}
        ref = self.refs.get(id(obj))
        if ref is not None:
            return {"t": "ref", "path": ref}
        if obj is None or type(obj) in (bool, str):
            return obj
        if type(obj) is int:
            return obj
        if type(obj) is float:
            return obj if np.isfinite(obj) else {"t": "float", "v": repr(obj)}
        if isinstance(obj, np.ndarray):
            arr = np.asarray(obj)
            if arr.dtype.str not in _DTYPES:
                return {"t": "bad", "type": f"ndarray of dtype {arr.dtype}"}
            return {"t": "nd", "dtype": arr.dtype.str, "shape": list(arr.shape), "buf": self._buf(arr)}
        if isinstance(obj, np.generic):
            arr = np.asarray(obj)
            if arr.dtype.str not in _DTYPES:
                return {"t": "bad", "type": f"numpy scalar {arr.dtype}"}
            return {"t": "np", "dtype": arr.dtype.str, "buf": self._buf(arr)}
        if type(obj) in (tuple, list):
            return {"t": type(obj).__name__, "v": [self.node(v, depth + 1) for v in obj]}
        if type(obj) is dict:
            keys = list(obj)
            if not all(type(k) in (str, int) for k in keys):
                return {"t": "bad", "type": "dict with keys that are not str or int"}
            return {"t": "dict", "k": keys, "v": [self.node(obj[k], depth + 1) for k in keys]}
        if isinstance(obj, np.random.Generator):
            bitgen = type(obj.bit_generator).__name__
            if bitgen in _BITGENS:
                return {"t": "rng", "bitgen": bitgen, "state": _jsonable(obj.bit_generator.state)}
        if self.handle is not None:
            return self.handle(obj)
        return {"t": "bad", "type": type(obj).__name__}


def _jsonable(state: Any) -> Any:
    if isinstance(state, (list, tuple)):
        return [_jsonable(v) for v in state]
    if isinstance(state, dict):
        return {str(k): _jsonable(v) for k, v in state.items()}
    if isinstance(state, np.ndarray):
        return {"__array__": state.dtype.str, "v": state.tolist()}
    if isinstance(state, np.integer):
        return int(state)
    if isinstance(state, np.floating):
        return float(state)
    return state


def _from_jsonable(state: Any) -> Any:
    if isinstance(state, list):
        return [_from_jsonable(v) for v in state]
    if isinstance(state, dict):
        if "__array__" in state:
            return np.array(state["v"], dtype=np.dtype(state["__array__"]))
        return {k: _from_jsonable(v) for k, v in state.items()}
    return state


def write_frame(stream: BinaryIO, message: dict, encoder: Encoder | None = None) -> None:
    """Send ``message`` (a dict of JSON data, whose ``"data"`` entries were made by ``encoder``)."""
    stream.write(frame_bytes(message, encoder))
    stream.flush()


def read_exact(stream: BinaryIO, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError("the other side closed the pipe")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(stream: BinaryIO | Callable[[int], bytes]) -> tuple[dict, list[bytes]]:
    """Read one frame (from a stream, or with a ``read_exact(n)`` callable): the message and
    its buffers, with checked sizes and no decoding yet."""
    read = stream if callable(stream) else (lambda n: read_exact(stream, n))
    n_header, n_payload = struct.unpack(">QQ", read(16))
    if n_header > MAX_FRAME or n_payload > MAX_FRAME:
        raise WireError(f"a message of {n_header + n_payload} bytes is larger than the grader accepts")
    try:
        header = json.loads(read(n_header))
    except (ValueError, UnicodeDecodeError) as exc:
        raise WireError(f"unreadable message header ({exc})") from None
    payload = read(n_payload)
    if not isinstance(header, dict) or not isinstance(header.get("msg"), dict):
        raise WireError("malformed message")
    buffers = []
    for item in header.get("buffers", []):
        start, length = int(item[0]), int(item[1])
        if start < 0 or length < 0 or start + length > len(payload):
            raise WireError("malformed buffer table")
        buffers.append(payload[start:start + length])
    return header["msg"], buffers


def frame_bytes(message: dict, encoder: Encoder | None = None) -> bytes:
    """The bytes of one frame (see :func:`write_frame`)."""
    buffers = encoder.buffers if encoder is not None else []
    offsets, pos = [], 0
    for b in buffers:
        offsets.append([pos, len(b)])
        pos += len(b)
    header = json.dumps({"msg": message, "buffers": offsets}).encode()
    return struct.pack(">QQ", len(header), pos) + header + b"".join(buffers)


class Decoder:
    """Inverse of :class:`Encoder` for one frame. Only plain data comes out.

    ``handle(node)`` is asked for ``fn``/``obj`` nodes (None: refused);
    ``resolve(path)`` for ``ref`` nodes.
    """

    def __init__(self, buffers: list[bytes], handle: Callable[[dict], Any] | None = None,
                 resolve: Callable[[list], Any] | None = None):
        self.buffers, self.handle, self.resolve = buffers, handle, resolve

    def _array(self, node: dict, shape: tuple[int, ...]) -> np.ndarray:
        dtype = node.get("dtype")
        if dtype not in _DTYPES:
            raise WireError(f"refused dtype {dtype!r}")
        dt = np.dtype(dtype)
        if not all(isinstance(s, int) and s >= 0 for s in shape):
            raise WireError("malformed shape")
        buf = self.buffers[int(node["buf"])]
        if len(buf) != int(np.prod(shape, dtype=np.int64)) * dt.itemsize:
            raise WireError("array buffer of the wrong size")
        return np.frombuffer(buf, dtype=dt).reshape(shape).copy()

    def value(self, node: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise WireError("data nested too deeply")
        if node is None or type(node) in (bool, int, float, str):
            return node
        if type(node) is not dict:
            raise WireError(f"unexpected JSON {type(node).__name__}")
        kind = node.get("t")
        if kind == "nd":
            return self._array(node, tuple(node.get("shape", ())))
        if kind == "np":
            return self._array(node, ())[()]
        if kind == "float":
            if node.get("v") not in ("nan", "inf", "-inf"):
                raise WireError("malformed float")
            return float(node["v"])
        if kind in ("tuple", "list"):
            items = [self.value(v, depth + 1) for v in node.get("v", [])]
            return tuple(items) if kind == "tuple" else items
        if kind == "dict":
            keys, values = node.get("k", []), node.get("v", [])
            if len(keys) != len(values) or not all(type(k) in (str, int) for k in keys):
                raise WireError("malformed dict")
            return {k: self.value(v, depth + 1) for k, v in zip(keys, values, strict=True)}
        if kind == "rng":
            if node.get("bitgen") not in _BITGENS:
                raise WireError("unknown random generator")
            bitgen = getattr(np.random, node["bitgen"])()
            bitgen.state = _from_jsonable(node["state"])
            return np.random.Generator(bitgen)
        if kind == "ref" and self.resolve is not None:
            return self.resolve(list(node.get("path", [])))
        if kind in ("fn", "obj") and self.handle is not None:
            return self.handle(node)
        if kind == "bad":
            raise WireError(f"a value of type {str(node.get('type'))[:80]} cannot be sent to the grader "
                            "(return numbers, numpy arrays, tuples, lists or dicts)")
        raise WireError(f"refused value kind {kind!r}")


def exception_node(exc: BaseException) -> dict:
    """How a raised exception travels: its type name and message (truncated)."""
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a hostile __str__
        text = "<message could not be read>"
    return {"op": "raise", "type": type(exc).__name__[:80], "message": text[:2000]}


# ---------------------------------------------------------------------------
# the worker


class _Worker:
    def __init__(self, inp: BinaryIO, out: BinaryIO):
        self.inp, self.out = inp, out
        self.ns: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}

    # proxies for the grader's callables and objects passed as arguments
    def _proxy(self, node: dict) -> Any:
        handle = node.get("h")
        if node.get("t") == "fn":
            def callback(*args: Any, **kwargs: Any) -> Any:
                return self._callback(handle, None, args, kwargs)
            return callback
        worker = self

        class RemoteObject:
            def __getattr__(self, name: str) -> Any:
                if name.startswith("__"):
                    raise AttributeError(name)
                return lambda *args, **kwargs: worker._callback(handle, name, args, kwargs)

            def __repr__(self) -> str:
                return f"<{node.get('type', 'object')} of the grader>"
        return RemoteObject()

    def _callback(self, handle: Any, method: str | None, args: tuple, kwargs: dict) -> Any:
        enc = Encoder()
        write_frame(self.out, {"op": "callback", "h": handle, "method": method,
                               "args": enc.node(list(args)), "kwargs": enc.node(dict(kwargs))}, enc)
        return self.serve(until_result=True)

    def serve(self, until_result: bool = False) -> Any:
        while True:
            msg, buffers = read_frame(self.inp)
            op = msg.get("op")
            if op == "result" and until_result:
                return Decoder(buffers, self._proxy).value(msg.get("value"))
            if op == "raise" and until_result:
                raise _remote_exception(msg)
            if op == "exit":
                sys.exit(0)
            reply, enc = self.handle(op, msg, buffers)
            write_frame(self.out, reply, enc)

    def handle(self, op: str, msg: dict, buffers: list[bytes]) -> tuple[dict, Encoder | None]:
        try:
            if op == "exec":
                return self._exec(msg), None
            if op == "get":
                enc = Encoder()
                return {"op": "result", "value": {n: enc.node(self.ns[n]) for n in msg["names"] if n in self.ns}}, enc
            if op == "call":
                return self._call(msg, buffers)
            return {"op": "raise", "type": "WireError", "message": f"unknown request {op!r}"}, None
        except Exception as exc:  # noqa: BLE001 - every failure goes back as a message
            return exception_node(exc), None

    def _exec(self, msg: dict) -> dict:
        """Run ``sources`` (``[source, filename, fatal]``, in order) in the namespace: the first
        failure of a fatal one ends the request (reported with ``at``, its filename), the
        others' failures are skipped (a student's broken definition leaves its name undefined)."""
        for src, filename, fatal in msg.get("sources") or [[msg.get("src", ""), msg.get("filename", "<cell>"), True]]:
            try:
                exec(compile(src, filename, "exec"), self.ns)
            except Exception as exc:  # noqa: BLE001 - reported when it matters
                if fatal:
                    return {**exception_node(exc), "at": str(filename)[:200]}
        return {"op": "ok"}

    def _call(self, msg: dict, buffers: list[bytes]) -> tuple[dict, Encoder]:
        dec = Decoder(buffers, self._proxy)
        args, kwargs = dec.value(msg["args"]), dec.value(msg["kwargs"])
        if msg.get("rng") is not None:
            np.random.set_state(tuple(_from_jsonable(msg["rng"])))
        refs: dict[int, list] = {}
        _register(refs, args, ["a"])
        _register(refs, kwargs, ["k"])
        before = _fingerprints(args, kwargs)
        rng_before = _jsonable(list(np.random.get_state()))
        func = self.ns.get(msg["name"])
        if not callable(func):
            raise NameError(f"name {msg['name']!r} is not defined")
        with np.errstate(**msg.get("err", {})):
            result = func(*args, **kwargs)
        enc = Encoder()
        after = [[path, enc.node(obj)] for path, obj, fp in _mutable(args, kwargs)
                 if before.get(tuple(path)) != fp]
        enc.refs = refs  # the answer may point at the arguments (e.g. cache = (x, W, b))
        rng_after = _jsonable(list(np.random.get_state()))
        reply = {"op": "result", "value": enc.node(result), "after": after,
                 "rng": rng_after if rng_after != rng_before else None}
        return reply, enc


def _register(refs: dict[int, list], obj: Any, path: list, depth: int = 0) -> None:
    if depth > 3 or not isinstance(obj, (np.ndarray, dict, list, tuple, np.random.Generator)):
        return
    refs.setdefault(id(obj), path)
    if isinstance(obj, dict):
        for k, v in obj.items():
            _register(refs, v, [*path, k], depth + 1)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _register(refs, v, [*path, i], depth + 1)


def _fingerprint(obj: Any) -> Any:
    enc = Encoder()
    return json.dumps(enc.node(obj)), b"".join(enc.buffers)


def _mutable(args: list, kwargs: dict) -> list[tuple[list, Any, Any]]:
    """(path, object, fingerprint) of the arguments a function could change in place."""
    items = [(["a", i], v) for i, v in enumerate(args)] + [(["k", k], v) for k, v in kwargs.items()]
    return [(p, v, _fingerprint(v)) for p, v in items
            if isinstance(v, (np.ndarray, dict, list, np.random.Generator))]


def _fingerprints(args: list, kwargs: dict) -> dict[tuple, Any]:
    return {tuple(p): fp for p, _, fp in _mutable(args, kwargs)}


_BUILTIN_ERRORS = {name: cls for name, cls in vars(__import__("builtins")).items()
                   if isinstance(cls, type) and issubclass(cls, Exception)}


def _remote_exception(msg: dict) -> Exception:
    cls = _BUILTIN_ERRORS.get(str(msg.get("type")), RuntimeError)
    try:
        exc = cls(str(msg.get("message", "")))
    except Exception:  # noqa: BLE001 - exception classes with other signatures
        exc = RuntimeError(f"{msg.get('type')}: {msg.get('message', '')}")
    exc.at = str(msg.get("at", ""))  # type: ignore[attr-defined] - which source of an exec failed
    return exc


def main() -> None:
    """Worker entry point: the protocol runs on copies of fds 0 and 1, which are then
    pointed at /dev/null so that the student's prints cannot reach the grader."""
    from coursekit.grading.seccomp import deny_keyrings

    deny_keyrings()  # before any student code: no reach into the per-uid keyrings
    inp = os.fdopen(os.dup(0), "rb", buffering=0)
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    sys.stdin = open(os.devnull)  # noqa: SIM115 - lives as long as the process
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    import coursekit  # noqa: F401 - the real helpers, loaded before any student code
    import coursekit.check  # noqa: F401
    worker = _Worker(inp, out)
    write_frame(out, {"op": "ready", "pid": os.getpid()})
    try:
        worker.serve()
    except EOFError:
        pass


if __name__ == "__main__":
    main()
