"""Grading on Dask distributed (issue 15): the same scores as the local pool, no lost work.

One LocalCluster of 2 single-threaded worker processes serves the module. It
grades reference, planted-bug and hostile submissions of the ``tiny`` fixture
assignment; the local pool grades the same ones (both from copies of one
released course). While the cluster grades, a watcher plays a submission that
kills its worker: it kills the worker grading ``doomed`` each time it sees it
there (twice), and the worker grading one other submission once. Honest
submissions are queued in the same batch (graded before, between or after the
kills, as Dask schedules them); each must get the pool's score with no reason,
the killed-once one graded elsewhere, ``doomed`` 0 with the reason, and no
killed worker may have held any task but the one it was killed for.
Then the LocalCluster's own workers are retired and a worker started in a
mount namespace where the course folder is an empty tmpfs grades the
submissions whose reports were deleted: the re-run grades only those, and the
task carries everything.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from coursekit.grading import autograde_notebooks, make_course_copy
from coursekit.grading.autograding import autograde, ensure_released
from coursekit.grading.course import Course
from coursekit.grading.sandbox import namespace_available

distributed = pytest.importorskip("distributed", reason="the cluster extra is not installed")

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "grading"
sys.path.insert(0, str(FIXTURE))
import hostile as H  # noqa: E402
import submissions as S  # noqa: E402

pytestmark = pytest.mark.timeout(1800)  # CI: about a minute; loaded machines: much more
needs_bwrap = pytest.mark.skipif(not namespace_available(), reason="bubblewrap cannot create namespaces here")
TIMEOUT = 10  # per cell
WALL = 120  # per submission
LIMITS = {"timeout": TIMEOUT, "wall_limit": WALL, "memory": "2G", "nproc": 64}
#: reference, planted bugs, hostile: graded by the pool and by the cluster
BATCH = {"ref": S.correct, "bug_mean": S.wrong_mean, "bug_square": S.wrong_square_negative,
         "hook": S.cheat_hook, "kill_all": H.kill_everything, "dies": S.kernel_killed}
KILLED_ONCE = "bug_square"  # its worker is killed once: graded again elsewhere
DOOMED = "doomed"  # a reference solution whose worker is killed each time it runs
HONEST = {"ref_b": S.correct}  # graded by the cluster only, after doomed: waiting while it kills


def _write(folder: Path, release: dict[str, Any], names: dict[str, Any], course: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, build in names.items():
        paths[name] = folder / f"{name}.ipynb"
        paths[name].write_text(build(release, course=str(course), nap=1, targets=""))
    return paths


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One released ``tiny`` course for the module; each user works on a copy."""
    root = make_course_copy(tmp_path_factory.mktemp("released") / "course", ["tiny"],
                            source_dir=FIXTURE / "solutions")
    ensure_released(Course(root), "tiny")
    return root


def _course(released: Path, tmp: Path) -> tuple[Path, dict[str, Any]]:
    root = Path(shutil.copytree(released, tmp / "course"))
    return root, json.loads((Course(root).release_dir / "tiny" / "tiny.ipynb").read_text())


def _student(key: str) -> str:
    return key[len("grade-"):-9]  # grade-<student>-<8 hex>


class Killer(threading.Thread):
    """Kills the worker process that grades a student, ``plan[student]`` times.

    ``kills`` holds ``(student, worker, students that worker held)`` per kill.
    """

    def __init__(self, client: Any, plan: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.client, self.plan = client, dict(plan)
        self.kills: list[tuple[str, str, list[str]]] = []
        self.done = threading.Event()

    def run(self) -> None:
        seen: dict[tuple[str, str], float] = {}
        while not self.done.is_set():
            try:
                processing = self.client.processing()
            except Exception:  # noqa: BLE001 - the cluster is closing
                return
            for addr, keys in processing.items():
                for key in keys:
                    student = _student(str(key))
                    if self.plan.get(student, 0) <= 0:
                        continue
                    # assigned there half a second ago: grading (or, if the scheduler had
                    # queued it behind another task, charging that one too: see the asserts)
                    if time.monotonic() - seen.setdefault((str(key), addr), time.monotonic()) < 0.5:
                        continue
                    try:
                        pid = self.client.run(os.getpid, workers=[addr]).get(addr)
                        os.kill(pid, signal.SIGKILL)
                    except Exception:  # noqa: BLE001 - that worker is already gone
                        continue
                    self.plan[student] -= 1
                    self.kills.append((student, addr, [_student(str(k)) for k in keys]))
            time.sleep(0.3)


@pytest.fixture(scope="module")
def pool(released: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("pool")
    root, release = _course(released, tmp)
    paths = _write(tmp / "subs", release, BATCH, root)
    return autograde_notebooks(root, "tiny", paths, workers=2, **LIMITS)


@pytest.fixture(scope="module")
def local_cluster() -> Any:
    """The module's one LocalCluster (2 one-thread worker processes) and its client."""
    import dask
    from distributed import Client, LocalCluster

    from coursekit.grading.distributed import LOST_WORKER_TIMEOUT

    # keep a killed worker's slot while its nanny restarts it, however loaded the machine
    with dask.config.set({"distributed.deploy.lost-worker-timeout": LOST_WORKER_TIMEOUT}), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                         silence_logs=40) as lc, Client(lc) as client:
        yield lc, client


@pytest.fixture(scope="module")
def cluster(released: Path, local_cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    _, client = local_cluster
    tmp = tmp_path_factory.mktemp("cluster")
    root, release = _course(released, tmp)
    paths = _write(tmp / "subs", release, {**BATCH, DOOMED: S.correct, **HONEST}, root)
    lines: list[str] = []

    killer = Killer(client, {KILLED_ONCE: 1, DOOMED: 2})
    killer.start()
    try:
        results = autograde_notebooks(root, "tiny", paths, cluster=client, log=lines.append, **LIMITS)
    finally:
        killer.done.set()
        killer.join(10)
    return {"root": root, "results": results, "kills": killer.kills, "log": lines}


@needs_bwrap
def test_the_cluster_gives_exactly_the_pools_scores(pool: dict[str, Any], cluster: dict[str, Any]) -> None:
    res = cluster["results"]
    assert set(res) == set(BATCH) | {DOOMED} | set(HONEST)
    for name in BATCH:
        mine, theirs = res[name], pool[name]
        assert (mine.score, mine.max_score) == (theirs.score, theirs.max_score), f"{mine}\n--- pool:\n{theirs}"
        assert {g: (t.score, t.message) for g, t in mine.tests.items()} == {
            g: (t.score, t.message) for g, t in theirs.tests.items()}, name
        assert mine.reason == theirs.reason, name
        assert mine.isolation == theirs.isolation == "bwrap"
    assert pool["ref"].score == 5.0 and pool["bug_mean"].score == 3.0 and pool["hook"].score == 0.0


@needs_bwrap
def test_the_client_wrote_the_graded_notebooks_and_reports(cluster: dict[str, Any]) -> None:
    course = Course(cluster["root"])
    for name in BATCH:
        report = json.loads(course.report_path("tiny", name).read_text())
        assert report["score"] == cluster["results"][name].score
    graded = cluster["results"]["ref"].notebooks
    assert graded == [str(course.autograded_dir / "ref" / "tiny" / "tiny.ipynb")]
    assert json.loads(Path(graded[0]).read_text())["cells"], "the graded notebook came back"


@needs_bwrap
def test_a_killed_worker_loses_nothing(pool: dict[str, Any], cluster: dict[str, Any]) -> None:
    assert [s for s, _, _ in cluster["kills"]].count(KILLED_ONCE) == 1, cluster["kills"]
    r = cluster["results"][KILLED_ONCE]
    assert r.score == pool[KILLED_ONCE].score == 3.0 and r.reason is None, str(r)
    assert any(f"the worker grading {KILLED_ONCE} died" in line for line in cluster["log"]), cluster["log"]


@needs_bwrap
def test_a_submission_that_kills_its_worker_twice_scores_0_and_only_it(cluster: dict[str, Any]) -> None:
    kills = cluster["kills"]
    assert [s for s, _, _ in kills].count(DOOMED) == 2, kills
    # the blame: a dead worker held the one submission it was grading, nothing queued behind it
    assert all(held == [student] for student, _, held in kills), kills
    r = cluster["results"][DOOMED]
    assert (r.score, r.max_score) == (0.0, 5.0), str(r)
    assert r.reason and "killed its grading worker twice" in r.reason, str(r)
    # No assertion on *when* the honest submissions were graded relative to the kills: that is
    # Dask's scheduling and the grader's speed (a faster runner graded ref_b before doomed's second
    # kill). What must hold whatever the order: nothing against them, and no killed worker held them.
    assert not any(name in held for _, _, held in kills for name in HONEST), kills
    for name in ("ref", *HONEST):  # honest: full marks, nothing against them
        h = cluster["results"][name]
        assert (h.score, h.max_score, h.reason, h.flags) == (5.0, 5.0, None, []), str(h)
    for name in ("bug_mean", KILLED_ONCE):
        assert cluster["results"][name].reason is None, str(cluster["results"][name])
    assert any("Dask dashboard: http" in line for line in cluster["log"]), cluster["log"][:3]


def test_the_worker_watchdog_kills_what_grading_started_at_the_wall_limit() -> None:
    from coursekit.grading.distributed import _Watchdog

    dog = _Watchdog(1.0)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert child.wait(timeout=30) == -signal.SIGKILL
        assert dog.fired
    finally:
        dog.cancel()
        child.kill()


@needs_bwrap
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="hiding the course folder needs root and unshare")
def test_a_worker_without_the_course_folder_grades_what_is_missing(
        pool: dict[str, Any], cluster: dict[str, Any], local_cluster: Any, tmp_path: Path) -> None:
    lc, client = local_cluster
    root = cluster["root"]
    course = Course(root)
    missing = ["ref", "bug_mean"]
    for name in missing:
        course.report_path("tiny", name).unlink()
    hidden = root.parent  # the course and the submissions: an empty tmpfs for the worker
    script = ('mount -t tmpfs tmpfs "$1" && cd "$2" && exec "$3" -m distributed.cli.dask_worker "$4" '
              "--nthreads 1 --nworkers 1 --no-dashboard")
    lc.scale(0)  # the module's cluster, its own workers retired: only the hidden-folder worker
    deadline = time.monotonic() + 120
    while client.nthreads() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not client.nthreads(), client.nthreads()
    worker = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(hidden),
         str(tmp_path), sys.executable, lc.scheduler_address], start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client.wait_for_workers(1, timeout=300)
        assert list(client.run(os.path.exists, str(root / "nbgrader_config.py")).values()) == [False]
        lines: list[str] = []
        res = autograde(root, "tiny", cluster=client, log=lines.append, **LIMITS)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(30)
    graded = [line.split()[2] for line in lines if " graded " in line and line.startswith("[")]
    assert sorted(graded) == sorted(missing), lines
    for name in missing:
        assert res[name].score == pool[name].score, str(res[name])
        assert {g: t.score for g, t in res[name].tests.items()} == {
            g: t.score for g, t in pool[name].tests.items()}


def test_parse_cluster_reads_local_an_address_and_slurm() -> None:
    from coursekit.grading.distributed import parse_cluster

    assert parse_cluster("local:3") == ("local", 3)
    assert parse_cluster("tcp://sched.example:8786") == ("address", "tcp://sched.example:8786")
    kind, (jobs, opts) = parse_cluster("slurm:jobs=10,cores=32,memory=128GB,queue=normal")
    assert (kind, jobs) == ("slurm", 10)
    assert opts == {"cores": 32, "processes": 32, "memory": "128GB", "queue": "normal"}
    for bad, why in (("local:0", "local:N"), ("mesos:1", "cannot read"), ("slurm:cores", "key=value")):
        with pytest.raises(ValueError, match=why):
            parse_cluster(bad)


def test_a_task_carries_the_course_and_no_other_student(released: Path, tmp_path: Path) -> None:
    from coursekit.grading.collecting import collect
    from coursekit.grading.task_bytes import gradebook_template, pack_task, unpack_task
    from coursekit.grading.writer import snapshot

    root, release = _course(released, tmp_path)
    course = Course(root)
    _write(tmp_path / "incoming" / "alice", release, {"tiny": S.correct}, root)
    collect(root, "tiny", tmp_path / "incoming", log=None)
    with course.gradebook() as gb:  # a classmate with a graded submission
        gb.add_student("bob")
        gb.add_submission("tiny", "bob")
    template = gradebook_template(snapshot(course, tmp_path / "snap.db"), tmp_path / "template.db")
    con = sqlite3.connect(template)
    assert con.execute("SELECT count(*) FROM student").fetchone() == (0,)
    assert con.execute("SELECT name FROM assignment").fetchall() == [("tiny",)]
    con.close()
    settings = {"assignment": "tiny", "student": "alice", "timeout": 10, "isolation": "bwrap", "uid": None,
                "limits": {"memory": 2**31, "nproc": 64, "fsize": 2**20}, "wall_limit": 60.0}
    data = pack_task(course, settings, template)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for name in zf.namelist():  # no path of this machine travels: the worker needs none
            assert str(root).encode() not in zf.read(name), name
    got = unpack_task(data, tmp_path / "worker")
    rebuilt = Course(got["course"])
    assert {k: got[k] for k in settings} == settings
    for rel in ("solutions/tiny/tiny.ipynb", "assignments/tiny/tiny.ipynb", "submitted/alice/tiny/tiny.ipynb",
                "nbgrader_config.py"):
        assert (rebuilt.root / rel).read_bytes() == (root / rel).read_bytes(), rel
    assert rebuilt.students("tiny") == ["alice"] and Path(got["snapshot"]).is_file()


def test_the_client_shows_done_failed_and_eta_and_the_dashboard_link(
        released: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The progress bar and the log of :func:`run_cluster`, with Dask's side stood in for (nothing graded)."""
    import contextlib

    from coursekit.grading import distributed as D

    class FakeClient:
        dashboard_link = "http://scheduler.example:8787/status"

        def wait_for_workers(self, n: int) -> None:
            pass

        def run_on_scheduler(self, fn: Any, n: int) -> int:
            return 3

    class FakeDispatch:  # what Dispatch yields: (task, result, round trip)
        sent, packing = 2000, 0.02

        def __init__(self, client: Any, fn: Any, pack: Any, tasks: list[dict[str, Any]], **_: Any) -> None:
            self.tasks = tasks

        def results(self) -> Any:
            for t, status in zip(self.tasks, ("ok", "failed"), strict=True):
                time.sleep(0.2)
                yield t, {"student": t["student"], "status": status, "seconds": 1.0, "host": "node1",
                          "worker": "tcp://node1:1", "messages": {},
                          "reason": None if status == "ok" else "killed its grading worker twice"}, 1.5

        def cancel(self) -> None:
            pass

    monkeypatch.setattr(D, "open_cluster", lambda spec, log=None: contextlib.nullcontext(FakeClient()))
    monkeypatch.setattr(D, "Dispatch", FakeDispatch)
    monkeypatch.setattr(D, "gradebook_template", lambda snap, dest: dest)
    tasks = [{"course": str(released), "assignment": "tiny", "student": s, "timeout": TIMEOUT,
              "snapshot": "unused.db", "limits": {}, "isolation": "none"} for s in ("s1", "s2")]
    lines: list[str] = []
    got = D.run_cluster(tasks, "local:2", WALL, lines.append, progress=True)
    err = capsys.readouterr().err
    assert sorted(got) == ["s1", "s2"]
    assert "Dask dashboard: http://scheduler.example:8787/status" in lines[0], lines
    assert any(line.startswith("[2/2] graded s2") and "twice" in line for line in lines), lines
    assert any(line.startswith("cluster batch: 2 submission(s)") for line in lines), lines
    # tqdm: done/total, elapsed<remaining (the ETA), and the done/failed counts
    assert "2/2" in err and "done=2" in err and "failed=1" in err, err
    assert re.search(r"\d\d:\d\d<\d\d:\d\d", err), err
