"""Grading on Dask distributed: one submission = one Dask task, from a laptop to a cluster.

:func:`run_cluster` is the alternative to :func:`coursekit.grading.pool.run_pool`
(same tasks in, same results out) that ``coursekit-grade autograde --cluster``
uses. No scheduler of our own: Dask's runs the tasks, moves the bytes and
reports lost workers; the client only picks which free worker process takes the
next submission (one at a time per process) and counts each submission's deaths.

- **The task carries everything** (:mod:`coursekit.grading.task_bytes`): the
  submission, the source notebook with the hidden tests, the release, the
  course's ``nbgrader_config.py``, a gradebook template without any student,
  and the limits, as one zip archive. The worker rebuilds a private course
  folder from it, grades there with :func:`coursekit.grading.runner.grade_submission`
  (the kernel in the bubblewrap sandbox, the isolated test runner) and returns
  the runner's result plus the graded folder as bytes. Workers need the same
  Python environment (coursekit, nbgrader, bubblewrap), not the course folder.
- **The single writer:** the client alone writes the autograded notebooks, the
  gradebook, the reports and the feedback (``on_result`` is called as each
  result arrives; autograde records it there through one
  :class:`coursekit.grading.writer.GradebookWriter` for the batch, one
  transaction per submission, so a re-run grades only what is missing).
- **Worker loss** (:class:`coursekit.grading.dask_dispatch.Dispatch`): each
  task is pinned to a worker process that holds no other task of the batch, so
  a worker's death is charged to the one submission it was grading, never to one
  queued behind it. That submission is graded again on another worker; when that
  one dies too, it scores 0 with the reason and the batch goes on.
- **Wall limit:** enforced on the worker: at the limit, the kernel's whole
  sandbox is killed and the submission scores 0 with the reason (as the pool does).
- **Progress:** a tqdm bar (done / failed / ETA) and the dashboard link.

Cluster specs (:func:`open_cluster`): ``local:N`` (a LocalCluster of N
single-threaded worker processes), ``tcp://host:8786`` (a running scheduler),
``slurm:jobs=J,cores=C,memory=M[,queue=...,account=...,walltime=...]`` and the
same for ``pbs:`` and ``sge:`` (dask-jobqueue), or a ``distributed.Client``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from coursekit.grading.course import Course
from coursekit.grading.dask_dispatch import Dispatch
from coursekit.grading.task_bytes import (
    gradebook_template,
    pack_folder,
    pack_task,
    unpack_folder,
    unpack_task,
)

#: Seconds grading may go on after the wall limit killed the sandbox before the worker exits.
BACKSTOP = 60.0
#: How long a ``local:N`` cluster waits for a killed worker's restart before dropping it (Dask: 15 s).
LOST_WORKER_TIMEOUT = "600s"
_JOBQUEUE = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster"}
_INSTALL = 'grading on a cluster needs Dask: pip install "coursekit[cluster]"'
_LOCK = threading.Lock()  # one submission at a time per worker process (the runner sets os.environ)


# ---------------------------------------------------------------------------
# the cluster


def _jobqueue_options(kind: str, text: str) -> tuple[int, dict[str, Any]]:
    opts: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not value:
            raise ValueError(f"cannot read {item!r} in --cluster {kind}:...: write key=value, "
                             f"e.g. {kind}:jobs=10,cores=32,memory=128GB")
        opts[key.strip().replace("-", "_")] = value.strip()
    jobs = int(opts.pop("jobs", 1))
    if jobs < 1:
        raise ValueError(f"--cluster {kind}: jobs must be at least 1, got {jobs}")
    for key in ("cores", "processes"):
        if key in opts:
            opts[key] = int(opts[key])
    opts.setdefault("cores", 1)
    opts.setdefault("memory", f"{8 * opts['cores']}GB")
    # one single-threaded worker process per core: one submission per process
    opts.setdefault("processes", opts["cores"])
    return jobs, opts


def parse_cluster(spec: str) -> tuple[str, Any]:
    """Read a ``--cluster`` value: ``("local", N)``, ``("address", URL)`` or ``(kind, (jobs, options))``.

    Raises
    ------
    ValueError
        For anything else, with the accepted forms.
    """
    text = str(spec).strip()
    kind, _, rest = text.partition(":")
    if kind == "local":
        try:
            n = int(rest)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"--cluster {text}: write local:N with N >= 1 worker processes")
        return "local", n
    if kind in ("tcp", "tls", "ucx", "inproc") and rest.startswith("//"):
        return "address", text
    if kind in _JOBQUEUE:
        return kind, _jobqueue_options(kind, rest)
    raise ValueError(f"cannot read --cluster {text!r}: use local:N, tcp://HOST:8786, "
                     "slurm:jobs=J,cores=C,memory=M (or pbs:..., sge:...)")


@contextlib.contextmanager
def open_cluster(spec: Any, log: Callable[[str], None] | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` for ``spec`` (see :func:`parse_cluster`); closed afterwards.

    A ``Client`` passed in is used as it is and left open.
    """
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise RuntimeError(_INSTALL) from None
    if isinstance(spec, Client):
        yield spec
        return
    kind, arg = parse_cluster(spec)
    with contextlib.ExitStack() as stack:
        if kind == "address":
            client = stack.enter_context(Client(arg))
        elif kind == "local":
            # a worker killed mid-batch is restarted by its nanny; on a loaded machine that can
            # take longer than Dask's 15 s, after which the LocalCluster would drop the worker
            stack.enter_context(dask.config.set({"distributed.deploy.lost-worker-timeout": LOST_WORKER_TIMEOUT}))
            cluster = stack.enter_context(LocalCluster(
                n_workers=arg, threads_per_worker=1, processes=True, dashboard_address=":0",
                silence_logs=logging.ERROR))
            client = stack.enter_context(Client(cluster))
        else:
            try:
                import dask_jobqueue
            except ImportError:
                raise RuntimeError(_INSTALL + " (it brings dask-jobqueue)") from None
            jobs, opts = arg
            cluster = stack.enter_context(getattr(dask_jobqueue, _JOBQUEUE[kind])(**opts))
            cluster.scale(jobs=jobs)
            client = stack.enter_context(Client(cluster))
            if log:
                log(f"submitted {jobs} {kind} job(s) of {opts['processes']} worker(s); waiting for "
                    "the first worker (the queue decides when)")
        yield client


def _set_allowed_failures(dask_scheduler: Any, n: int) -> int:
    old = dask_scheduler.allowed_failures
    dask_scheduler.allowed_failures = n
    return old


def _sandbox_problem() -> str | None:
    from coursekit.grading.sandbox import bwrap_problem

    return bwrap_problem()


# ---------------------------------------------------------------------------
# the worker side


def _descendants() -> set[int]:
    import psutil

    return {p.pid for p in psutil.Process().children(recursive=True)}


def _kill(pids: set[int]) -> None:
    import psutil

    for pid in pids:
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).kill()


class _Watchdog:
    """Kills the processes grading started once ``limit`` seconds have passed."""

    def __init__(self, limit: float) -> None:
        self.fired = False
        self._before = _descendants()
        self._timers = [threading.Timer(limit, self._fire)]
        self._timers[0].daemon = True
        self._timers[0].start()

    def _fire(self) -> None:
        self.fired = True
        _kill(_descendants() - self._before)
        # the runner returns as soon as its kernel is gone; if it does not, the worker
        # exits, and Dask counts that against this submission
        backstop = threading.Timer(BACKSTOP, os._exit, args=(70,))
        backstop.daemon = True
        self._timers.append(backstop)
        backstop.start()

    def cancel(self) -> None:
        for timer in self._timers:
            timer.cancel()


def grade_task(data: bytes) -> dict[str, Any]:
    """Grade one packed submission (:func:`coursekit.grading.task_bytes.pack_task`) on a worker.

    Returns
    -------
    dict
        The runner's result (``status``, ``reason``, ``grades``, ``messages``,
        ``seconds``) plus ``autograded`` (the graded folder as zip bytes) and ``host``.
    """
    if not isinstance(data, bytes):
        raise TypeError(f"a grading task is bytes (pack_task), got {type(data).__name__}")
    with _LOCK:
        return _grade(data)


def _grade(data: bytes) -> dict[str, Any]:
    import shutil
    import socket
    import warnings

    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    from coursekit.grading.course import ensure_tools_on_path

    ensure_tools_on_path()
    import nbgrader.apps  # noqa: F401 - the slow import, before the wall limit starts
    from sqlalchemy.exc import SAWarning

    from coursekit.grading.runner import grade_submission
    from coursekit.grading.sandbox import ISOLATED, install_kernelspec

    warnings.simplefilter("ignore", SAWarning)
    tmp = Path(tempfile.mkdtemp(prefix="ck-dask-"))
    try:
        settings = unpack_task(data, tmp)
        course = Course(settings["course"])
        limits = settings["limits"]
        spec = install_kernelspec(course.work_dir, memory=limits["memory"], nproc=limits["nproc"],
                                  fsize=limits["fsize"], isolate=settings["isolation"] == ISOLATED)
        task = {**settings, "kernel_name": spec["kernel_name"], "jupyter_path": spec["jupyter_path"]}
        limit = float(settings["wall_limit"])
        start = time.perf_counter()
        dog = _Watchdog(limit)
        try:
            result = grade_submission(task)
        finally:
            dog.cancel()
        if dog.fired:
            result = {"student": settings["student"], "status": "failed", "messages": {},
                      "reason": f"wall limit hit: still running after {limit:.0f} s, so its "
                      "kernel's whole sandbox was killed; scored 0",
                      "seconds": time.perf_counter() - start}
        else:
            graded = course.autograded_dir / settings["student"] / settings["assignment"]
            result["autograded"] = pack_folder(graded)
        result["notebooks"] = []
        result["host"] = socket.gethostname()
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------
# the client side


def _check_workers(client: Any, tasks: list[Mapping[str, Any]]) -> None:
    from coursekit.grading.sandbox import ISOLATED

    if not any(t.get("isolation") == ISOLATED for t in tasks):
        return
    problems = {addr: why for addr, why in client.run(_sandbox_problem).items() if why}
    if problems:
        addr, why = next(iter(problems.items()))
        raise RuntimeError(f"{len(problems)} worker(s) cannot sandbox student code (e.g. {addr}: "
                           f"{why}); install bubblewrap there, or pass --no-isolation")


def _stats_line(n: int, stats: Mapping[str, Any]) -> str:
    over = sorted(stats["overhead"])
    median = f"{over[len(over) // 2]:.2f} s" if over else "n/a"
    return (f"cluster batch: {n} submission(s); sent {stats['sent'] / 1e6:.2f} MB "
            f"({stats['sent'] / n / 1e3:.0f} kB each), got back {stats['back'] / 1e6:.2f} MB; "
            f"client packing {stats['packing'] / n * 1e3:.0f} ms each; "
            f"client writer {stats['writer']:.2f} s ({stats['writer'] / n * 1e3:.0f} ms each); "
            f"median overhead per task (round trip less grading) {median}")


def run_cluster(
    tasks: list[dict[str, Any]],
    cluster: Any,
    wall_limit: float,
    log: Callable[[str], None] | None,
    *,
    on_result: Callable[[str, dict[str, Any]], None] | None = None,
    progress: bool | None = None,
) -> dict[str, dict[str, Any]]:
    """Grade ``tasks`` (the pool's task dicts) on a Dask cluster; return student -> result.

    Parameters
    ----------
    tasks : list of dict
        As built by :func:`coursekit.grading.autograding.autograde`: ``course``,
        ``assignment``, ``student``, ``timeout``, ``snapshot``, ``uid``, ``limits``, ``isolation``.
    cluster : str or distributed.Client
        ``local:N``, ``tcp://host:8786``, ``slurm:...`` (see :func:`parse_cluster`) or a client.
    wall_limit : float
        Seconds one submission may take on its worker.
    log : callable, optional
        Progress lines (the dashboard link, one line per graded submission).
    on_result : callable, optional
        ``on_result(student, result)``, called in this process as each result arrives.
    progress : bool, optional
        Show the tqdm bar (default: when ``log`` is set).

    Returns
    -------
    dict
        Student -> the runner's result, with ``notebooks`` naming the autograded
        notebooks this process wrote; a reason for every submission that was lost.
    """
    if wall_limit <= 0:
        raise ValueError(f"wall_limit must be positive seconds, got {wall_limit}")
    results: dict[str, dict[str, Any]] = {}
    if not tasks:
        return results
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise RuntimeError(_INSTALL) from None
    from tqdm.auto import tqdm

    course = Course(tasks[0]["course"], timeout=tasks[0].get("timeout"))
    timeout = course.exec_timeout
    with tempfile.TemporaryDirectory(prefix="ck-template-") as tmp, open_cluster(cluster, log) as client:
        template = gradebook_template(tasks[0]["snapshot"], Path(tmp) / "template.db")
        client.wait_for_workers(1)
        _check_workers(client, tasks)
        if log:
            bokeh = importlib.util.find_spec("bokeh") is not None
            log(f"Dask dashboard: {client.dashboard_link}"
                + ("" if bokeh else " (install bokeh to see it)"))
        try:
            old = client.run_on_scheduler(_set_allowed_failures, n=0)
        except Exception as exc:  # noqa: BLE001 - a scheduler without coursekit still grades
            old = None
            if log:
                log(f"could not set the scheduler's allowed-failures to 0 ({exc}); a worker that "
                    "vanishes while it grades a submission is counted as that submission's doing")
        bar = tqdm(total=len(tasks), unit="sub", desc=tasks[0]["assignment"],
                   disable=not (log is not None if progress is None else progress))
        emit = bar.write if log is print else log

        def pack(t: dict[str, Any]) -> bytes:
            return pack_task(course, {
                # the per-cell limit as this machine reads the config (it may read the environment)
                "assignment": t["assignment"], "student": t["student"], "timeout": timeout,
                "limits": t["limits"], "isolation": t["isolation"], "uid": t.get("uid"),
                "wall_limit": wall_limit}, template)

        dispatch = Dispatch(client, grade_task, pack, tasks, charge_vanished=old is None, log=emit)
        failed = 0
        stats: dict[str, Any] = {"sent": 0, "packing": 0.0, "back": 0, "writer": 0.0, "overhead": []}
        try:
            for t, r, trip in dispatch.results():
                student = t["student"]
                if r.get("host"):  # scheduler, transfer, unpacking: the round trip less the grading
                    stats["overhead"].append(trip - float(r.get("seconds") or 0.0))
                data = r.pop("autograded", None)
                tic = time.perf_counter()
                if data is not None:
                    stats["back"] += len(data)
                    dest = course.autograded_dir / student / t["assignment"]
                    r["notebooks"] = [str(p) for p in unpack_folder(data, dest) if p.suffix == ".ipynb"]
                results[student] = r
                failed += r.get("status") != "ok"
                bar.update(1)
                bar.set_postfix(done=len(results), failed=failed)
                if emit:
                    emit(f"[{len(results)}/{len(tasks)}] graded {student} in {r.get('seconds', 0):.1f} s"
                         f" on {r['worker']}" + (f" ({r['reason']})" if r.get("reason") else ""))
                if on_result:
                    on_result(student, r)
                stats["writer"] += time.perf_counter() - tic
        finally:
            bar.close()
            stats["sent"], stats["packing"] = dispatch.sent, dispatch.packing
            if log and results:
                log(_stats_line(len(results), stats))
            dispatch.cancel()
            if old is not None:
                with contextlib.suppress(Exception):
                    client.run_on_scheduler(_set_allowed_failures, n=old)
    return results
