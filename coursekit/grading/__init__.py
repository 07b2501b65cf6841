"""The instructor's nbgrader workflow (``coursekit-grade``; see docs/instructor.md).

Public API (nbgrader is imported only when a function runs). The modules are
named ``releasing``, ``collecting``, ``autograding`` so that no submodule
shadows the function of the same name exported here:

- :func:`release` - ``generate_assignment`` for one or all assignments, with a leak check.
- :func:`collect` - a platform's export folder -> ``submitted/<student>/<assignment>/``.
- :func:`autograde` - grade collected submissions in parallel, in a sandboxed kernel.
- :func:`autograde_notebooks` - collect + autograde ``{student: notebook}`` (for tests).
- :func:`make_course_copy` - a scratch course folder with some assignments (for tests).
- :func:`generate_feedback` - per-student HTML feedback without hidden tests.
- :func:`export_grades` - grades to CSV.
- :func:`summarize` - score distribution, most failed tests, flagged submissions.
- :func:`validate` - run a notebook's tests and report the outcome (exit code in the CLI).
- :func:`scan_submission`, :func:`scan_release` - static checks.
- :class:`GradeResult`, :class:`TestResult` - what autograding returns.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "release": "releasing",
    "regenerate_release": "releasing",
    "validate": "releasing",
    "GradingError": "releasing",
    "collect": "collecting",
    "autograde": "autograding",
    "autograde_notebooks": "autograding",
    "make_course_copy": "course",
    "GradeResult": "results",
    "TestResult": "results",
    "generate_feedback": "feedback",
    "export_grades": "export",
    "summarize": "summary",
    "scan_submission": "scan",
    "scan_release": "scan",
    "Course": "course",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"coursekit.grading.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'coursekit.grading' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
