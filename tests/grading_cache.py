"""Each real assignment released and graded once per test session, shared read-only.

Several test modules prove the same facts about a real assignment through the whole
pipeline (nbgrader, the sandboxed kernel, the isolated tests, 2 workers): the committed
release is what ``generate_assignment`` makes, the reference solution scores full marks
and the unanswered release scores zero. Releasing is cheap; grading the reference is the
most expensive step of those modules (it trains, minutes on a loaded 2-core machine).
:class:`GradingCache` does each once per assignment, on first use, and every module reads
the same results:

- :meth:`GradingCache.released`: a scratch course (never the repository's gradebook) into
  which ``release`` generated the assignment; ``fresh`` is its release folder;
- :meth:`GradingCache.graded`: ``reference`` (the release with every solution cell filled
  with the reference code, as a student would hand it in) and ``blank`` (the release as
  it is) autograded in that course in one batch.

Read-only: ``graded`` returns deep copies, so a test that changes a result changes only its
own. The scratch course is shared: a test that grades more submissions or writes feedback
must do it in a course of its own (``make_course_copy``), never in ``released(...).course``.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: Two kernels on two cores: a multi-threaded BLAS in each oversubscribes the CPU and a
#: training cell runs many times slower (measured on backprop's MNIST cell: 5 s -> 60 s).
ONE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class Released:
    """One assignment generated into a scratch course."""

    name: str
    course: Path  # the scratch course (shared: do not grade or write feedback in it)
    fresh: Path  # course/assignments/<name>: what generate_assignment made
    source: Path  # solutions/<name>/<notebook> in the repository
    notebook: str  # the notebook's file name


class GradingCache:
    """Release and grade each assignment at most once (see the module docstring)."""

    def __init__(self, base: Path) -> None:
        self._base = Path(base)
        self._released: dict[str, Released] = {}
        self._graded: dict[str, dict[str, Any]] = {}
        self.seconds: dict[str, float] = {}  # assignment -> grading wall time (for -s runs)

    def released(self, name: str) -> Released:
        """The assignment released into its scratch course (generated on first call)."""
        if name not in self._released:
            from coursekit.grading import regenerate_release

            source = sorted((ROOT / "solutions" / name).glob("*.ipynb"))
            assert len(source) == 1, f"{name}: these tests assume one notebook per assignment"
            fresh = regenerate_release(ROOT, name, self._base / name / "course")
            self._released[name] = Released(name, self._base / name / "course", fresh, source[0],
                                            source[0].name)
        return self._released[name]

    def graded(self, name: str) -> dict[str, Any]:
        """``{"reference": GradeResult, "blank": GradeResult}`` (copies) for ``name``."""
        if name not in self._graded:
            self._graded[name] = self._grade(self.released(name))
        return copy.deepcopy(self._graded[name])

    def _grade(self, rel: Released) -> dict[str, Any]:
        import nbformat
        import pytest
        from assignment_support import build_submission

        from coursekit.grading import autograde_notebooks

        blank = rel.fresh / rel.notebook
        reference = self._base / rel.name / "reference.ipynb"
        nbformat.write(build_submission(nbformat.read(blank, as_version=4),
                                        nbformat.read(rel.source, as_version=4)), reference)
        start = time.perf_counter()
        with pytest.MonkeyPatch.context() as mp:
            for var in ONE_THREAD:
                mp.setenv(var, "1")
            results = autograde_notebooks(rel.course, rel.name, {"reference": reference, "blank": blank},
                                          workers=2)
        self.seconds[rel.name] = time.perf_counter() - start
        print(f"\n[grading cache] {rel.name}: reference and blank graded in {self.seconds[rel.name]:.1f} s "
              + ", ".join(f"({s} {r.seconds:.1f} s)" for s, r in results.items()))
        return results
