"""Checks every nbgrader source notebook in solutions/ must pass (each assignment)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from assignment_support import meta, test_points

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS = sorted(p for p in (ROOT / "solutions").iterdir() if p.is_dir())


@pytest.fixture(params=ASSIGNMENTS, ids=[p.name for p in ASSIGNMENTS])
def assignment(request) -> Path:
    return request.param


def _source_nb(folder: Path):
    notebooks = sorted(folder.glob("*.ipynb"))
    assert len(notebooks) == 1, f"{folder}: one source notebook expected"
    return nbformat.read(notebooks[0], as_version=4)


def test_source_notebook_has_unique_grade_ids_with_schema_3(assignment):
    nb = _source_nb(assignment)
    ids = [meta(c)["grade_id"] for c in nb.cells]
    assert len(ids) == len(set(ids)), "duplicate grade_id"
    assert all(meta(c).get("schema_version") == 3 for c in nb.cells)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", i) for i in ids)


def test_source_notebook_is_stored_without_outputs(assignment):
    for cell in _source_nb(assignment).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_spec_lists_every_graded_cell_with_its_points(assignment):
    points = test_points(_source_nb(assignment))
    text = (assignment / "SPEC.md").read_text()
    rows = dict(re.findall(r"^\| `(test_\w+)` \| (\d+) \|", text, flags=re.M))
    assert {k: float(v) for k, v in rows.items()} == {k: float(v) for k, v in points.items()}
    total = re.search(r"Total: \*\*(\d+) points\*\*", text)
    assert total and float(total.group(1)) == sum(points.values())
