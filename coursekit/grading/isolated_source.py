"""What isolated grading runs where: the source notebook and a submission, cut into pieces.

:func:`plan_for` reads the trusted source notebook (which cells are answers,
locked cells and tests, the hidden tests, the reference solution) and the
student's notebook (only the sources of its answer cells, found by grade id; the
last copy of a copied cell counts, as in nbgrader). The student's answer cells are
reduced with the AST to definitions, allowed imports and constants
(:func:`definitions_only`); what was dropped is noted for the feedback.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass, field
from typing import Any

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
#: Modules an answer cell may import (anything else is not loaded by the grader).
ALLOWED_MODULES = frozenset({
    "__future__", "numpy", "math", "functools", "itertools", "collections", "typing", "dataclasses",
    "coursekit", "copy", "operator", "statistics", "warnings", "numbers"})
_CONSTANT_NAME = re.compile(r"^_[A-Z][A-Z0-9_]*$")


def _meta(cell: Any) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


@functools.lru_cache(maxsize=4096)
def python_source(source: str) -> str:
    """A cell's source with IPython syntax (``%magic``, ``!cmd``) turned into plain Python."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - IPython comes with nbgrader
        return source
    return TransformerManager().transform_cell(source)


def without_markers(source: str) -> str:
    """The reference code of a solution cell: the BEGIN/END SOLUTION lines removed."""
    return "\n".join(line for line in source.split("\n")
                     if BEGIN_SOLUTION not in line and END_SOLUTION not in line)


def hidden_block(source: str) -> str:
    """The lines between the hidden-test markers of a test cell ('' if none)."""
    lines = source.split("\n")
    try:
        b = next(i for i, line in enumerate(lines) if BEGIN_HIDDEN in line)
        e = next(i for i, line in enumerate(lines) if END_HIDDEN in line)
    except StopIteration:
        return ""
    return "\n".join(lines[b + 1:e])


def _module_root(node: ast.AST) -> str:
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").split(".")[0] if node.level == 0 else ""
    return ""


def _constant_like(node: ast.AST) -> bool:
    """Literals, names, arithmetic, containers and calls of numpy/math functions on such values."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            func = sub.func
            while isinstance(func, ast.Attribute):
                func = func.value
            if not (isinstance(func, ast.Name) and func.id in ("np", "numpy", "math")):
                return False
        elif isinstance(sub, (ast.Lambda, ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom,
                              ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            return False
    return True


def _targets_are_names(targets: list[ast.AST]) -> bool:
    def ok(t: ast.AST) -> bool:
        return isinstance(t, ast.Name) or (isinstance(t, (ast.Tuple, ast.List)) and all(ok(e) for e in t.elts))
    return all(ok(t) for t in targets)


def definitions_only(source: str) -> tuple[str, list[str]]:
    reduced, notes = _definitions_only(source)
    return reduced, list(notes)


@functools.lru_cache(maxsize=4096)
def _definitions_only(source: str) -> tuple[str, tuple[str, ...]]:
    """Keep the top-level function/class definitions, allowed imports and constants.

    Returns the reduced source and notes on what was left out (for the feedback).
    """
    try:
        tree = ast.parse(python_source(source))
    except SyntaxError as exc:
        return "", (f"it has a syntax error (line {exc.lineno}: {exc.msg}), so the grader could not read it",)
    kept, notes = [], []
    for node in tree.body:
        keep = False
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            keep = True
        elif isinstance(node, ast.Import):
            keep = all(a.name.split(".")[0] in ALLOWED_MODULES for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            keep = _module_root(node) in ALLOWED_MODULES
        elif isinstance(node, ast.Assign):
            keep = _targets_are_names(node.targets) and _constant_like(node.value)
        elif isinstance(node, ast.AnnAssign):
            keep = isinstance(node.target, ast.Name) and node.value is not None and _constant_like(node.value)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # a docstring or a bare literal
        elif isinstance(node, ast.Pass):
            continue
        if keep:
            kept.append(node)
        else:
            text = ast.get_source_segment(python_source(source), node) or type(node).__name__
            notes.append(f"line {node.lineno} (`{text.splitlines()[0][:60]}`) was not run")
    return "\n\n".join(ast.unparse(n) for n in kept), tuple(notes)


@functools.lru_cache(maxsize=4096)
def grader_definitions(source: str) -> str:
    """Definitions, imports and ``_CONSTANTS`` of a (trusted) hidden-test block."""
    tree = ast.parse(python_source(source))
    kept = [n for n in tree.body
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom))
            or (isinstance(n, ast.Assign) and all(isinstance(t, ast.Name) and _CONSTANT_NAME.match(t.id)
                                                  for t in n.targets))]
    return "\n\n".join(ast.unparse(n) for n in kept)


@functools.lru_cache(maxsize=4096)
def defined_names(source: str) -> tuple[str, ...]:
    """Top-level names a (reduced) source defines."""
    names: list[str] = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
    return tuple(names)


def assigned_names(source: str) -> list[str]:
    """Public names assigned at the top level of a cell (what a training cell produces)."""
    try:
        tree = ast.parse(python_source(source))
    except SyntaxError:
        return []
    names: list[str] = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
            if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Name) and not sub.id.startswith("_") and sub.id not in names:
                    names.append(sub.id)
    return names


def _has_statements(source: str) -> bool:
    return bool(definitions_only(source)[1])


@dataclass
class Cell:
    index: int
    kind: str  # "setup", "locked", "answer", "test"
    grade_id: str
    source: str  # trusted source (reference code for answers, markers removed)
    student: str = ""  # the submission's source (answers only)


@dataclass
class TestSpec:
    """One autograded test cell and what it grades."""

    grade_id: str
    points: float
    index: int
    test_source: str
    graded: list[str]
    training: bool = False
    variables: list[str] = field(default_factory=list)

    @property
    def graded_label(self) -> str:
        return self.graded[0] if self.graded else self.grade_id


@dataclass
class Plan:
    """Everything :func:`coursekit.grading.isolated.run_test` needs for one submission."""

    cells: list[Cell]
    tests: list[TestSpec]
    notes: dict[str, str] = field(default_factory=dict)
    _reduced: dict[str, tuple[str, list[str]]] = field(default_factory=dict)

    def reduced(self, cell: Cell) -> str:
        if cell.grade_id not in self._reduced:
            self._reduced[cell.grade_id] = definitions_only(cell.student)
        return self._reduced[cell.grade_id][0]

    def locked_imports(self) -> tuple[str, ...]:
        """Modules the (trusted) setup and locked cells import at the top level, e.g. ``matplotlib.pyplot``."""
        names: list[str] = []
        for cell in self.cells:
            if cell.kind not in ("setup", "locked"):
                continue
            try:
                tree = ast.parse(python_source(cell.source))
            except SyntaxError:
                continue
            for node in tree.body:
                found = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
                names += [n for n in found if n not in names]
        return tuple(names)

    def setup_source(self) -> str:
        """The setup cell's Python source (trusted: the source notebook's), or ``""``."""
        return next((python_source(c.source) for c in self.cells if c.kind == "setup"), "")

    def api_names(self) -> list[str]:
        names: list[str] = []
        for cell in self.cells:
            if cell.kind == "answer":
                names += [n for n in defined_names(definitions_only(cell.source)[0]) if not n.startswith("_")]
        return names

    def worker_sources(self, spec: TestSpec, trained: bool = False) -> list[tuple[str, str]]:
        """What the test's worker executes, in order. ``trained``: a training test graded on
        variables the notebook's own run produced (nothing is trained: the locked cells and
        the training cell are reduced to their definitions, as for a function's test)."""
        out: list[tuple[str, str]] = []
        train = spec.training and not trained
        for cell in self.cells:
            if spec.training and cell.index > spec.index:
                break
            if cell.kind == "setup":
                out.append((python_source(cell.source), "<locked setup>"))
            elif cell.kind == "locked":
                full = train and cell.index < spec.index
                src = python_source(cell.source) if full else grader_definitions(cell.source)
                out.append((src, f"<locked {cell.grade_id}>"))
            elif cell.kind == "answer":
                if train and cell.grade_id in spec.graded:
                    out.append((python_source(cell.student), f"<answer {cell.grade_id}>"))
                    continue
                out.append((self.reduced(cell), f"<student {cell.grade_id}>"))
                if cell.grade_id not in spec.graded:
                    out.append((definitions_only(cell.source)[0], f"<reference {cell.grade_id}>"))
        return out

    def grader_sources(self, spec: TestSpec) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for cell in self.cells:
            if cell.index >= spec.index:
                break
            if cell.kind == "setup":
                out.append((python_source(cell.source), "<setup>"))
            elif cell.kind == "locked":
                full = spec.training
                out.append((python_source(cell.source) if full else grader_definitions(cell.source),
                            f"<locked {cell.grade_id}>"))
            elif cell.kind == "test":
                out.append((grader_definitions(hidden_block(cell.source)), f"<hidden {cell.grade_id}>"))
        return out


def plan_for(source_nb: Any, submitted_nb: Any | None) -> Plan:
    """Cut the source notebook into cells and tests, with the submission's answers."""
    student: dict[str, str] = {}
    if submitted_nb is not None:
        for cell in submitted_nb.get("cells", []):
            gid = _meta(cell).get("grade_id") if cell.get("cell_type") == "code" else None
            if gid:
                student[gid] = cell.get("source", "") if isinstance(cell.get("source"), str) else \
                    "".join(cell.get("source", []))
    cells: list[Cell] = []
    tests: list[TestSpec] = []
    group: list[str] = []
    last_group: list[str] = []
    first_code = True
    for index, cell in enumerate(source_nb.cells):
        if cell.cell_type != "code":
            continue
        m = _meta(cell)
        gid = m.get("grade_id", f"cell{index}")
        if m.get("solution"):
            cells.append(Cell(index, "answer", gid, without_markers(cell.source), student.get(gid, "")))
            group.append(gid)
        elif m.get("grade"):
            graded = group or last_group
            last_group, group = graded, []
            training = any(_has_statements(c.source) for c in cells if c.grade_id in graded)
            variables: list[str] = []
            if training:
                for c in cells:
                    if c.grade_id in graded:
                        variables += [n for n in assigned_names(c.student) + assigned_names(c.source)
                                      if n not in variables]
            cells.append(Cell(index, "test", gid, cell.source))
            tests.append(TestSpec(gid, float(m.get("points", 0)), index, python_source(cell.source),
                                  list(graded), training, variables))
        else:
            cells.append(Cell(index, "setup" if first_code else "locked", gid, cell.source))
        first_code = False
    plan = Plan(cells, tests)
    for cell in cells:
        if cell.kind == "answer" and not any(t.training and cell.grade_id in t.graded for t in tests):
            notes = definitions_only(cell.student)[1]
            if notes:
                plan.notes[cell.grade_id] = (
                    f"the grader loads only the function definitions, imports of {', '.join(sorted(ALLOWED_MODULES - {'__future__'}))} "
                    f"and constants of your cell {cell.grade_id}; " + "; ".join(notes[:3]))
    return plan
