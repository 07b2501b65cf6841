"""Hostile submissions against the isolated grader: none gains a point, none hurts another test.

Each case replaces the backprop `sigmoid` answer cell (graded by `test_sigmoid`) with
code that tries to fool the test from the student's process; `test_relu` is graded in
the same batch and must keep its points. The workers are forked from one zygote per
submission (:class:`~coursekit.grading.isolated.ForkServer`, as in production); the
cases at the end attack the zygote itself and the state a test could leave for the next.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
import pytest

from coursekit.grading.isolated import ForkServer, LocalWorker, RemoteWorker, grade_plan
from coursekit.grading.isolated_source import definitions_only, plan_for
from coursekit.grading.sandbox import UID_BASE, namespace_available
from coursekit.grading.seccomp import KEYRING_CALLS

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "solutions" / "backprop" / "backprop.ipynb"
SIG = "def sigmoid(z):\n"
HOSTILE = {
    "steals_the_reference": SIG + "    return _ref_sigmoid(z)\n",
    "walks_the_stack": SIG + "    import sys\n    return sys._getframe(1).f_globals['_ref_sigmoid'](z)\n",
    "returns_a_lying_object": (
        "class Always:\n    def __eq__(self, other):\n        return True\n    __array_priority__ = 1000\n"
        "    shape = ()\n\n" + SIG + "    return Always()\n"),
    "patches_numpy_checks": (
        SIG + "    np.allclose = lambda *a, **k: True\n    np.testing.assert_allclose = lambda *a, **k: None\n"
        "    import coursekit.check as c\n    c.assert_close = lambda *a, **k: None\n    return z * 0\n"),
    "prints_a_forged_answer": (
        SIG + "    import os\n    print('{\"op\": \"result\", \"value\": 1}')\n"
        "    os.write(1, b'{\"op\": \"result\"}')\n    return z * 0\n"),
    "garbles_the_protocol_pipe": (
        SIG + "    import os\n    for fd in range(3, 32):\n        try:\n"
        "            os.write(fd, bytes(16) + b'garbage')\n        except OSError:\n            pass\n"
        "    return z\n"),
    "exits_the_process": SIG + "    import os\n    os._exit(0)\n",
    "never_returns": SIG + "    while True:\n        pass\n",
    "shadows_the_grader_names": (
        "def _ref_sigmoid(z):\n    return z * 0\n\n\ndef _call(name, *args, **kwargs):\n    return None\n\n\n"
        "def _check():\n    return None\n\n\n" + SIG + "    return z * 0\n"),
    "rebinds_builtins_at_top_level": (
        "import builtins\nbuiltins.AssertionError = Warning\nbuiltins.isinstance = lambda *a: True\n\n"
        + SIG + "    return z * 0\n"),
}


def _forked(plan, timeout: float, only: set[str], **kwargs):
    """Grade with workers forked from one zygote (no sandbox: see the sandboxed cases below)."""
    with ForkServer(lambda argv: argv, **kwargs) as server:
        return grade_plan(plan, server, timeout, only=only)


def _plan(sigmoid_code: str):
    source = nbformat.read(SOURCE, as_version=4)
    plan = plan_for(source, None)
    for cell in plan.cells:
        if cell.kind == "answer":
            cell.student = sigmoid_code if cell.grade_id == "sigmoid" else cell.source
    return plan


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_sigmoid_scores_zero_and_spares_the_other_tests(case):
    plan = _plan(HOSTILE[case])
    start = time.perf_counter()
    results = _forked(plan, 8.0, {"test_sigmoid", "test_relu"})
    assert results["test_sigmoid"].points == 0, results["test_sigmoid"]
    assert results["test_sigmoid"].message
    assert results["test_relu"].passed, results["test_relu"]
    assert time.perf_counter() - start < 60


def test_honest_sigmoid_scores_full_marks_with_the_same_runner():
    source = nbformat.read(SOURCE, as_version=4)
    plan = plan_for(source, None)
    for cell in plan.cells:
        if cell.kind == "answer":
            cell.student = cell.source
    results = _forked(plan, 60.0, {"test_sigmoid", "test_relu"})
    assert all(r.passed for r in results.values()), results


def test_a_hanging_submission_is_stopped_at_the_limit_with_the_reason():
    results = _forked(_plan(HOSTILE["never_returns"]), 4.0, {"test_sigmoid", "test_relu"})
    assert "timed out" in results["test_sigmoid"].message
    assert results["test_relu"].passed, results["test_relu"]  # the hanging worker was killed, not the zygote


def test_top_level_statements_of_answers_are_not_run_and_are_noted():
    reduced, notes = definitions_only(HOSTILE["rebinds_builtins_at_top_level"])
    assert "builtins.AssertionError" not in reduced and "def sigmoid" in reduced
    assert len(notes) == 3 and all("was not run" in n for n in notes)  # builtins is not an allowed import


def test_hidden_tests_and_reference_helpers_never_reach_the_worker():
    plan = _plan(HOSTILE["steals_the_reference"])
    for spec in plan.tests:
        sent = "\n".join(src for src, _ in plan.worker_sources(spec))
        for secret in ("HIDDEN TESTS", "_ref_", "_REF_PARTS", "known_mistakes", "_call("):
            assert secret not in sent.replace("return _ref_sigmoid(z)", ""), (spec.grade_id, secret)


def test_local_worker_grades_like_the_remote_ones():
    """The in-process runner (trusted code only: the mutation sweep), a fresh process per test
    and a fork of the zygote per test all give the same scores and messages."""
    wrong = SIG + "    return 1.0 / (1.0 + np.exp(-z))\n"
    only = {"test_sigmoid", "test_relu"}
    local = grade_plan(_plan(wrong), LocalWorker, 30.0, only=only)
    remote = grade_plan(_plan(wrong), lambda: RemoteWorker(lambda argv: argv), 30.0, only=only)
    forked = _forked(_plan(wrong), 30.0, only)
    for other in (remote, forked):
        assert {g: r.points for g, r in local.items()} == {g: r.points for g, r in other.items()}
        assert local["test_sigmoid"].message == other["test_sigmoid"].message
    assert "overflow" in local["test_sigmoid"].message


# ---------------------------------------------------------------------------
# The zygote: a test's code can stop it (costing its own submission's later tests,
# with the reason) but can leave nothing behind for the next test.

KILLS_THE_ZYGOTE = SIG + "    import os\n    os.kill(os.getppid(), 9)\n    return z * 0\n"
STOPS_THE_ZYGOTE = SIG + "    import os, signal\n    os.kill(os.getppid(), signal.SIGSTOP)\n    return z * 0\n"


@pytest.mark.parametrize("code", [KILLS_THE_ZYGOTE, STOPS_THE_ZYGOTE], ids=["kill", "stop"])
def test_a_worker_that_breaks_the_zygote_costs_only_its_own_submission(code):
    start = time.perf_counter()
    results = _forked(_plan(code), 8.0, {"test_sigmoid", "test_relu"}, control_limit=2.0)
    assert results["test_sigmoid"].points == 0
    assert results["test_relu"].points == 0
    assert "stopped answering after test_sigmoid" in results["test_relu"].message, results["test_relu"]
    assert time.perf_counter() - start < 30
    honest = _plan(SIG + "    return np.where(z >= 0, 1 / (1 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / "
                         "(1 + np.exp(-np.abs(z))))\n")
    assert all(r.passed for r in _forked(honest, 30.0, {"test_sigmoid", "test_relu"}).values())


# test_sigmoid's worker holds the reference relu (it grades only sigmoid); its code tries
# to hand that to test_relu's worker through every place a fork of the same zygote shares,
# and through the uid's keyring, which every sandbox of that uid shares (and which outlives them).
_CALLS = KEYRING_CALLS.get(os.uname().machine, KEYRING_CALLS["x86_64"])[1]
LEAKS_THE_REFERENCE = SIG + '''    import ctypes, marshal, os, socket
    code = marshal.dumps(globals()["relu"].__code__)
    for d in ("/tmp", os.getcwd(), "/dev/shm"):
        try:
            with open(os.path.join(d, "leak.bin"), "wb") as f:
                f.write(code)
        except OSError:
            pass
    libc = ctypes.CDLL(None)
    libc.shmat.restype = ctypes.c_void_p
    shm = libc.shmget(0x4C45414B, 1 << 16, 0o1600)
    if shm >= 0:
        ctypes.memmove(libc.shmat(shm, None, 0), len(code).to_bytes(4, "little") + code, len(code) + 4)
    # the kernel's per-uid keyring (KEY_SPEC_USER_KEYRING = -4), outside every namespace
    libc.syscall(NR_ADD_KEY, b"user", b"ck-leak", code, len(code), -4)
    if os.fork() == 0:
        try:
            os.setsid()
            srv = socket.socket(socket.AF_UNIX)
            srv.bind("\\0ck-leak")
            srv.listen(5)
            while True:
                conn, _ = srv.accept()
                conn.sendall(code)
                conn.close()
        finally:
            os._exit(0)
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
'''.replace("NR_ADD_KEY", str(_CALLS["add_key"]))
USES_THE_LEAK = '''def relu(z):
    import ctypes, marshal, os, socket, types
    found = []
    for d in ("/tmp", os.getcwd(), "/dev/shm"):
        try:
            with open(os.path.join(d, "leak.bin"), "rb") as f:
                found.append(f.read())
        except OSError:
            pass
    libc = ctypes.CDLL(None)
    libc.shmat.restype = ctypes.c_void_p
    shm = libc.shmget(0x4C45414B, 0, 0)
    if shm >= 0:
        raw = ctypes.string_at(libc.shmat(shm, None, 0), 1 << 16)
        found.append(raw[4:4 + int.from_bytes(raw[:4], "little")])
    try:
        cli = socket.socket(socket.AF_UNIX)
        cli.connect("\\0ck-leak")
        found.append(cli.recv(1 << 20))
    except OSError:
        pass
    key = libc.syscall(NR_KEYCTL, 10, -4, b"user", b"ck-leak", 0)  # KEYCTL_SEARCH
    if key > 0:
        buf = ctypes.create_string_buffer(1 << 16)
        size = libc.syscall(NR_KEYCTL, 11, key, buf, 1 << 16)  # KEYCTL_READ
        found.append(buf.raw[:size])
    for code in found:
        return types.FunctionType(marshal.loads(code), globals())(z)
    raise LookupError("nothing was left behind")
'''.replace("NR_KEYCTL", str(_CALLS["keyctl"]))


@pytest.mark.skipif(not namespace_available(), reason="bubblewrap cannot create namespaces here")
def test_nothing_a_test_leaves_behind_reaches_the_next_test(tmp_path):
    from coursekit.grading.runner import _sandbox_wrapper

    plan = _plan(LEAKS_THE_REFERENCE)
    for cell in plan.cells:
        if cell.grade_id == "relu":
            cell.student = USES_THE_LEAK
    os.chmod(tmp_path, 0o711)
    wrap = _sandbox_wrapper(tmp_path, UID_BASE + 999, {"memory": "2G", "nproc": 64, "fsize": "10M"})
    with ForkServer(wrap) as server:
        results = grade_plan(plan, server, 30.0, only={"test_sigmoid", "test_relu"})
        assert server.info.get("sandboxed") is True, server.info
        assert server.info.get("keyrings_denied") is True, server.info
    assert results["test_sigmoid"].passed, results["test_sigmoid"]
    assert results["test_relu"].points == 0
    assert "nothing was left behind" in results["test_relu"].message, results["test_relu"]
