"""Helpers shared by the tests of the nbgrader assignments (tests/test_*_assignment.py):
reading the source notebook's nbgrader metadata and building submissions from the
release with reference or planted-bug code in the solution cells."""

from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path

import nbformat

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def load_bug_table(path: Path, module_name: str):
    """Import a planted-bug table (``BUGS``) from a fixture file."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module.BUGS


def meta(cell) -> dict:
    """The cell's nbgrader metadata (empty for ungraded cells)."""
    return cell.metadata.get("nbgrader", {})


def solution_cells(nb) -> dict[str, nbformat.NotebookNode]:
    """grade_id -> solution cell."""
    return {meta(c)["grade_id"]: c for c in nb.cells if meta(c).get("solution")}


def test_points(nb) -> dict[str, float]:
    """grade_id -> points of every graded test cell."""
    return {meta(c)["grade_id"]: meta(c)["points"] for c in nb.cells if meta(c).get("grade")}


test_points.__test__ = False  # a helper, not a pytest test


def solution_region(source: str) -> tuple[list[str], int, int]:
    """The cell's lines and the indices of its BEGIN/END SOLUTION markers."""
    lines = source.split("\n")
    b = next(i for i, line in enumerate(lines) if BEGIN in line)
    e = next(i for i, line in enumerate(lines) if END in line)
    return lines, b, e


def replace_solution(source: str, code: str | None) -> str:
    """The solution cell as a student hands it in: markers gone, the region replaced by
    ``code`` (indented like the markers) or kept when ``code`` is None."""
    lines, b, e = solution_region(source)
    indent = lines[b][: len(lines[b]) - len(lines[b].lstrip())]
    if code is None:
        body = lines[b + 1 : e]
    else:
        body = [indent + line if line else line for line in code.rstrip("\n").split("\n")]
    return "\n".join(lines[:b] + body + lines[e + 1 :])


def build_submission(release_nb, source_nb, replacements: dict[str, str] | None = None):
    """The released notebook with every solution cell filled by the reference code,
    except the cells named in ``replacements`` (grade_id -> code)."""
    replacements = replacements or {}
    nb = copy.deepcopy(release_nb)
    solutions = solution_cells(source_nb)
    for cell in nb.cells:
        gid = meta(cell).get("grade_id")
        if meta(cell).get("solution"):
            cell.source = replace_solution(solutions[gid].source, replacements.get(gid))
    return nb
