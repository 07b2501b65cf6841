"""The sandbox's non-root path: the grader as an ordinary user (issue 11, section 1).

CI and the project's machines grade as root, where the sandbox switches the
kernel to an own uid with ``setpriv``. An instructor grading as an ordinary
user gets the other path: bwrap creates an unprivileged user namespace, there
is no uid switch, and kernel and grader have the same uid, so only the
namespaces keep the gradebook and the other submissions out of reach, and
``RLIMIT_NPROC`` counts the processes of that user namespace.

Run as root, this module grades one small batch of the ``tiny`` fixture
(an honest submission, the fork bomb, one that reads and writes another
submission and the gradebook by their paths, one that unmounts the tmpfs,
also from a nested user namespace) in a child process running as
``nobody`` (uid 65534, which Debian and Ubuntu always have; no ``useradd``
needed). The child runs in a private mount namespace where folders that
``nobody`` may not enter on the way to the Python installation (such as a
0700 ``/root`` holding pyenv) are replaced by a 0755 tmpfs holding only
that path (the host is not changed). Run as an ordinary user, the child is
started directly. The invariants are those of the root path
(``tests/test_grading_hostile.py``). It found one bug of that path: the
runner rewrote nbgrader's read-only (0444) autograded notebook, which only
root may do. Measured on the shared 2-core machine under a load average of
about 14-18: the batch graded in 85 s, the child took 259 s with its course
set-up and release; an idle machine needs far less (not measured).

Without unprivileged user namespaces the grader must refuse with a clear
:class:`~coursekit.grading.sandbox.SandboxUnavailable`: checked with a stub
``bwrap`` that fails the way bubblewrap fails there.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "grading"
sys.path.insert(0, str(FIXTURE))
import hostile as H  # noqa: E402
import submissions as S  # noqa: E402

from coursekit.grading import sandbox  # noqa: E402

pytestmark = pytest.mark.timeout(1800)  # the batch may first wait for another suite's (see _one_nobody_batch)
GRADER_UID = 65534  # nobody
TIMEOUT = 10  # per cell
WALL = 75  # per submission
NPROC = 64
MARK = H.PROBE_MARK
#: student -> the most points it may get
BATCH = {"honest": 5.0, "fork_bomb": 0.0, "peek": 0.0, "umount": 0.0}


# ---------------------------------------------------------------------------
# two attacks of this module (the others come from tests/fixtures/grading/hostile.py)


def peek(release: dict[str, Any], *, targets: str = "", **_: Any) -> str:
    """Reads and appends to the gradebook, a classmate's submission and the solutions by their paths."""
    attack = (
        "import os\n"
        f"for _t in {targets!r}.split('|'):\n"
        "    for _how in ('rb', 'ab'):\n"
        "        try:\n"
        "            with open(_t, _how) as _f:\n"
        "                _f.read(64) if _how == 'rb' else _f.write(b'x')\n"
        f"            print('{MARK} done', _how, _t)\n"
        "        except OSError as _e:\n"
        f"            print('{MARK} refused', _how, _t, type(_e).__name__)\n"
        f"print('{MARK} uid', os.getuid(), open('/proc/self/uid_map').read().split())\n"
        "for _line in open('/proc/self/status'):\n"
        "    if _line.startswith('CapEff'):\n"
        f"        print('{MARK} caps', _line.split()[1])\n"
    )
    return H._wrong(release, attack)


def umount(release: dict[str, Any], *, targets: str = "", **_: Any) -> str:
    """umount2 of the tmpfs and the submission folder, then again from a nested user namespace."""
    attack = (
        "import ctypes, os\n"
        "_libc = ctypes.CDLL(None, use_errno=True)\n"
        "def _try(what, rc):\n"
        f"    print('{MARK}', what, 'ok' if rc == 0 else 'failed ' + os.strerror(ctypes.get_errno()))\n"
        "for _t in (b'/tmp', b'/submission', b'/'):\n"
        "    _try('umount2 ' + _t.decode(), _libc.umount2(_t, 2))\n"
        "_rc = _libc.unshare(0x10000000 | 0x00020000)  # CLONE_NEWUSER | CLONE_NEWNS: all capabilities there\n"
        "_try('unshare', _rc)\n"
        "if _rc == 0:\n"
        "    for _t in (b'/tmp', b'/submission', b'/'):\n"
        "        _try('nested umount2 ' + _t.decode(), _libc.umount2(_t, 2))\n"
        f"_found = [t for t in {targets!r}.split('|') if os.path.exists(t)]\n"
        f"print('{MARK} found', len(_found))\n"
    )
    return H._wrong(release, attack)


# ---------------------------------------------------------------------------
# the child: grades the batch as whoever runs it, writes result.json


def _printed(notebooks: list[str]) -> str:
    text = []
    for path in notebooks:
        for cell in json.loads(Path(path).read_text())["cells"]:
            for out in cell.get("outputs", []):
                text.append("".join(out.get("text", "")))
    return "\n".join(text)


def grade_batch(work: Path) -> dict[str, Any]:
    """Grade BATCH in a course under ``work``; plain data for the test."""
    from coursekit.grading import autograde_notebooks, make_course_copy
    from coursekit.grading.autograding import ensure_released
    from coursekit.grading.course import Course
    from coursekit.grading.sandbox import SandboxUnavailable

    out: dict[str, Any] = {"euid": os.geteuid()}
    root = make_course_copy(work / "course", ["tiny"], source_dir=FIXTURE / "solutions")
    course = Course(root)
    ensure_released(course, "tiny")
    release = json.loads((course.release_dir / "tiny" / "tiny.ipynb").read_text())
    honest_copy = course.submitted_dir / "honest" / "tiny" / "tiny.ipynb"
    targets = [course.root / "gradebook.db", honest_copy, course.source_dir / "tiny" / "tiny.ipynb",
               Path(f"/proc/1/root{course.root}/gradebook.db")]
    builders = {"honest": S.correct, "fork_bomb": H.fork_bomb, "peek": peek, "umount": umount}
    paths = {}
    for name, build in builders.items():
        paths[name] = work / f"{name}.ipynb"
        paths[name].write_text(build(release, targets="|".join(map(str, targets))))
    out["honest_sha"] = hashlib.sha256(paths["honest"].read_bytes()).hexdigest()
    start = time.perf_counter()
    try:
        results = autograde_notebooks(root, "tiny", paths, workers=2, timeout=TIMEOUT, memory="2G",
                                      nproc=NPROC, wall_limit=WALL)
    except SandboxUnavailable as exc:
        out["unavailable"] = str(exc)
        return out
    out["seconds"] = time.perf_counter() - start
    out["results"] = {name: {"score": r.score, "max_score": r.max_score, "reason": r.reason, "flags": r.flags,
                             "isolation": r.isolation, "printed": _printed(r.notebooks)}
                      for name, r in results.items()}
    with course.gradebook() as gb:
        out["stored"] = {s.student.id: s.score for s in gb.find_assignment("tiny").submissions}
    out["honest_sha_after"] = hashlib.sha256(honest_copy.read_bytes()).hexdigest()
    return out


# ---------------------------------------------------------------------------
# running the child as an unprivileged user


def _others_may_enter(path: Path, uid: int) -> bool:
    st = path.stat()
    return bool(st.st_mode & stat.S_IXOTH) or (st.st_uid == uid and bool(st.st_mode & stat.S_IXUSR))


def _mount_fixes(needed: list[Path], uid: int, stage: Path) -> list[str]:
    """Shell lines that, in a private mount namespace, make every path of ``needed`` reachable for ``uid``.

    A folder on the way that ``uid`` may not enter (``/root``, 0700) is covered by a 0755 tmpfs
    that holds only the entries on the way, bound back from their real place.
    """
    blocked: dict[Path, set[str]] = {}
    for path in needed:
        path = path.resolve()
        chain = [*reversed(path.parents), path]
        for here, below in zip(chain, chain[1:], strict=False):
            if not _others_may_enter(here, uid):
                blocked.setdefault(here, set()).add(below.name)
    lines = []
    for i, (folder, names) in enumerate(sorted(blocked.items(), key=lambda kv: len(kv[0].parts))):
        for name in sorted(names):
            keep = stage / f"{i}-{name}"
            lines += [f"mkdir -p '{keep}'", f"mount --bind '{folder / name}' '{keep}'"]
        lines.append(f"mount -t tmpfs -o mode=0755 ck-nonroot '{folder}'")
        for name in sorted(names):
            keep = stage / f"{i}-{name}"
            lines += [f"mkdir -p '{folder / name}'", f"mount --bind '{keep}' '{folder / name}'"]
    return lines


def _child_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "JUPYTER_", "COURSEKIT_SANDBOX_")) and k not in ("TMPDIR", "XDG_RUNTIME_DIR")}
    env.update(HOME=str(home), PATH=os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin",
                                                        "/usr/sbin", "/sbin"]))
    return env


def _run_child(work: Path) -> tuple[dict[str, Any], str]:
    home = work / "home"
    home.mkdir()
    argv = [sys.executable, str(Path(__file__).resolve()), str(work)]
    if os.geteuid() == 0:
        for path in [work, home]:
            os.chown(path, GRADER_UID, GRADER_UID)
        stage = Path(tempfile.mkdtemp(prefix="ck-nonroot-stage-"))
        data = [Path(os.environ[v]) for v in ("COURSEKIT_MNIST_DIR", "COURSEKIT_FASHION_MNIST_DIR",
                                                "COURSEKIT_DATA_DIR") if os.path.isdir(os.environ.get(v, ""))]
        needed = [Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent, ROOT, work, *data]
        script = "\n".join(["set -e", *_mount_fixes(needed, GRADER_UID, stage),
                            'exec "$@"'])
        argv = [shutil.which("unshare") or "unshare", "--mount", "--propagation", "private", "--",
                "/bin/sh", "-c", script, "sh",
                shutil.which("setpriv") or "setpriv", f"--reuid={GRADER_UID}", f"--regid={GRADER_UID}",
                "--clear-groups", "--inh-caps=-all", "--", *argv]
    try:
        res = subprocess.run(argv, env=_child_env(home), capture_output=True, text=True, timeout=600)
    finally:
        if os.geteuid() == 0:
            shutil.rmtree(stage, ignore_errors=True)  # its mounts ended with the child's namespace
    log = f"exit {res.returncode}\n--- stdout\n{res.stdout[-4000:]}\n--- stderr\n{res.stderr[-8000:]}"
    result = work / "result.json"
    assert res.returncode == 0 and result.is_file(), log
    return json.loads(result.read_text()), log


def _pids_of(uid: int) -> set[int]:
    out = subprocess.run(["ps", "-eo", "uid=,pid="], capture_output=True, text=True).stdout
    return {int(p) for u, p in (line.split() for line in out.splitlines()) if int(u) == uid}


@contextlib.contextmanager
def _one_nobody_batch():
    """Hold a machine-wide lock while this module's batch runs as ``nobody``.

    Every checkout's suite grades as the same uid 65534, and the uid is the only thing that
    tells its processes apart: a second suite running at the same time (two fresh clones on one
    machine) would show up in ``left_running`` and share the uid's ``RLIMIT_NPROC`` count with
    this batch's honest submission (during its fork bomb). The lock is a file in ``/tmp`` (not
    ``$TMPDIR``, which each suite may set differently); it is released when this process exits.
    """
    path = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), "coursekit-nonroot-batch.lock")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
    except OSError:  # made by another user (a sticky /tmp refuses O_CREAT on it): reading is enough
        fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


@pytest.fixture(scope="module")
def batch() -> dict[str, Any]:
    if os.geteuid() == 0 and not (shutil.which("setpriv") and shutil.which("unshare")):
        pytest.skip("setpriv and unshare (util-linux) are needed to grade as an unprivileged user")
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed")
    uid = GRADER_UID if os.geteuid() == 0 else os.geteuid()
    with _one_nobody_batch():
        return _graded_batch(uid)


def _graded_batch(uid: int) -> dict[str, Any]:
    before = _pids_of(uid)
    work = Path(tempfile.mkdtemp(prefix="ck-nonroot-"))
    os.chmod(work, 0o755)
    try:
        start = time.perf_counter()
        out, log = _run_child(work)
        out["wall"] = time.perf_counter() - start
        out["log"] = log
        for _ in range(20):  # processes that are still exiting get 10 s
            out["left_running"] = sorted(_pids_of(uid) - before)
            if not out["left_running"]:
                break
            time.sleep(0.5)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nnon-root batch of {len(BATCH)} graded in {out.get('seconds', 0):.1f} s "
          f"({out['wall']:.1f} s with the child's start)")
    if "unavailable" in out:
        # this machine forbids unprivileged user namespaces: the refusal must say so clearly
        text = out["unavailable"]
        assert "cannot sandbox student code" in text and "--no-isolation" in text, text
        assert "user namespaces" in text or "namespaces" in text, text
        pytest.skip(f"unprivileged user namespaces are not available here; the grader refused clearly: {text}")
    return out


def test_the_child_graded_as_an_unprivileged_user(batch: dict[str, Any]) -> None:
    assert batch["euid"] != 0, batch["log"]
    assert set(batch["results"]) == set(BATCH)
    assert batch["stored"] == {n: r["score"] for n, r in batch["results"].items()}
    for name, r in batch["results"].items():
        assert r["isolation"] == "bwrap" and r["max_score"] == 5.0, (name, r)


def test_honest_submission_keeps_full_marks_unflagged(batch: dict[str, Any]) -> None:
    r = batch["results"]["honest"]
    assert r["score"] == 5.0 and r["reason"] is None and r["flags"] == [], r


@pytest.mark.parametrize("name", [n for n in BATCH if n != "honest"])
def test_no_cheat_gains_a_point(batch: dict[str, Any], name: str) -> None:
    r = batch["results"][name]
    assert r["score"] <= BATCH[name], r


def test_the_process_limit_holds(batch: dict[str, Any]) -> None:
    printed = batch["results"]["fork_bomb"]["printed"]
    assert f"{MARK} fork refused after" in printed, printed
    assert int(printed.split("refused after")[1].split()[0]) < NPROC, printed


def test_other_files_cannot_be_read_or_written(batch: dict[str, Any]) -> None:
    printed = batch["results"]["peek"]["printed"]
    assert printed.count(f"{MARK} refused") == 8 and f"{MARK} done" not in printed, printed
    assert batch["honest_sha_after"] == batch["honest_sha"]
    caps = [line.split()[-1] for line in printed.splitlines() if line.startswith(f"{MARK} caps")]
    assert caps == ["0000000000000000"], printed
    uid_line = next(line for line in printed.splitlines() if line.startswith(f"{MARK} uid"))
    assert uid_line.split()[2] == str(batch["euid"]), uid_line  # the grader's own uid: no uid switch here


def test_the_mounts_cannot_be_undone(batch: dict[str, Any]) -> None:
    printed = batch["results"]["umount"]["printed"]
    tries = [line for line in printed.splitlines() if "umount2" in line]
    assert len(tries) >= 3 and all(" failed " in line for line in tries), printed
    assert f"{MARK} found 0" in printed, printed
    if sandbox.bwrap_version() >= (0, 8):  # --disable-userns: no nested user namespace either
        assert f"{MARK} unshare failed" in printed, printed


def test_no_sandboxed_process_is_left_running(batch: dict[str, Any]) -> None:
    assert batch["left_running"] == []


# ---------------------------------------------------------------------------
# no unprivileged user namespaces: a clear refusal

#: what bwrap prints (stderr, exit 1) where it cannot create the namespaces, and the words of the advice
BWRAP_FAILURES = {
    "debian-sysctl": ("bwrap: No permissions to creating new namespace, likely because the kernel does not allow "
                      "non-privileged user namespaces. On e.g. debian this can be enabled with "
                      "'sysctl kernel.unprivileged_userns_clone=1'.", "kernel.unprivileged_userns_clone=1"),
    "ubuntu-apparmor": ("bwrap: setting up uid map: Permission denied",
                        "kernel.apparmor_restrict_unprivileged_userns"),
    "max-user-namespaces-0": ("bwrap: Creating new namespace failed: No space left on device",
                              "user.max_user_namespaces"),
}


@pytest.mark.parametrize("case", list(BWRAP_FAILURES))
def test_without_user_namespaces_the_grader_refuses_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             case: str) -> None:
    from coursekit.grading import autograde, make_course_copy
    from coursekit.grading.sandbox import SandboxUnavailable

    line, advice = BWRAP_FAILURES[case]
    stub = tmp_path / "bin" / "bwrap"
    stub.parent.mkdir()
    stub.write_text(f"#!/bin/sh\necho {json.dumps(line)} >&2\nexit 1\n")
    stub.chmod(0o755)
    monkeypatch.setenv("PATH", f"{stub.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(sandbox, "_PROBE", {})
    root = make_course_copy(tmp_path / "course", ["tiny"], source_dir=FIXTURE / "solutions")
    with pytest.raises(SandboxUnavailable) as info:
        autograde(root, "tiny", log=None)
    text = str(info.value)
    assert text.startswith("cannot sandbox student code: bwrap cannot create the sandbox's namespaces"), text
    assert line in text and advice in text and "--no-isolation" in text, text
    assert not sandbox.namespace_available()


if __name__ == "__main__":
    work_dir = Path(sys.argv[1])
    (work_dir / "result.json").write_text(json.dumps(grade_batch(work_dir)))
