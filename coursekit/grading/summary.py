"""What the class got wrong: score distribution, most failed tests, flagged code."""

from __future__ import annotations

import json
import os
import re
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from coursekit.grading.course import Course

_NUMBER = re.compile(r"-?\d+(\.\d+)?(e-?\d+)?")


def _pattern(message: str) -> str:
    return _NUMBER.sub("#", message.strip())[:160]


def summarize(course_dir: str | os.PathLike[str], assignment: str, *, top: int = 3) -> dict[str, Any]:
    """Summarise the grading reports of ``assignment``.

    Parameters
    ----------
    course_dir : path-like
        The course folder.
    assignment : str
        Assignment name.
    top : int
        How many distinct failure messages to keep per test.

    Returns
    -------
    dict
        ``n``, ``max_score``, ``scores`` (student -> score), ``mean``, ``median``,
        ``min``, ``max``, ``histogram`` (list of (label, count)), ``tests``
        (grade_id -> ``{"failed": k, "of": n, "messages": [(message, count), ...]}``,
        most failed first), ``reasons`` (student -> reason), ``flags``
        (student -> list), ``isolation`` (set of modes), and ``text`` (a printable report).
    """
    course = Course(course_dir)
    folder = course.work_dir / "reports" / assignment
    reports = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    out: dict[str, Any] = {"assignment": assignment, "n": len(reports)}
    if not reports:
        out["text"] = f"{assignment}: no graded submissions (run coursekit-grade autograde first)"
        return out
    scores = {r["student"]: float(r["score"]) for r in reports}
    max_score = max(float(r["max_score"]) for r in reports)
    values = list(scores.values())
    out.update(
        max_score=max_score, scores=scores, mean=statistics.fmean(values),
        median=statistics.median(values), min=min(values), max=max(values),
    )
    bins = 5
    hist = [0] * bins
    for v in values:
        frac = v / max_score if max_score else 0.0
        hist[min(bins - 1, int(frac * bins))] += 1
    labels = [f"{100 * i // bins:3d}-{100 * (i + 1) // bins:3d}%" for i in range(bins)]
    out["histogram"] = list(zip(labels, hist, strict=True))

    tests: dict[str, dict[str, Any]] = {}
    for r in reports:
        for gid, t in r.get("tests", {}).items():
            entry = tests.setdefault(gid, {"failed": 0, "of": 0, "max_score": t["max_score"],
                                           "_msgs": Counter(), "_example": {}})
            entry["of"] += 1
            if float(t["score"]) < float(t["max_score"]):
                entry["failed"] += 1
                msg = t.get("message") or "(no message)"
                key = _pattern(msg)
                entry["_msgs"][key] += 1
                entry["_example"].setdefault(key, msg.strip()[:300])
    for entry in tests.values():
        entry["messages"] = [(entry["_example"][k], c) for k, c in entry["_msgs"].most_common(top)]
        del entry["_msgs"], entry["_example"]
    out["tests"] = dict(sorted(tests.items(), key=lambda kv: (-kv[1]["failed"], kv[0])))
    out["reasons"] = {r["student"]: r["reason"] for r in reports if r.get("reason")}
    out["flags"] = {r["student"]: r["flags"] for r in reports if r.get("flags")}
    out["isolation"] = sorted({r.get("isolation") or "unknown" for r in reports})
    out["text"] = _render(out)
    return out


def _render(s: dict[str, Any]) -> str:
    lines = [
        f"== {s['assignment']}: {s['n']} submission(s), max {s['max_score']:g} points ==",
        f"mean {s['mean']:.2f}  median {s['median']:.2f}  min {s['min']:g}  max {s['max']:g}",
        "score distribution:",
    ]
    width = max(c for _, c in s["histogram"]) or 1
    for label, count in s["histogram"]:
        lines.append(f"  {label} | {'#' * round(30 * count / width):<30} {count}")
    lines.append("tests, most failed first (failed / graded):")
    for gid, t in s["tests"].items():
        lines.append(f"  {gid:<32} {t['failed']:>3} / {t['of']:<3} ({t['max_score']:g} pts)")
        for msg, count in t["messages"]:
            lines.append(f"      {count:>3} x {msg}")
    if s["reasons"]:
        lines.append("submissions with a problem:")
        for student, reason in sorted(s["reasons"].items()):
            lines.append(f"  {student}: {reason}")
    if s["flags"]:
        lines.append("suspicious code (check by hand):")
        for student, flags in sorted(s["flags"].items()):
            for flag in flags:
                lines.append(f"  {student}: {flag}")
    if "limits only" in s["isolation"]:
        lines.append(
            "WARNING: some submissions ran with resource limits only (--no-isolation, no "
            "bubblewrap sandbox): their code could read the gradebook, the solutions and other "
            "submissions, use the network and signal other processes. See docs/instructor.md."
        )
    else:
        lines.append(f"kernel isolation: {', '.join(s['isolation'])}")
    return "\n".join(lines)


def write_summary(course_dir: str | os.PathLike[str], assignment: str) -> Path:
    """Write the summary text to ``grades/<assignment>-summary.txt`` and return its path."""
    from coursekit.grading.course import atomic_write_text

    course = Course(course_dir)
    path = course.root / "grades" / f"{assignment}-summary.txt"
    atomic_write_text(path, summarize(course.root, assignment)["text"] + "\n")
    return path
