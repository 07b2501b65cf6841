"""The zygote of isolated grading: one per submission, inside the sandbox, forking one worker per test.

``python -m coursekit.grading.isolated_zygote [--warm-up SOURCE] [MODULE ...]`` (wrapped in
the sandbox by :class:`coursekit.grading.isolated_channel.ForkServer`) imports numpy,
coursekit and the MODULEs (those the assignment's locked cells import) once, runs SOURCE (the
notebook's setup cell, trusted) once in a namespace it drops, for the modules that imports, then
serves three requests on the Unix socket it was given as stdin/stdout:

- ``F`` with a socket attached (``SCM_RIGHTS``): fork a worker that talks over that
  socket alone (:class:`coursekit.grading.isolated_worker._Worker`); reply ``forked``.
- ``K``: kill the worker and every process it started, wipe what it could leave for
  the next test (the files in the scratch folder, ``/tmp`` and ``/dev/shm``, System V
  IPC objects); reply ``clean``.
- ``Q`` (or the socket closing): exit.

The zygote never runs student code and never receives any (nor hidden tests or references): the sources of a test
go to its worker, after the fork. Before anything else it installs the filter that
refuses the kernel-keyring calls (:mod:`coursekit.grading.seccomp`; every worker inherits
it), and after the imports it freezes the garbage collector's view of them (``gc.freeze``),
so that forked workers copy fewer pages. It is not dumpable (so its workers, same uid,
cannot ptrace it or open its memory or file descriptors through ``/proc``), it is
the subreaper of everything its workers start (so no process escapes the clean-up,
whatever it does with ``setsid``), and it ignores the signals it can ignore. A
worker can still kill or stop it (same uid): the grading side then kills the
sandbox and gives the remaining tests of that submission 0, with the reason.

The wipe of files and IPC objects runs only inside the bubblewrap sandbox (private
``/tmp``, IPC namespace, scratch folder at ``/submission``): run without it (tests,
``--no-isolation``), the zygote kills the workers' processes but deletes nothing.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import stat
import sys
import time

from coursekit.grading.isolated_worker import _Worker, frame_bytes, write_frame
from coursekit.grading.seccomp import deny_keyrings

_PR_SET_DUMPABLE, _PR_SET_CHILD_SUBREAPER = 4, 36
_SANDBOX_WORKDIR = "/submission"  # coursekit.grading.sandbox.SANDBOX_WORKDIR (not imported: stdlib-light)
_PRELOAD = ("coursekit", "coursekit.check", "coursekit.grading.guard", "coursekit.data",
            "coursekit.activations", "coursekit.losses")


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover - every Linux has one
        return None


def in_sandbox() -> bool:
    """Whether this process runs in the bubblewrap sandbox (its own /tmp, IPC and PID namespaces)."""
    return (os.environ.get("COURSEKIT_SANDBOX") == "bwrap" and os.getcwd() == _SANDBOX_WORKDIR
            and os.getpid() < 10)


def _children_of(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                text = f.read()
        except OSError:
            continue
        fields = text[text.rfind(b")") + 2:].split()
        if fields and fields[0] != b"Z":
            parents.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for kid in parents.get(todo.pop(), []):
            out.append(kid)
            todo.append(kid)
    return out


def kill_descendants(limit: float = 15.0) -> bool:
    """SIGKILL every descendant (repeatedly: they may fork meanwhile) and reap them all."""
    me, deadline = os.getpid(), time.monotonic() + limit
    while time.monotonic() < deadline:
        kids = _children_of(me)
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        while True:  # reap what has died (orphans come to us: we are the subreaper)
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                pid = -1
            if pid <= 0:
                break
        if not kids and not _children_of(me):
            try:
                while os.waitpid(-1, os.WNOHANG)[0] > 0:
                    pass
            except ChildProcessError:
                pass
            return True
        time.sleep(0.001)
    return False


def _make_removable(path: str) -> None:
    for root, dirs, _ in os.walk(path):
        for name in dirs:
            try:
                os.chmod(os.path.join(root, name), stat.S_IRWXU)
            except OSError:
                pass


def wipe(folder: str) -> None:
    """Delete everything inside ``folder`` (not the folder itself)."""
    try:
        entries = os.listdir(folder)
    except OSError:
        try:  # a worker made its scratch folder unreadable
            os.chmod(folder, stat.S_IRWXU)
            entries = os.listdir(folder)
        except OSError:
            return
    for name in entries:
        path = os.path.join(folder, name)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                os.chmod(path, stat.S_IRWXU)
                _make_removable(path)
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
        except OSError:
            pass


def remove_ipc_objects() -> None:
    """Remove the System V shared memory segments, message queues and semaphores left behind."""
    libc = _libc()
    if libc is None:
        return
    for kind, remove in (("shm", lambda i: libc.shmctl(i, 0, None)), ("msg", lambda i: libc.msgctl(i, 0, None)),
                         ("sem", lambda i: libc.semctl(i, 0, 0))):
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            parts = row.split()
            if len(parts) > 1 and parts[1].isdigit():
                remove(int(parts[1]))


def clean_up(sandboxed: bool) -> bool:
    """After a test: no process of its worker is left, and (in the sandbox) no file or IPC object."""
    ok = kill_descendants()
    if sandboxed:
        for folder in (_SANDBOX_WORKDIR, "/tmp", "/dev/shm"):
            wipe(folder)
        remove_ipc_objects()
    return ok


def _child(fd: int, ctrl: socket.socket) -> None:
    """The forked worker: fresh session, default signals, only its own socket open; never returns."""
    try:
        ctrl.close()
        os.setsid()
        for sig in signal.valid_signals():
            try:
                signal.signal(sig, signal.SIG_DFL)
            except (OSError, ValueError):
                pass
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for sig in (signal.SIGPIPE, signal.SIGXFSZ):  # as in a fresh Python process
            signal.signal(sig, signal.SIG_IGN)
        for name in os.listdir("/proc/self/fd"):
            if name.isdigit() and int(name) > 2 and int(name) != fd:
                try:
                    os.close(int(name))
                except OSError:
                    pass
        inp = os.fdopen(os.dup(fd), "rb", buffering=0)
        out = os.fdopen(fd, "wb", buffering=0)
        worker = _Worker(inp, out)
        write_frame(out, {"op": "ready", "pid": os.getpid()})
        worker.serve()
    except BaseException:  # noqa: BLE001, S110 - whatever happens, the worker process ends here
        pass
    finally:
        os._exit(0)


def main() -> None:
    """Zygote entry point (see the module docstring)."""
    keyrings_denied = deny_keyrings()  # first: no worker can ever reach the per-uid keyrings
    ctrl = socket.socket(fileno=os.dup(0))
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    sys.stdin = open(os.devnull)  # noqa: SIM115 - lives as long as the process
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    libc = _libc()
    if libc is not None:
        libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
                signal.SIGPIPE, signal.SIGALRM, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU):
        signal.signal(sig, signal.SIG_IGN)
    import importlib

    # the real helpers, and the modules the assignment's locked cells import (argv), loaded
    # before any student code, once; then the setup cell (trusted) run once, for what it imports
    args = sys.argv[1:]
    warmup = args[1] if args[:1] == ["--warm-up"] and len(args) > 1 else ""
    for name in (*_PRELOAD, *(args[2:] if warmup else args)):
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    import coursekit.grading.guard

    coursekit.grading.guard.IN_ISOLATED_WORKER = True  # the set-up cell's guard records nothing here
    warmed = False
    if warmup:
        try:
            exec(compile(warmup, "<warm-up>", "exec"), {"__name__": "__warmup__"})
            warmed = True
        except Exception:  # noqa: BLE001, S110 - only a cache: each worker runs the cell itself
            pass
    sandboxed = in_sandbox()
    import gc

    import coursekit

    gc.collect()
    gc.freeze()  # the preloaded objects: no collection in a worker touches (and so copies) their pages

    ctrl.sendall(frame_bytes({"op": "ready", "pid": os.getpid(), "sandboxed": sandboxed,
                              "coursekit": os.path.dirname(coursekit.__file__), "keyrings_denied": keyrings_denied,
                              "warmed": warmed}))
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(ctrl, 16, 4)
        except OSError:
            break
        if not data or data[:1] == b"Q":
            break
        if data[:1] == b"F" and fds:
            for extra in fds[1:]:
                os.close(extra)
            try:
                pid = os.fork()
            except OSError as exc:  # e.g. the process limit
                os.close(fds[0])
                ctrl.sendall(frame_bytes({"op": "error", "message": str(exc)[:200]}))
                continue
            if pid == 0:
                _child(fds[0], ctrl)
            os.close(fds[0])
            ctrl.sendall(frame_bytes({"op": "forked", "pid": pid}))
        else:
            for fd in fds:
                os.close(fd)
            if data[:1] == b"K":
                ok = clean_up(sandboxed)
                ctrl.sendall(frame_bytes({"op": "clean" if ok else "stuck"}))
    kill_descendants(5.0)


if __name__ == "__main__":
    main()
