"""The variables a submission's training cells left in its kernel, handed to the isolated tests.

The isolated test runner grades a training test (``test_xor``, ``test_mnist``) by what
the training cell produced (``xor_params``, ``mnist_params``, ...). The student's own
notebook run in the grading kernel has already produced them, so the runner first grades
*those* and retrains with the reference parts (:mod:`coursekit.grading.isolated`) only when
they do not pass: a gradient bug still costs only its own function's points, and an honest
submission's network is not trained twice.

Two sides:

- **In the kernel** (inside the sandbox): :func:`main` starts ipykernel as
  ``ipykernel_launcher`` would, and wraps the kernel's ``do_shutdown`` so that, when the
  grader asks the kernel to shut down after the last cell, the variables named in
  ``COURSEKIT_EXPORT_NAMES`` are written to ``COURSEKIT_EXPORT_FILE`` (set by the kernel
  launcher, :func:`coursekit.grading.sandbox.export_file` on the host) in the isolated
  runner's plain-data wire format (:mod:`coursekit.grading.isolated_worker`), atomically.
- **In the grading process**: :func:`read_exported` reads that file back with the same
  checks as a worker's answer (no pickles, no objects with methods, checked sizes and
  dtypes) and returns only plain data.

This hands the grader nothing that the training cell could not already hand it: the
training cell is the student's code in both places, so a value written there (or a file
forged by any other code of the submission) is exactly as trusted as what the same cell
returns in the isolated worker. A missing, truncated, forged or unreadable file, or a
variable that does not pass the test, only means the test retrains with the reference parts.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from coursekit.grading.sandbox import EXPORT_FILE_ENV, EXPORT_NAMES_ENV, export_file

__all__ = ["export_file", "main", "read_exported", "write_exported"]
#: A larger file is not read (a trained MNIST network is about 1 MB).
MAX_BYTES = 64 * 1024**2
#: Nor one whose JSON part is larger (the arrays travel as raw buffers, outside it).
MAX_HEADER = 4 * 1024**2


def write_exported(namespace: dict[str, Any], names: Iterable[str], path: str | os.PathLike[str]) -> None:
    """Write the ``names`` found in ``namespace`` to ``path`` (atomically; unreadable values are left out)."""
    from coursekit.grading.isolated_worker import Encoder, frame_bytes

    enc = Encoder()
    value: dict[str, Any] = {}
    for name in names:
        if name in namespace:
            try:
                value[name] = enc.node(namespace[name])
            except Exception:  # noqa: BLE001 - a value that cannot be sent is simply not there
                continue
    data = frame_bytes({"op": "result", "value": value}, enc)
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _read_bytes(path: Path) -> bytes | None:
    """The file's bytes if it is a regular file of at most MAX_BYTES (never following a link,
    never blocking on a FIFO or a device)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_BYTES:
            return None
        chunks, left = [], info.st_size
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 24))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_exported(path: str | os.PathLike[str], names: Iterable[str]) -> dict[str, Any]:
    """The plain-data variables in ``path`` among ``names``; ``{}`` when the file is missing or bad.

    Parameters
    ----------
    path : path-like
        The file the kernel wrote (:func:`export_file`); the student can write it too.
    names : iterable of str
        The variables wanted; anything else in the file is ignored.

    Returns
    -------
    dict
        ``name -> value`` (numbers, strings, tuples, lists, dicts, numeric ``ndarray``,
        ``numpy.random.Generator``); a value that does not decode is left out.
    """
    from coursekit.grading.isolated_worker import Decoder, WireError, read_frame

    data = _read_bytes(Path(path))
    if data is None or len(data) < 16 or int.from_bytes(data[:8], "big") > MAX_HEADER:
        return {}
    pos = 0

    def read(n: int) -> bytes:
        nonlocal pos
        if pos + n > len(data):
            raise WireError("truncated file")
        pos += n
        return data[pos - n:pos]

    try:
        msg, buffers = read_frame(read)
    except (WireError, ValueError, OverflowError):
        return {}
    value = msg.get("value")
    if not isinstance(value, dict):
        return {}
    dec, out = Decoder(buffers), {}
    for name in names:
        if name in value:
            try:
                out[name] = dec.value(value[name])
            except (WireError, ValueError, TypeError, KeyError, IndexError, OverflowError):
                continue
    return out


def _install(kernel: Any, names: list[str], path: str) -> None:
    """Write the variables when the kernel is asked to shut down (after the notebook's last cell)."""
    original = kernel.do_shutdown

    def do_shutdown(restart: bool) -> Any:
        try:
            write_exported(kernel.shell.user_ns, names, path)
        except Exception:  # noqa: BLE001 - no file: the isolated tests retrain
            pass
        return original(restart)

    kernel.do_shutdown = do_shutdown


def main() -> None:
    """``python -m coursekit.grading.kernel_export -f CONNECTION_FILE``: the grading kernel.

    ipykernel as ``ipykernel_launcher`` starts it, after the keyring filter
    (:func:`coursekit.grading.seccomp.deny_keyrings`) and without the debugger (nobody
    attaches one to a grading kernel), exporting on shutdown when asked to.
    """
    from coursekit.grading.seccomp import deny_keyrings

    deny_keyrings()  # before any student code
    if sys.path and (sys.path[0] in ("", os.getcwd())):
        del sys.path[0]  # as ipykernel_launcher: the scratch folder does not shadow modules while loading
    # no debugger in a grading kernel: ipykernel imports debugpy at start-up when it can (about 75 ms)
    sys.modules.setdefault("debugpy", None)  # type: ignore[arg-type]
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize()
    names = [n for n in os.environ.get(EXPORT_NAMES_ENV, "").split(",") if n.isidentifier()]
    path = os.environ.get(EXPORT_FILE_ENV)
    if names and path:
        _install(app.kernel, names, path)
    app.start()


if __name__ == "__main__":
    main()
