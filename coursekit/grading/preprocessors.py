"""nbgrader preprocessors used while autograding (imports nbgrader: load lazily)."""

from __future__ import annotations

from typing import Any

from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor


class DropDuplicateGradeCells(NbGraderPreprocessor):
    """Make grade ids unique again before nbgrader sees them (nbgrader issue #1083).

    A student who copies a locked cell (a test, the set-up cell) creates a
    second cell with the same ``grade_id``: the copies are dropped, keeping the
    first one (nbgrader restores its source from the gradebook anyway). A copied
    *answer* cell is kept, since the student's code in it ran in their
    notebook, but only its last copy stays the graded answer; the earlier
    copies become ordinary cells.
    """

    def preprocess(self, nb: Any, resources: Any) -> tuple[Any, Any]:
        seen: set[str] = set()
        last_solution: dict[str, int] = {}
        for index, cell in enumerate(nb.cells):
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade_id") and utils.is_solution(cell):
                last_solution[meta["grade_id"]] = index
        kept = []
        dropped: list[str] = []
        for index, cell in enumerate(nb.cells):
            meta = cell.metadata.get("nbgrader", {})
            gid = meta.get("grade_id")
            if not gid or not (utils.is_grade(cell) or utils.is_solution(cell) or utils.is_locked(cell)):
                kept.append(cell)
                continue
            if utils.is_solution(cell):
                if index != last_solution.get(gid):
                    cell.metadata.pop("nbgrader", None)
                    dropped.append(f"{gid} (answer copy made an ordinary cell)")
                kept.append(cell)
                continue
            if gid in seen:
                dropped.append(gid)
                continue
            seen.add(gid)
            kept.append(cell)
        if dropped:
            self.log.warning("Duplicated cells removed: %s", ", ".join(dropped))
            resources.setdefault("coursekit", {})["duplicates"] = dropped
        nb.cells = kept
        return nb, resources
