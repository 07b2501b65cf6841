"""Execute the notebook sequence headless: rendered HTML plus a summary table.

This is the course's main job (``make course``)::

    python -m coursekit.runner notebooks --out build/course [--quick] [--only 05]

Every notebook runs top to bottom in a fresh kernel; the executed copy and an
HTML rendering go to ``--out``, and ``summary.md`` lists notebook, status,
seconds and the key metric that the notebook reported with
:func:`coursekit.report_metric`. A failing notebook is recorded and the run goes
on; the exit status is 1 if any notebook failed.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from coursekit.env import METRIC_MIME


@dataclass
class NotebookResult:
    """Outcome of one executed notebook."""

    name: str
    status: str  # "ok" or "FAILED"
    seconds: float
    metric: str = ""
    error: str = ""
    html: str = ""


def _kernel_env(quick: bool | None) -> dict[str, str]:
    env = dict(os.environ)
    env["COURSEKIT_HEADLESS"] = "1"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("PYTHONHASHSEED", "0")
    env.pop("MPLBACKEND", None)  # keep the inline backend: figures belong in the HTML
    if quick is not None:
        env["COURSEKIT_QUICK"] = "1" if quick else "0"
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


def _first_error(nb) -> str:
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return f"{out.get('ename')}: {out.get('evalue')}"[:300]
    return ""


def run_notebook(path: Path, out_dir: Path, *, timeout: int, quick: bool | None) -> NotebookResult:
    """Execute one notebook in its own folder; write the executed copy and HTML to ``out_dir``."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, DeadKernelError
    from nbconvert import HTMLExporter

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    status, error = "ok", ""
    try:
        client.execute(env=_kernel_env(quick))
    except CellExecutionError as exc:
        status, error = "FAILED", _first_error(nb) or str(exc).splitlines()[-1][:300]
    except (DeadKernelError, TimeoutError, RuntimeError) as exc:
        status, error = "FAILED", f"{type(exc).__name__}: {str(exc)[:300]}"
    seconds = time.perf_counter() - start
    out_dir.mkdir(parents=True, exist_ok=True)
    _atomic_write(out_dir / path.name, nbformat.writes(nb))
    body, _ = HTMLExporter().from_notebook_node(nb)
    html_path = out_dir / (path.stem + ".html")
    _atomic_write(html_path, body)
    return NotebookResult(path.stem, status, seconds, find_metric(nb), error, html_path.name)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def summary_markdown(results: list[NotebookResult]) -> str:
    """Render results as a Markdown table."""
    lines = ["| notebook | status | seconds | key metric |", "| --- | --- | ---: | --- |"]
    for r in results:
        detail = r.metric or (r.error and f"error: {r.error}") or ""
        lines.append(f"| {r.name} | {r.status} | {r.seconds:.1f} | {detail.replace('|', '/')} |")
    total = sum(r.seconds for r in results)
    failed = sum(r.status != "ok" for r in results)
    lines.append("")
    lines.append(f"{len(results) - failed} of {len(results)} notebooks ran ok in {total:.0f} s.")
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


def run_all(
    folder: Path, out_dir: Path, *, timeout: int = 1800, quick: bool | None = None,
    only: list[str] | None = None,
) -> list[NotebookResult]:
    """Execute every ``*.ipynb`` in ``folder`` in name order (optionally only names containing one of ``only``)."""
    notebooks = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))
    if only:
        notebooks = [p for p in notebooks if any(key in p.name for key in only)]
    if not notebooks:
        raise FileNotFoundError(f"no notebooks to run in {folder}")
    results = []
    for path in notebooks:
        print(f"[course] running {path.name} ...", flush=True)
        result = run_notebook(path, out_dir, timeout=timeout, quick=quick)
        print(f"[course]   {result.status} in {result.seconds:.1f} s {result.metric or result.error}", flush=True)
        results.append(result)
    table = summary_markdown(results)
    _atomic_write(out_dir / "summary.md", table + "\n")
    _atomic_write(out_dir / "index.html", _index_html(results))
    return results


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
    args = parser.parse_args(argv)
    results = run_all(args.folder, args.out, timeout=args.timeout, quick=args.quick, only=args.only)
    print()
    print(summary_markdown(results))
    print(f"\nHTML: {args.out / 'index.html'}")
    return 0 if all(r.status == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
