"""Hand grading tasks to Dask workers so that a worker's death is charged to the right submission.

Dask's scheduler charges a worker's death to every task assigned to that worker
(``Scheduler.remove_worker`` raises ``suspicious`` for all of ``WorkerState.processing``),
including tasks queued there behind the one it was running. Its scheduler-side
queuing (``distributed.scheduler.worker-saturation``) would keep queued tasks off
the workers, but only for root-ish tasks (``Scheduler.is_rootish``: a task group
larger than twice the cluster's threads, or tasks marked as data producers), which
a small batch or a bounded window of individually submitted tasks is not. So the
guarantee is built here instead: one task per worker process, pinned to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

#: Deaths of its grading worker after which a submission scores 0 (it is graded again before that).
MAX_DEATHS = 2
#: Seconds between looks at the workers while waiting for results.
POLL = 0.5
#: Seconds a worker may be gone with its task neither done nor failed before the task is taken back.
GRACE = 5.0
#: Seconds without any worker, mid-batch, after which the batch stops with what it graded.
NO_WORKERS = 600.0


def _failed(student: str, exc: BaseException) -> dict[str, Any]:
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    reason = f"autograding failed on the worker: {type(exc).__name__}: {first}".rstrip(": ")
    return {"student": student, "status": "failed", "messages": {}, "reason": reason, "seconds": 0.0}


class Dispatch:
    """One submission per worker process, pinned there, so a worker's death is charged to it alone.

    Dask charges a worker's death to every task assigned to that worker, queued ones
    included. Here each task is submitted with ``workers=[address]`` and
    ``allow_other_workers=False`` to a worker that holds no other task of the batch,
    so the one task a dead worker held is the one it was grading. The scheduler's
    ``allowed-failures`` is 0 for the batch: the first death fails the task with
    ``KilledWorker``, and this class counts deaths per submission, grades it again on
    another worker after the first and scores it 0 after :data:`MAX_DEATHS`.
    """

    def __init__(self, client: Any, fn: Callable[[bytes], dict[str, Any]],
                 pack: Callable[[dict[str, Any]], bytes], tasks: list[dict[str, Any]],
                 *, charge_vanished: bool, log: Callable[[str], None] | None = None) -> None:
        if not callable(fn) or not callable(pack):
            raise TypeError("Dispatch needs the worker function fn(bytes) and pack(task) -> bytes")
        self.client, self.fn, self.pack, self.log = client, fn, pack, log
        self.pending: deque[dict[str, Any]] = deque(tasks)
        self.inflight: dict[Any, tuple[dict[str, Any], str, float]] = {}
        self.deaths: dict[str, list[str]] = {}
        self.missing: dict[Any, float] = {}
        # a scheduler that kept its own allowed-failures reruns a pinned task nowhere:
        # a worker that vanishes under it is then counted as a death
        self.charge_vanished = charge_vanished
        self.sent = 0  # bytes of the packed tasks
        self.idle_since: float | None = None  # when the cluster last had no worker at all
        self.packing = 0.0  # seconds this process spent packing them

    def _fill(self) -> set[str]:
        workers = set(self.client.nthreads())
        busy = {addr for _, addr, _ in self.inflight.values()}
        for addr in sorted(workers - busy):
            # not again on an address where its worker died, unless no other worker is there
            t = next((t for t in self.pending if addr not in self.deaths.get(t["student"], ())), None)
            t = t or next((t for t in self.pending if workers <= set(self.deaths.get(t["student"], ()))), None)
            if t is None:
                continue
            self.pending.remove(t)
            tic = time.perf_counter()
            data = self.pack(t)
            self.packing += time.perf_counter() - tic
            fut = self.client.submit(self.fn, data, key=f"grade-{t['student']}-{uuid.uuid4().hex[:8]}",
                                     pure=False, workers=[addr], allow_other_workers=False)
            self.sent += len(data)
            self.inflight[fut] = (t, addr, time.perf_counter())
        return workers

    def _died(self, t: dict[str, Any], addr: str) -> dict[str, Any] | None:
        student = t["student"]
        where = self.deaths.setdefault(student, [])
        where.append(addr)
        if len(where) < MAX_DEATHS:
            self.pending.appendleft(t)
            if self.log:
                self.log(f"the worker grading {student} died ({addr}); grading it again on another worker")
            return None
        return {"student": student, "status": "failed", "messages": {}, "seconds": 0.0,
                "reason": f"killed its grading worker twice: the worker grading it died each time "
                          f"({', '.join(where)}); scored 0"}

    def _vanished(self, workers: set[str]) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
        now = time.monotonic()
        for fut, (t, addr, _) in list(self.inflight.items()):
            if addr in workers or fut.done():
                self.missing.pop(fut, None)
                continue
            if now - self.missing.setdefault(fut, now) < GRACE:
                continue
            del self.inflight[fut], self.missing[fut]
            fut.cancel()
            if self.charge_vanished:
                yield t, self._died(t, addr)
            else:  # it left gracefully (retired, scaled down): not the submission's doing
                self.pending.appendleft(t)

    def results(self) -> Iterator[tuple[dict[str, Any], dict[str, Any], float]]:
        """Yield ``(task, result, seconds since it was submitted)`` once per submission."""
        from distributed import KilledWorker, wait

        while self.pending or self.inflight:
            workers = self._fill()
            if self.inflight:
                with contextlib.suppress(TimeoutError):
                    wait(list(self.inflight), timeout=POLL, return_when="FIRST_COMPLETED")
            else:  # no worker right now (restarting, or still in the batch queue)
                self._no_workers(workers)
                time.sleep(POLL)
            for fut in [f for f in self.inflight if f.done()]:
                t, addr, t0 = self.inflight.pop(fut)
                self.missing.pop(fut, None)
                try:
                    r: dict[str, Any] | None = fut.result()
                except KilledWorker:
                    r = self._died(t, addr)
                except (Exception, asyncio.CancelledError) as exc:  # noqa: BLE001 - reported
                    r = _failed(t["student"], exc)
                fut.release()
                if r is not None:
                    r.setdefault("worker", addr)
                    yield t, r, time.perf_counter() - t0
            for t, r in self._vanished(workers):
                if r is not None:
                    yield t, r, 0.0

    def _no_workers(self, workers: set[str]) -> None:
        if workers:
            self.idle_since = None
            return
        now = time.monotonic()
        self.idle_since = self.idle_since or now
        if now - self.idle_since > NO_WORKERS:
            raise RuntimeError(f"no Dask worker for {NO_WORKERS:.0f} s with {len(self.pending)} submission(s) "
                               "left to grade; what was graded is recorded: start workers and run the same "
                               "command again to grade the rest")

    def cancel(self) -> None:
        for fut in self.inflight:
            fut.cancel()
