"""The mutation gate: does the grader catch every real mistake?

``python -m coursekit.grading.mutants [ASSIGNMENT ...]`` (``make mutants``) takes
each answer cell of an assignment's reference solution, applies one small
mutation at a time inside the solution region (or to a default value of the
function's signature), grades the mutant with the isolated runner in this process
(only the tests that grade that cell: every other test uses the reference for it)
and prints killed/total per assignment. A mutant that scores full marks
*survives*; each survivor must be listed, with a one-line reason, in
``solutions/<assignment>/EQUIVALENT_MUTANTS.md`` (``- `<mutant id>`: reason``).

Mutations: arithmetic operators, numeric constants, dropped transposes, axis and
keepdims flips, mean/sum swaps, dropped terms, comparison flips, dropped unary
minus, swapped call arguments, a wrong variable of the same family (``cache1`` for
``cache2``: the wrong cache), dropped statements (a dropped call) and changed
signature defaults. Training cells (hyper-parameters students choose) are not mutated.
"""

from __future__ import annotations

import argparse
import ast
import copy
import re
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from coursekit.grading.isolated import LocalWorker, grade_plan
from coursekit.grading.isolated_source import BEGIN_SOLUTION, END_SOLUTION, plan_for

ROOT = Path(__file__).resolve().parents[2]
_OPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.Pow: ast.Mult,
        ast.MatMult: ast.Mult, ast.FloorDiv: ast.Div, ast.Mod: ast.FloorDiv}
_CMP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
        ast.Is: ast.IsNot, ast.IsNot: ast.Is}
_SWAP_ATTR = {"mean": "sum", "sum": "mean", "max": "min", "min": "max"}


@dataclass(frozen=True)
class Mutant:
    """One mutation of one answer cell."""

    id: str
    cell: str
    source: str


def _region(source: str) -> tuple[int, int]:
    lines = source.split("\n")
    b = next((i for i, line in enumerate(lines) if BEGIN_SOLUTION in line), None)
    e = next((i for i, line in enumerate(lines) if END_SOLUTION in line), None)
    if b is None or e is None:
        return 0, 0
    return b + 1, e + 1  # 1-based line numbers strictly between the markers


def _points(tree: ast.AST, lo: int, hi: int) -> Iterator[tuple[ast.AST, str, Any]]:
    """(node, kind, detail) for every mutation point; lines lo < line < hi, or signature defaults."""
    defaults: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            for d in [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]:
                if isinstance(d, ast.Constant) and isinstance(d.value, (int, float)) and not isinstance(d.value, bool):
                    defaults.add(id(d))
                    yield d, "default", None
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if not lo < line < hi or id(node) in defaults:
            continue
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            yield node, "op", None
            if isinstance(node.op, (ast.Add, ast.Sub)):
                yield node, "drop-left", None
                yield node, "drop-right", None
        elif isinstance(node, ast.Compare) and len(node.ops) == 1:
            if type(node.ops[0]) in _CMP:
                yield node, "cmp", None
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            yield node, "drop-neg", None
        elif isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            yield node, "const", None
        elif isinstance(node, ast.Attribute) and node.attr == "T":
            yield node, "drop-T", None
        elif isinstance(node, ast.Attribute) and node.attr in _SWAP_ATTR:
            yield node, "attr", None
        elif isinstance(node, ast.keyword) and node.arg in ("axis", "keepdims"):
            yield node, node.arg, None
        elif isinstance(node, ast.Call):
            if len(node.args) >= 2:
                yield node, "swap-args", None
            for i, arg in enumerate(node.args):
                if isinstance(arg, ast.Name) and re.fullmatch(r"[A-Za-z_]+\d", arg.id):
                    yield node, "wrong-var", i
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.Expr)) and not (
                isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
            yield node, "drop-stmt", None


def _mutate(node: ast.AST, kind: str, detail: Any, names: set[str]) -> list[tuple[str, ast.AST | None]]:
    """(label, replacement) pairs; a replacement of None deletes the statement."""
    out: list[tuple[str, ast.AST | None]] = []
    if kind == "op":
        new = copy.deepcopy(node)
        new.op = _OPS[type(node.op)]()
        out.append((f"{type(node.op).__name__}->{type(new.op).__name__}", new))
    elif kind == "drop-left":
        out.append(("drop-left-term", copy.deepcopy(node.right)))
    elif kind == "drop-right":
        out.append(("drop-right-term", copy.deepcopy(node.left)))
    elif kind == "cmp":
        new = copy.deepcopy(node)
        new.ops = [_CMP[type(node.ops[0])]()]
        out.append((f"{type(node.ops[0]).__name__}->{type(new.ops[0]).__name__}", new))
    elif kind == "drop-neg":
        out.append(("drop-minus", copy.deepcopy(node.operand)))
    elif kind in ("const", "default"):
        v = node.value
        for new_v in ([v + 1] if isinstance(v, int) else [v * 2 if v else 1.0]):
            out.append((f"{v!r}->{new_v!r}", ast.Constant(new_v)))
    elif kind == "drop-T":
        out.append(("drop-transpose", copy.deepcopy(node.value)))
    elif kind == "attr":
        new = copy.deepcopy(node)
        new.attr = _SWAP_ATTR[node.attr]
        out.append((f"{node.attr}->{new.attr}", new))
    elif kind in ("axis", "keepdims"):
        new = copy.deepcopy(node)
        value = node.value
        if kind == "keepdims" and isinstance(value, ast.Constant):
            new.value = ast.Constant(not value.value)
        elif isinstance(value, ast.Constant) and isinstance(value.value, int):
            new.value = ast.Constant(1 if value.value in (0, -2) else 0)
        else:
            return out
        out.append((f"{kind}={ast.unparse(value)}->{ast.unparse(new.value)}", new))
    elif kind == "swap-args":
        new = copy.deepcopy(node)
        new.args[0], new.args[1] = new.args[1], new.args[0]
        out.append(("swap-args-0-1", new))
    elif kind == "wrong-var":
        arg = node.args[detail]
        stem = arg.id.rstrip("0123456789")
        for other in sorted(n for n in names if n != arg.id and n.rstrip("0123456789") == stem and n[len(stem):]):
            new = copy.deepcopy(node)
            new.args[detail] = ast.Name(other, ast.Load())
            out.append((f"arg{detail}:{arg.id}->{other}", new))
    elif kind == "drop-stmt":
        out.append(("drop-statement", None))
    return out


class _Replace(ast.NodeTransformer):
    def __init__(self, target: ast.AST, replacement: ast.AST | None):
        self.target, self.replacement = target, replacement

    def generic_visit(self, node: ast.AST) -> Any:
        for fname, value in ast.iter_fields(node):
            if isinstance(value, list):
                new_list = []
                for item in value:
                    if item is self.target:
                        if self.replacement is not None:
                            new_list.append(self.replacement)
                    elif isinstance(item, ast.AST):
                        new_list.append(self.visit(item))
                    else:
                        new_list.append(item)
                if not new_list and fname == "body":
                    new_list = [ast.Pass()]
                setattr(node, fname, new_list)
            elif value is self.target:
                setattr(node, fname, self.replacement if self.replacement is not None else ast.Constant(None))
            elif isinstance(value, ast.AST):
                setattr(node, fname, self.visit(value))
        return node


def mutants_of_cell(grade_id: str, source: str) -> list[Mutant]:
    """Every mutant of one reference answer cell (source with the solution markers)."""
    lo, hi = _region(source)
    tree = ast.parse(source)
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    out: list[Mutant] = []
    seen: set[str] = set()
    for node, kind, detail in list(_points(tree, lo, hi)):
        for label, replacement in _mutate(node, kind, detail, names):
            clone = copy.deepcopy(tree)
            # locate the same node in the clone by walking both trees in step
            target = next(c for o, c in zip(ast.walk(tree), ast.walk(clone), strict=True) if o is node)
            new_tree = _Replace(target, replacement).visit(clone)
            text = ast.unparse(ast.fix_missing_locations(new_tree))
            mid = f"{grade_id}:L{node.lineno - lo}:C{node.col_offset}:{label}"
            if mid in seen:
                continue
            seen.add(mid)
            out.append(Mutant(mid, grade_id, text))
    return out


def _graded_cells(source_nb: Any) -> dict[str, str]:
    """grade_id -> source of the answer cells that hold functions (not training cells)."""
    plan = plan_for(source_nb, None)
    training = {g for t in plan.tests if t.training for g in t.graded}
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in source_nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")
            and c.metadata["nbgrader"]["grade_id"] not in training}


def _alarm(signum: int, frame: Any) -> None:
    raise TimeoutError("mutant ran too long")


def grade_mutant(source_nb: Any, mutant: Mutant, timeout: float = 300.0) -> bool:
    """True when the mutant is killed (some test of its cell loses points)."""
    submitted = {"cells": [{"cell_type": "code", "metadata": {"nbgrader": {"grade_id": mutant.cell}},
                            "source": mutant.source}]}
    plan = plan_for(source_nb, submitted)
    for cell in plan.cells:  # every other answer: the reference itself
        if cell.kind == "answer" and cell.grade_id != mutant.cell:
            cell.student = cell.source
    only = {t.grade_id for t in plan.tests if mutant.cell in t.graded}
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        results = grade_plan(plan, LocalWorker, timeout, only=only)
    except TimeoutError:
        return True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return any(not r.passed for r in results.values())


def equivalent_list(assignment: str, root: Path = ROOT) -> dict[str, str]:
    """Mutant id -> reason, from solutions/<assignment>/EQUIVALENT_MUTANTS.md."""
    path = root / "solutions" / assignment / "EQUIVALENT_MUTANTS.md"
    if not path.is_file():
        return {}
    found = re.findall(r"^- `([^`]+)`: (.+)$", path.read_text(), re.M)
    return dict(found)


def all_mutants(assignment: str, root: Path = ROOT) -> tuple[Any, list[Mutant]]:
    """The source notebook and every mutant of its function cells."""
    source_nb = nbformat.read(str(root / "solutions" / assignment / f"{assignment}.ipynb"), as_version=4)
    mutants = [m for gid, src in _graded_cells(source_nb).items() for m in mutants_of_cell(gid, src)]
    return source_nb, mutants


def without_tensorflow() -> None:
    """Make ``import tensorflow`` fail in this process: the hidden tests then skip their Keras
    comparisons, so every mutant must be killed by the reference-based checks alone (and the
    sweep runs in minutes instead of hours)."""
    class _NoTensorFlow:
        @staticmethod
        def find_spec(name: str, path: Any = None, target: Any = None) -> None:
            if name == "tensorflow" or name.startswith("tensorflow."):
                raise ImportError("TensorFlow is switched off for the mutation sweep")

    if not any(type(f).__name__ == "_NoTensorFlow" for f in sys.meta_path):
        sys.meta_path.insert(0, _NoTensorFlow())


def sweep(assignment: str, root: Path = ROOT, log: Any = print) -> dict[str, Any]:
    """Grade every mutant; returns counts, survivors and the unlisted/stale equivalents."""
    source_nb, mutants = all_mutants(assignment, root)
    reference = Mutant(f"{assignment}:reference", "", "")
    plan = plan_for(source_nb, None)
    for cell in plan.cells:
        if cell.kind == "answer":
            cell.student = cell.source
    failing = [r for r in grade_plan(plan, LocalWorker, 300.0,
                                     only={t.grade_id for t in plan.tests if not t.training}).values()
               if not r.passed]
    if failing:
        raise RuntimeError(f"{reference.id} does not pass its own tests: {failing}")
    survivors = [m.id for m in mutants if not grade_mutant(source_nb, m)]
    listed = equivalent_list(assignment, root)
    ids = {m.id for m in mutants}
    report = {"assignment": assignment, "total": len(mutants), "killed": len(mutants) - len(survivors),
              "survivors": survivors, "unlisted": [s for s in survivors if s not in listed],
              "stale": sorted(set(listed) - ids), "killed_but_listed": sorted(set(listed) & (ids - set(survivors)))}
    if log:
        log(f"{assignment}: killed {report['killed']}/{report['total']} mutants; "
            f"{len(survivors)} survive ({len(survivors) - len(report['unlisted'])} listed as equivalent)")
        for s in report["unlisted"]:
            log(f"  SURVIVOR not listed as equivalent: {s}")
        for s in report["stale"] + report["killed_but_listed"]:
            log(f"  stale entry in EQUIVALENT_MUTANTS.md: {s}")
    return report


def main(argv: list[str] | None = None) -> int:
    """``make mutants``: exit 1 when a survivor is not listed or the list is stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", default=["backprop", "optimizers_regularization"])
    parser.add_argument("--keras", action="store_true",
                        help="keep the Keras comparisons of the hidden tests (much slower)")
    args = parser.parse_args(argv)
    if not args.keras:
        without_tensorflow()
    bad = False
    for assignment in args.assignments:
        report = sweep(assignment)
        bad |= bool(report["unlisted"] or report["stale"] or report["killed_but_listed"])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
