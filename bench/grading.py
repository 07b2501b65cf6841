"""Autograding throughput: seconds per submission and wall time for a batch.

Grades N copies of an assignment's reference solution (full marks expected) in a
scratch course with the real pipeline (sandboxed kernels, W parallel workers) and
prints per-submission seconds, the batch wall time and the speed-up over one worker.

    .venv/bin/python bench/grading.py --assignment backprop --submissions 30 --workers 2

Run it from the repository root on an otherwise idle machine: the numbers are
wall-clock times and mean little under load. Quick mode (COURSEKIT_QUICK=1) is set
unless already given, as in CI.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", default="backprop")
    parser.add_argument("--submissions", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cluster", action="append", default=[], metavar="SPEC",
                        help="also grade the same submissions on Dask (local:N, tcp://HOST:8786), in the "
                        "same run, and print them beside the pool; repeat for several")
    parser.add_argument("--rounds", type=int, default=1,
                        help="with --cluster: grade the batch this many times in each mode, interleaved "
                        "(the order rotates each round), and print medians and per-round ratios")
    args = parser.parse_args(argv)
    if args.submissions < 1 or args.workers < 1 or args.rounds < 1:
        parser.error("--submissions, --workers and --rounds must be >= 1")

    os.environ.setdefault("COURSEKIT_QUICK", "1")
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]
    from coursekit.grading import autograde_notebooks, make_course_copy, release

    source = ROOT / "solutions" / args.assignment
    notebooks = sorted(source.glob("*.ipynb"))
    if len(notebooks) != 1:
        parser.error(f"expected one notebook in {source}, found {len(notebooks)}")
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        course = make_course_copy(Path(tmp) / "course", [args.assignment])
        release(course, [args.assignment], log=None)
        subs = {f"student{i:03d}": notebooks[0] for i in range(args.submissions)}
        start = time.perf_counter()
        results = autograde_notebooks(course, args.assignment, subs, workers=args.workers)
        wall = time.perf_counter() - start
    per = [r.seconds for r in results.values()]
    full = sum(r.score == r.max_score for r in results.values())
    print(f"assignment          {args.assignment}")
    print(f"submissions         {len(results)} ({full} with full marks)")
    print(f"workers             {args.workers}")
    print(f"per submission      min {min(per):.1f} s, median {statistics.median(per):.1f} s, max {max(per):.1f} s")
    print(f"batch wall time     {wall:.1f} s ({wall / len(results):.2f} s per submission)")
    print(f"parallel speed-up   {sum(per) / wall:.2f}x over grading one at a time")
    if args.cluster and full == len(results):
        return _bench_clusters(args, notebooks[0], wall, per)
    if full < len(results):
        failures = Counter(
            f"{gid}: {t.message.splitlines()[0][:160] if t.message else 'failed'}"
            for r in results.values() for gid, t in r.tests.items() if not t.passed
        )
        print("not full marks; most common failures (is the data folder set, e.g. COURSEKIT_MNIST_DIR?):")
        for text, count in failures.most_common(5):
            print(f"  {count:3d} x {text}")
    return 0 if full == len(results) else 1


def _grade_once(args: argparse.Namespace, notebook: Path, spec: str | None) -> tuple[float, dict, list[str]]:
    """Grade the batch once in a fresh course: on the pool (``spec`` None) or on ``--cluster spec``."""
    from coursekit.grading import autograde_notebooks, make_course_copy, release

    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        course = make_course_copy(Path(tmp) / "course", [args.assignment])
        release(course, [args.assignment], log=None)
        subs = {f"student{i:03d}": notebook for i in range(args.submissions)}
        lines: list[str] = []
        start = time.perf_counter()
        if spec is None:
            results = autograde_notebooks(course, args.assignment, subs, workers=args.workers)
        else:
            results = autograde_notebooks(course, args.assignment, subs, cluster=spec, log=lines.append)
        return time.perf_counter() - start, results, lines


def _bench_clusters(args: argparse.Namespace, notebook: Path, pool_wall: float, pool_per: list[float]) -> int:
    """Grade the same submissions on the pool and each ``--cluster``, interleaved, and print them side by side.

    Round 1 takes the pool run above and then each cluster; every later round grades
    all modes again in a rotated order, so drift in the machine's speed falls on all
    of them alike. Ratios are taken round by round and their median printed.
    """
    modes: list[str | None] = [None, *args.cluster]
    walls: dict[str | None, list[float]] = {m: [] for m in modes}
    per: dict[str | None, list[float]] = {m: [] for m in modes}
    walls[None].append(pool_wall)
    per[None] += pool_per
    stats: list[str] = []
    bad = 0
    for rnd in range(args.rounds):
        order = modes[1:] if rnd == 0 else modes[rnd % len(modes):] + modes[:rnd % len(modes)]
        for spec in order:
            wall, results, lines = _grade_once(args, notebook, spec)
            bad += sum(r.score != r.max_score for r in results.values())
            walls[spec].append(wall)
            per[spec] += [r.seconds for r in results.values()]
            stats += [f"  {spec}, round {rnd + 1}: {line}" for line in lines if line.startswith("cluster batch:")]
            print(f"round {rnd + 1}: {spec or 'pool'} {wall:.1f} s", flush=True)
    n = args.submissions

    def ratio(a: str | None, b: str | None) -> float:  # median over rounds of wall(b) / wall(a)
        return statistics.median(wb / wa for wa, wb in zip(walls[a], walls[b], strict=True))

    print(f"\n{'same run, ' + str(n) + ' submissions, ' + str(args.rounds) + ' round(s)':40s} {'wall s':>8s} "
          f"{'subs/min':>9s} {'median s/sub':>13s} {'vs pool':>8s} {'vs first cluster':>17s}")
    for spec in modes:
        wall = statistics.median(walls[spec])
        name = f"pool --workers {args.workers}" if spec is None else f"--cluster {spec}"
        first = f"{ratio(spec, modes[1]):16.2f}x" if spec is not None else ""
        print(f"{name:40s} {wall:8.1f} {60 * n / wall:9.1f} {statistics.median(per[spec]):13.1f} "
              f"{ratio(spec, None):7.2f}x {first:>17s}")
    print("(medians over rounds; 'vs' = the other's wall / this one's, round by round; wall times include "
          "starting the cluster and one nbgrader import per worker)")
    print(_scaling(walls, args.workers))
    print("\n".join(stats))
    _projection(max(statistics.median(per[s]) for s in args.cluster), stats)
    return 1 if bad else 0


def _scaling(walls: dict[str | None, list[float]], workers: int) -> str:
    """The throughput ratios, round by round (median): each cluster over the first cluster and over the pool."""
    def name(spec: str | None) -> str:
        return f"pool --workers {workers}" if spec is None else spec

    def ratio(a: str | None, b: str | None) -> float:  # throughput(b) / throughput(a) = wall(a) / wall(b)
        return statistics.median(wa / wb for wa, wb in zip(walls[a], walls[b], strict=True))

    clusters = [s for s in walls if s is not None]
    parts = [f"{name(s)} / {name(clusters[0])} = {ratio(clusters[0], s):.2f}x" for s in clusters[1:]]
    parts += [f"{name(s)} / {name(None)} = {ratio(None, s):.2f}x" for s in clusters]
    return "scaling (submissions per minute, median of per-round ratios): " + "; ".join(parts)


def _projection(cost: float, stats: list[str]) -> None:
    """5,000 submissions on 10 nodes x 32 single-threaded workers, from the measured cost per submission."""
    workers, total = 320, 5000
    rounds = -(-total // workers)
    print(f"\nprojection, {total} submissions on 10 x 32 cores: {rounds} waves x {cost:.1f} s per submission "
          f"(the slowest cluster median above) = {rounds * cost / 60:.1f} min of grading, if every core runs one "
          "worker and the nodes are as fast as this machine")
    pat = (r"\((\d+) kB each\).*client packing (\d+) ms each.*\((\d+) ms each\).*"
           r"less grading\) ([\d.]+) s")
    found = [m for m in (re.search(pat, line) for line in stats) if m]
    if not found:
        return
    kb, pack, ms, over = (statistics.median(float(m.group(i)) for m in found) for i in (1, 2, 3, 4))
    gap = 1000 * cost / workers  # ms between results reaching the client at full speed
    client = pack + ms  # the client packs every task and writes every result, one at a time
    print(f"  bounds: the client packs a task in {pack:.0f} ms and writes a result in {ms:.0f} ms "
          f"({client:.0f} ms per submission, one at a time); {workers} workers deliver a result every "
          f"{gap:.0f} ms, so the client {'IS' if client > gap else 'is not'} the bound "
          f"({total} x {client:.0f} ms = {total * client / 60000:.1f} min, overlapped with grading); "
          f"data sent {total * kb / 1e6:.2f} GB in all ({kb:.0f} kB a task, one way); scheduler, transfer "
          f"and unpacking {over:.2f} s per task here (round trip less grading), paid on the workers in parallel")


if __name__ == "__main__":
    sys.exit(main())
