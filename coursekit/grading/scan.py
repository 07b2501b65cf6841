"""Static scans: suspicious code in submissions, leaked solutions in the release."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

#: (pattern, what the instructor should look at). Matched against the code the
#: student can change (cells that are not locked, or whose metadata was removed).
SUSPICIOUS: tuple[tuple[str, str], ...] = (
    (r"\bsqlite3?\b", "opens an SQLite database (the gradebook?)"),
    (r"gradebook", "mentions the gradebook"),
    (r"\bsolutions?\b\s*/|[\"']solutions[\"']|/solutions\b", "refers to the solutions folder"),
    (r"\.\./|os\.pardir|\.parent\b", "walks up the folder tree"),
    (r"/proc/|/etc/passwd", "reads system files"),
    (r"\.ipynb\b", "reads notebook files"),
    (r"set_custom_exc", "installs a custom exception handler (hides failures)"),
    (r"settrace|setprofile", "installs a trace function"),
    (r"\b__builtins__\b|\bbuiltins\b", "touches builtins"),
    (r"\bsys\.modules\b", "edits sys.modules"),
    (r"__code__|__globals__|__closure__", "rewrites function objects"),
    (r"\bsetattr\s*\(|\bdelattr\s*\(", "sets attributes dynamically (monkeypatching?)"),
    (r"\b(np|numpy)\s*\.\s*(testing\s*\.\s*)?\w+\s*=(?!=)", "replaces a numpy function"),
    (r"\b(np|numpy)\s*\.\s*testing\s*=(?!=)", "replaces numpy.testing"),
    (r"\b(ck|coursekit)\s*\.\s*(check\s*\.\s*)?\w+\s*=(?!=)", "replaces a coursekit function"),
    (r"_ck_guard|install_guard|coursekit\.grading", "touches the grader's guard"),
    (r"input_transformers|ast_transformers|events\s*\.\s*register", "rewrites cells before they run"),
    (r"get_ipython\s*\(\s*\)\s*\.\s*(run_cell|showtraceback|set_hook|user_ns)", "alters the IPython shell"),
    (r"clear_output", "clears outputs (could hide failures)"),
    (r"\bdo_execute\b|get_ipython\s*\(\s*\)\s*\.\s*kernel\b|send_response|\bdisplayhook\b"
     r"|\bexcepthook\b",
     "replaces the kernel's execution or display machinery"),
    (r"\buser_ns\b|gc\s*\.\s*get_objects|\bglobals\s*\(\s*\)\s*\[|_ref_\w+",
     "looks for the tests' own objects (reference helpers?)"),
    (r"\bos\s*\.\s*_exit|\bsignal\s*\.\s*(signal|alarm|pthread_kill)|os\s*\.\s*kill", "kills or signals the kernel"),
    (r"\bsubprocess\b|os\s*\.\s*(system|popen|exec\w*|spawn\w*|fork)", "starts processes"),
    (r"\bsocket\b|urllib|requests\.|http\.client", "uses the network"),
    (r"\bctypes\b", "calls C functions directly"),
    (r"(?<![.\w])(exec|eval|compile)\s*\(", "executes generated code"),
)
_COMPILED = [(re.compile(p), why) for p, why in SUSPICIOUS]


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _student_cells(nb: dict[str, Any]) -> list[tuple[int, str]]:
    cells = []
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("locked") and not meta.get("solution"):
            continue  # restored from the gradebook before grading: the student's edits never run
        cells.append((i, _source(cell)))
    return cells


def scan_source(code: str) -> list[str]:
    """Suspicious constructs in a piece of student code (one message per kind)."""
    found = []
    for pattern, why in _COMPILED:
        m = pattern.search(code)
        if m:
            found.append(f"{why}: {m.group(0).strip()!r}")
    return found


def scan_submission(path: str | os.PathLike[str]) -> list[str]:
    """Flag suspicious code in the cells a student can change in notebook ``path``.

    Returns
    -------
    list of str
        ``"cell N: <reason>: '<match>'"`` lines; empty when nothing was found or the
        file is not a notebook (autograding reports that separately).
    """
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError):
        return []
    if not isinstance(nb, dict):
        return []
    flags = []
    for index, code in _student_cells(nb):
        flags += [f"cell {index}: {msg}" for msg in scan_source(code)]
    return flags


def _hidden_lines(source_nb: dict[str, Any]) -> tuple[set[str], set[str]]:
    hidden: set[str] = set()
    visible: set[str] = set()
    for cell in source_nb.get("cells", []):
        inside = False
        for line in _source(cell).splitlines():
            stripped = line.strip()
            if "BEGIN HIDDEN TESTS" in line or "BEGIN SOLUTION" in line:
                inside = True
                continue
            if "END HIDDEN TESTS" in line or "END SOLUTION" in line:
                inside = False
                continue
            if stripped:
                (hidden if inside else visible).add(stripped)
    # a line that also appears outside the hidden regions is public anyway
    return {h for h in hidden - visible if len(h) >= 8 and not h.startswith("#")}, visible


def scan_release(source_dir: str | os.PathLike[str], release_dir: str | os.PathLike[str]) -> list[str]:
    """Find solution code or hidden tests of ``source_dir`` that leaked into ``release_dir``.

    Checks every released notebook for the nbgrader region markers and for every
    line of the source's solution and hidden-test regions (lines that also occur
    outside those regions, comments and lines under 8 characters excepted).

    Returns
    -------
    list of str
        Problems found (empty = clean).
    """
    source_dir, release_dir = Path(source_dir), Path(release_dir)
    problems = []
    markers = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
    for released in sorted(release_dir.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in released.parts:
            continue
        rel = released.relative_to(release_dir)
        text = released.read_text(encoding="utf-8")
        nb = json.loads(text)
        released_lines = {
            line.strip() for cell in nb.get("cells", []) for line in _source(cell).splitlines()
        }
        for marker in markers:
            if marker in text:
                problems.append(f"{rel}: contains the marker {marker!r}")
        src = source_dir / rel
        if not src.is_file():
            problems.append(f"{rel}: no source notebook {src}")
            continue
        secret, _ = _hidden_lines(json.loads(src.read_text(encoding="utf-8")))
        for line in sorted(secret & released_lines):
            problems.append(f"{rel}: solution or hidden-test line released: {line!r}")
    return problems
