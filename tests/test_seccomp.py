"""The keyring filter (coursekit.grading.seccomp): the per-uid kernel keyrings are out of reach.

The keyrings are kept per uid, outside every namespace, and outlive the processes that
wrote them, so without the filter one sandboxed process could leave data for a later one
of the same uid (tests/test_isolated_hostile.py shows the reference code of a function
crossing from one test's worker to another's that way). Proved here: the BPF program's
verdicts for every architecture it knows (by running it on a small interpreter), and in a
real process that the three calls fail with EPERM while everything else works, in the
process and in the children it starts. The grading kernel and the isolated zygote install
it before any student code runs: tests/test_grading_hostile.py (``keyring_relay``, in the
real pipeline) and tests/test_isolated_hostile.py.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from coursekit.grading.seccomp import KEYRING_CALLS, filter_program

ALLOW, EPERM = 0x7FFF0000, 0x00050001
I386 = 0x40000003


def _run(program: list[tuple[int, int, int, int]], arch: int, nr: int) -> int:
    """Execute the classic-BPF subset the filter uses on one seccomp_data (nr, arch)."""
    acc, pc = 0, 0
    for _ in range(64):
        code, jt, jf, k = program[pc]
        pc += 1
        if code == 0x20:  # ld [k]
            acc = {0: nr, 4: arch}[k]
        elif code in (0x15, 0x35):  # jeq / jge
            pc += jt if (acc == k if code == 0x15 else acc >= k) else jf
        elif code == 0x06:
            return k
        else:
            raise AssertionError(f"unexpected instruction {code:#x}")
    raise AssertionError("the program does not end")


@pytest.mark.parametrize("machine", sorted(KEYRING_CALLS))
def test_the_program_refuses_exactly_the_keyring_calls(machine: str) -> None:
    arch, calls = KEYRING_CALLS[machine]
    program = filter_program(machine)
    assert program is not None and len(program) <= 16
    for name, nr in calls.items():
        assert _run(program, arch, nr) == EPERM, name
    refused = set(calls.values())
    for nr in range(0, 460):
        if nr not in refused:
            assert _run(program, arch, nr) == ALLOW, nr
    assert _run(program, I386, 288) == EPERM, "a call of the 32-bit ABI dodges the numbers"
    assert _run(program, arch, 0x40000000 + calls["keyctl"]) == EPERM, "an x32 call dodges the numbers"
    assert filter_program("sparc64") is None


PROBE = textwrap.dedent("""
    import ctypes, os, subprocess, sys
    from coursekit.grading.seccomp import KEYRING_CALLS, deny_keyrings
    calls = KEYRING_CALLS[os.uname().machine][1]
    assert deny_keyrings()
    libc = ctypes.CDLL(None, use_errno=True)
    for name, args in (("add_key", (b"user", b"ck-test", b"x", 1, -4)),
                       ("request_key", (b"user", b"ck-test", None, 0)),
                       ("keyctl", (0, -4, 0))):  # KEYCTL_GET_KEYRING_ID of the user keyring
        ctypes.set_errno(0)
        print(name, libc.syscall(calls[name], *args), ctypes.get_errno())
    print("getpid", libc.syscall(39 if os.uname().machine == "x86_64" else 172) == os.getpid())
    child = subprocess.run(["grep", "Seccomp:", "/proc/self/status"], capture_output=True, text=True)
    print("child", child.stdout.split()[1], child.returncode)
    with open(os.devnull, "w") as f:
        print("io", f.write("ok"))
""")


@pytest.mark.skipif(sys.platform != "linux" or filter_program() is None, reason="Linux x86_64 or aarch64 only")
def test_a_filtered_process_and_its_children_cannot_reach_the_keyrings() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    for name in ("add_key", "request_key", "keyctl"):
        assert lines[name] == "-1 1", (name, lines[name])  # -1, errno EPERM
    assert lines["getpid"] == "True"
    assert lines["child"] == "2 0", "the child of a filtered process is not filtered"  # 2: a filter
    assert lines["io"] == "2"

