"""Execute the notebook sequence headless: rendered HTML plus a summary table.

This is the course's main job (``make course``)::

    python -m coursekit.runner notebooks --out build/course [--quick] [--only 05] [--jobs 2]

Every notebook runs top to bottom in a fresh kernel; the executed copy and an
HTML rendering go to ``--out``, and ``summary.md`` lists notebook, status,
seconds and the key metric that the notebook reported with
:func:`coursekit.report_metric` (``summary.json`` has the same plus the seconds
of every cell). A failing notebook is recorded and the run goes on; the exit
status is 1 if any notebook failed.

``--jobs 2`` runs two notebooks at once, each kernel limited to one BLAS and
one TensorFlow thread (the longest notebooks of the previous run start first).

``--seeds 0 1 2 --modes full quick`` (``make verify``) runs the sequence once
per seed (``COURSEKIT_SEED``) and mode and prints one table: notebook x seed x
mode, status, seconds, key metric.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from coursekit.env import METRIC_MIME

if TYPE_CHECKING:  # pragma: no cover
    from traitlets.config import Config

# One thread per kernel when notebooks run side by side (numpy's BLAS, TensorFlow's pools).
SINGLE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
}
MODES = ("full", "quick")


@dataclass
class NotebookResult:
    """Outcome of one executed notebook (``cells``: (cell id, seconds) in notebook order)."""

    name: str
    status: str  # "ok" or "FAILED"
    seconds: float
    metric: str = ""
    error: str = ""
    html: str = ""
    cells: list[tuple[str, float]] = field(default_factory=list)
    cpu_seconds: float = 0.0  # CPU time of the kernel (user + system), less sensitive to load


def _kernel_env(quick: bool | None, *, seed: int | None = None, threads: int | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["COURSEKIT_HEADLESS"] = "1"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("PYTHONHASHSEED", "0")
    env.pop("MPLBACKEND", None)  # keep the inline backend: figures belong in the HTML
    if quick is not None:
        env["COURSEKIT_QUICK"] = "1" if quick else "0"
    if seed is not None:
        env["COURSEKIT_SEED"] = str(int(seed))
    if threads == 1:
        env.update(SINGLE_THREAD_ENV)
    return env


def find_metric(nb) -> str:
    """Return the text of the last key metric a notebook reported, or ''."""
    found = ""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if METRIC_MIME in data:
                payload = data[METRIC_MIME]
                if isinstance(payload, str):
                    payload = json.loads(payload)
                found = payload.get("text", "")
    return found


def cell_seconds(nb) -> list[tuple[str, float]]:
    """(cell id, seconds) of every executed code cell, from nbclient's timing metadata."""
    out = []
    for i, cell in enumerate(nb.cells):
        timing = cell.get("metadata", {}).get("execution", {})
        start = timing.get("iopub.execute_input") or timing.get("iopub.status.busy")
        end = timing.get("shell.execute_reply") or timing.get("iopub.status.idle")
        if cell.get("cell_type") != "code" or not (start and end):
            continue
        seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
        out.append((str(cell.get("id") or f"cell-{i}"), max(seconds, 0.0)))
    return out


def _first_error(nb) -> str:
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return f"{out.get('ename')}: {out.get('evalue')}"[:300]
    return ""


def run_notebook(
    path: Path, out_dir: Path, *, timeout: int, quick: bool | None,
    seed: int | None = None, threads: int | None = None, allow_errors: bool = False,
) -> NotebookResult:
    """Execute one notebook in its own folder; write the executed copy and HTML to ``out_dir``.

    ``seed`` sets ``COURSEKIT_SEED`` in the kernel; ``threads=1`` limits the kernel to one
    BLAS / TensorFlow thread. ``allow_errors=True`` (timing on a stand-in, whose accuracies
    mean nothing) runs every cell even after one raises; the status is then ``ERRORS``.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, DeadKernelError
    from nbconvert import HTMLExporter

    nb = nbformat.read(path, as_version=4)
    sockets = tempfile.TemporaryDirectory(prefix="ck-kernel-")
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        config=_transport_config(sockets.name),
        allow_errors=allow_errors,
    )
    start, cpu_start = time.perf_counter(), _children_cpu()
    status, error = "ok", ""
    try:
        client.execute(env=_kernel_env(quick, seed=seed, threads=threads))
    except CellExecutionError as exc:
        status, error = "FAILED", _first_error(nb) or str(exc).splitlines()[-1][:300]
    except (DeadKernelError, TimeoutError, RuntimeError) as exc:
        status, error = "FAILED", f"{type(exc).__name__}: {str(exc)[:300]}"
    finally:
        sockets.cleanup()
    if status == "ok" and (first := _first_error(nb)):
        status, error = "ERRORS", first
    seconds, cpu = time.perf_counter() - start, _children_cpu() - cpu_start  # the kernel was reaped
    out_dir.mkdir(parents=True, exist_ok=True)
    _atomic_write(out_dir / path.name, nbformat.writes(nb))
    body, _ = HTMLExporter().from_notebook_node(nb)
    html_path = out_dir / (path.stem + ".html")
    _atomic_write(html_path, body)
    return NotebookResult(path.stem, status, seconds, find_metric(nb), error, html_path.name,
                          cell_seconds(nb), cpu)


def _transport_config(folder: str) -> Config:
    """Kernel configuration: on POSIX, Unix sockets in ``folder`` instead of TCP ports.

    The kernel only talks to this process, so no port is opened, and ipykernel no longer
    prints "Kernel is running over TCP without encryption" for every notebook (the grading
    sandbox's kernels use the same transport).
    """
    from traitlets.config import Config as _Config

    config = _Config()
    if os.name == "posix":
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = os.path.join(folder, "kernel")
    return config


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def summary_markdown(results: list[NotebookResult], wall: float | None = None) -> str:
    """Render results as a Markdown table (``wall``: the run's wall time, if known)."""
    lines = ["| notebook | status | seconds | key metric |", "| --- | --- | ---: | --- |"]
    for r in results:
        detail = r.metric or (r.error and f"error: {r.error}") or ""
        lines.append(f"| {r.name} | {r.status} | {r.seconds:.1f} | {detail.replace('|', '/')} |")
    total = sum(r.seconds for r in results)
    failed = sum(r.status != "ok" for r in results)
    lines.append("")
    lines.append(f"{len(results) - failed} of {len(results)} notebooks ran ok in {total:.0f} s"
                 + (f" ({wall:.0f} s wall time)." if wall is not None else "."))
    return "\n".join(lines)


def _index_html(results: list[NotebookResult]) -> str:
    rows = "\n".join(
        f"<tr><td><a href='{html.escape(r.html)}'>{html.escape(r.name)}</a></td>"
        f"<td>{r.status}</td><td>{r.seconds:.1f}</td>"
        f"<td>{html.escape(r.metric or r.error)}</td></tr>"
        for r in results
    )
    return (
        "<!doctype html><meta charset='utf-8'><title>Introduction to Deep Learning</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "td,th{padding:.3em .8em;border-bottom:1px solid #ddd}</style>"
        "<h1>Introduction to Deep Learning: executed notebooks</h1>"
        f"<table><tr><th>notebook</th><th>status</th><th>seconds</th><th>key metric</th></tr>{rows}</table>"
    )


def select_notebooks(folder: Path, only: list[str] | None = None) -> list[Path]:
    """The ``*.ipynb`` files of ``folder`` in name order (only names containing one of ``only``)."""
    notebooks = sorted(p for p in Path(folder).glob("*.ipynb") if not p.name.startswith("."))
    if only:
        notebooks = [p for p in notebooks if any(key in p.name for key in only)]
    if not notebooks:
        raise FileNotFoundError(f"no notebooks to run in {folder}" + (f" matching {only}" if only else ""))
    return notebooks


def _previous_seconds(out_dir: Path) -> dict[str, float]:
    try:
        rows = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
        return {r["name"]: float(r["seconds"]) for r in rows}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def run_all(
    folder: Path, out_dir: Path, *, timeout: int = 1800, quick: bool | None = None,
    only: list[str] | None = None, jobs: int = 1, seed: int | None = None,
    allow_errors: bool = False,
) -> list[NotebookResult]:
    """Execute every ``*.ipynb`` in ``folder`` (optionally only names containing one of ``only``).

    ``jobs`` > 1 runs that many notebooks at once, one thread each, longest (by the
    previous run's ``summary.json``) first; results come back in name order.
    ``allow_errors`` is passed to :func:`run_notebook`.
    """
    if int(jobs) < 1:
        raise ValueError(f"run_all: jobs must be >= 1, got {jobs!r}")
    notebooks = select_notebooks(folder, only)
    out_dir = Path(out_dir)
    start = time.perf_counter()
    results: dict[str, NotebookResult] = {}

    def done(result: NotebookResult) -> None:
        print(f"[course]   {result.name}: {result.status} in {result.seconds:.1f} s "
              f"{result.metric or result.error}", flush=True)
        results[result.name] = result

    if jobs == 1:
        for path in notebooks:
            print(f"[course] running {path.name} ...", flush=True)
            done(run_notebook(path, out_dir, timeout=timeout, quick=quick, seed=seed,
                              allow_errors=allow_errors))
    else:
        previous = _previous_seconds(out_dir)
        order = sorted(notebooks, key=lambda p: -previous.get(p.stem, 0.0))
        print(f"[course] running {len(order)} notebooks, {jobs} at a time, one thread each ...", flush=True)
        with ProcessPoolExecutor(max_workers=int(jobs)) as pool:
            futures = [pool.submit(run_notebook, p, out_dir, timeout=timeout, quick=quick,
                                   seed=seed, threads=1, allow_errors=allow_errors) for p in order]
            for fut in futures:
                done(fut.result())
    wall = time.perf_counter() - start
    ordered = [results[p.stem] for p in notebooks]
    _atomic_write(out_dir / "summary.md", summary_markdown(ordered, wall) + "\n")
    _atomic_write(out_dir / "summary.json", json.dumps([asdict(r) for r in ordered], indent=1) + "\n")
    _atomic_write(out_dir / "index.html", _index_html(ordered))
    return ordered


def run_matrix(
    folder: Path, out_dir: Path, *, seeds: list[int], modes: list[str], timeout: int = 1800,
    only: list[str] | None = None, jobs: int = 1,
) -> list[tuple[int, str, NotebookResult]]:
    """Run the sequence once per seed and mode (``make verify``); return (seed, mode, result) rows.

    Each run writes to ``out_dir/seed<S>-<mode>/``; ``out_dir/verify.md`` holds the table.
    """
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise ValueError(f"run_matrix: modes must be some of {MODES}, got {modes!r}")
    if not seeds or any(int(s) < 0 for s in seeds):
        raise ValueError(f"run_matrix: seeds must be non-negative integers, got {seeds!r}")
    rows = []
    for mode in modes:
        for s in seeds:
            print(f"[verify] seed {s}, {mode} mode", flush=True)
            for r in run_all(folder, Path(out_dir) / f"seed{s}-{mode}", timeout=timeout,
                             quick=mode == "quick", only=only, jobs=jobs, seed=int(s)):
                rows.append((int(s), mode, r))
            _atomic_write(Path(out_dir) / "verify.md", matrix_markdown(rows) + "\n")  # so far
    return rows


def matrix_markdown(rows: list[tuple[int, str, NotebookResult]]) -> str:
    """One table: notebook x seed x mode, status, seconds, key metric."""
    lines = ["| notebook | seed | mode | status | seconds | key metric |",
             "| --- | ---: | --- | --- | ---: | --- |"]
    for s, mode, r in sorted(rows, key=lambda row: (row[2].name, row[1], row[0])):
        detail = (r.metric or (r.error and f"error: {r.error}") or "").replace("|", "/")
        lines.append(f"| {r.name} | {s} | {mode} | {r.status} | {r.seconds:.1f} | {detail} |")
    failed = sum(r.status != "ok" for _, _, r in rows)
    lines.append("")
    lines.append(f"{len(rows) - failed} of {len(rows)} runs ok.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", default="notebooks", type=Path)
    parser.add_argument("--out", default=Path("build/course"), type=Path)
    parser.add_argument("--timeout", default=1800, type=int, help="seconds per cell")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="quick", action="store_true", default=None,
                      help="quick mode (few epochs, small subsets)")
    mode.add_argument("--full", dest="quick", action="store_false", help="full mode")
    parser.add_argument("--only", nargs="*", help="run only notebooks whose name contains one of these")
    parser.add_argument("--jobs", type=int, default=1,
                        help="notebooks run at once, one thread each when > 1 (default 1)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="verify: run once per COURSEKIT_SEED (e.g. 0 1 2) and print one table")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=None,
                        help="verify: the modes to run for every seed (default: full quick)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be >= 1")
    if args.seeds is not None or args.modes is not None:
        if args.quick is not None:
            parser.error("--quick/--full and --seeds/--modes exclude each other: use --modes")
        rows = run_matrix(args.folder, args.out, seeds=args.seeds or [0],
                          modes=args.modes or list(MODES), timeout=args.timeout, only=args.only,
                          jobs=args.jobs)
        print()
        print(matrix_markdown(rows))
        return 0 if all(r.status == "ok" for _, _, r in rows) else 1
    results = run_all(args.folder, args.out, timeout=args.timeout, quick=args.quick, only=args.only,
                      jobs=args.jobs)
    print()
    print((args.out / "summary.md").read_text(encoding="utf-8").rstrip())
    print(f"\nHTML: {args.out / 'index.html'}")
    return 0 if all(r.status == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
