"""A seccomp filter that refuses the kernel-keyring system calls to sandboxed code.

The Linux key retention service (``add_key``, ``request_key``, ``keyctl``) keeps a
keyring per **uid**, outside every namespace bubblewrap makes, and it outlives the
processes that wrote it. Without this filter, code in one sandboxed process could leave
data there for a later one of the same uid: a test's worker holds the reference code of
the functions that test does not grade, and could hand it to the worker of another test
(or, since uids are reused from batch to batch, to another student's worker). So every
process that runs student code, the grading kernel and the isolated runner's zygote and
workers, installs this filter first, before any student code runs; a filter cannot be
removed, and it is inherited by every child. The three calls then fail with ``EPERM``.

Standard library only (``ctypes``): a classic BPF program of eleven instructions on
``struct seccomp_data`` (the call's number and the architecture). Calls of another ABI
than the process's own (i386 or x32 on x86_64) are refused altogether, so the numbers
cannot be dodged through them.
"""

from __future__ import annotations

import ctypes
import os

__all__ = ["KEYRING_CALLS", "deny_keyrings", "filter_program"]

_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2
_LD_W_ABS, _JEQ_K, _JGE_K, _RET_K = 0x20, 0x15, 0x35, 0x06
_RET_ALLOW, _RET_ERRNO = 0x7FFF0000, 0x00050000
_X32_SYSCALL_BIT = 0x40000000
#: machine -> (AUDIT_ARCH_*, {call: number}) of the 64-bit ABI
KEYRING_CALLS = {
    "x86_64": (0xC000003E, {"add_key": 248, "request_key": 249, "keyctl": 250}),
    "aarch64": (0xC00000B7, {"add_key": 217, "request_key": 218, "keyctl": 219}),
}


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def filter_program(machine: str | None = None) -> list[tuple[int, int, int, int]] | None:
    """The BPF instructions ``(code, jt, jf, k)`` for ``machine`` (default: this one); None if unknown."""
    entry = KEYRING_CALLS.get(machine or os.uname().machine)
    if entry is None:
        return None
    arch, calls = entry
    deny = _RET_ERRNO | 1  # EPERM
    add_key, request_key, keyctl = calls["add_key"], calls["request_key"], calls["keyctl"]
    return [
        (_LD_W_ABS, 0, 0, 4),                  # 0: A = seccomp_data.arch
        (_JEQ_K, 1, 0, arch),                  # 1: our own ABI -> 3
        (_RET_K, 0, 0, deny),                  # 2: any other ABI: refused
        (_LD_W_ABS, 0, 0, 0),                  # 3: A = seccomp_data.nr
        (_JGE_K, 0, 1, _X32_SYSCALL_BIT),      # 4: an x32 call -> 5, else -> 6
        (_RET_K, 0, 0, deny),                  # 5
        (_JEQ_K, 2, 0, add_key),               # 6: -> 9
        (_JEQ_K, 1, 0, request_key),           # 7: -> 9
        (_JEQ_K, 0, 1, keyctl),                # 8: -> 9, else -> 10
        (_RET_K, 0, 0, deny),                  # 9
        (_RET_K, 0, 0, _RET_ALLOW),            # 10
    ]


def deny_keyrings() -> bool:
    """Install the filter in this process (and so in all its future children).

    Sets ``no_new_privs`` first (the kernel requires it of an unprivileged caller; the
    sandbox's ``setpriv`` has already set it). Returns False where it cannot be installed
    (another architecture, no seccomp, not Linux): the caller says so.
    """
    program = filter_program()
    if program is None:
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return False
    insns = (_SockFilter * len(program))(*[_SockFilter(*i) for i in program])
    prog = _SockFprog(len(program), insns)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    return libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) == 0
