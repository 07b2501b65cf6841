"""Release assignments (``solutions/`` -> ``assignments/``) and validate notebooks."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from coursekit.grading.course import Course, ensure_tools_on_path, make_course_copy


class GradingError(RuntimeError):
    """An nbgrader step failed; the message carries nbgrader's log."""


def release(
    course_dir: str | os.PathLike[str],
    assignments: Iterable[str] | None = None,
    *,
    log: Callable[[str], None] | None = print,
) -> list[str]:
    """Run ``nbgrader generate_assignment`` for some or all assignments.

    Writes ``assignments/<name>/`` from ``solutions/<name>/`` and registers
    the assignment (notebooks, test cells, points) in the gradebook, then
    checks the release for leaked solutions or hidden tests.

    Parameters
    ----------
    course_dir : path-like
        The course folder.
    assignments : iterable of str, optional
        Names; default: every assignment in ``solutions/``.
    log : callable, optional
        Progress lines; ``None`` for silence.

    Returns
    -------
    list of str
        The released assignment names.

    Raises
    ------
    GradingError
        When nbgrader fails or the release leaks solution code.
    """
    from coursekit.grading.scan import scan_release

    course = Course(course_dir)
    names = list(assignments) if assignments is not None else course.assignments()
    if not names:
        raise GradingError(f"no assignments found in {course.source_dir}")
    ensure_tools_on_path()
    api = course.api()
    for name in names:
        course.notebooks(name)  # clear error for unknown names
        res = api.generate_assignment(name, force=True, create=True)
        if not res.get("success"):
            raise GradingError(f"generate_assignment {name} failed:\n{res.get('error') or res.get('log')}")
        problems = scan_release(course.source_dir / name, course.release_dir / name)
        if problems:
            raise GradingError(f"the release of {name} leaks:\n" + "\n".join(problems))
        if log:
            log(f"released {name} -> {course.release_dir / name}")
    return names


def regenerate_release(course_dir: str | os.PathLike[str], assignment: str,
                       dest: str | os.PathLike[str]) -> Path:
    """Generate ``assignment`` into a scratch copy of the course; return the release folder.

    The repository's gradebook and ``assignments/`` are not touched: the copy
    gets its own. Used to check that the committed ``assignments/`` is exactly
    what nbgrader makes from ``solutions/``.
    """
    course = Course(course_dir)
    scratch = make_course_copy(dest, [assignment], source_root=course.root,
                               source_dir=course.source_dir)
    release(scratch, [assignment], log=None)
    return Course(scratch).release_dir / assignment


def _has_visible_test(source: str) -> bool:
    from coursekit.grading.guard import VERIFY_CALL

    for line in source.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and line != VERIFY_CALL:
            return True
    return False


def validate(
    path: str | os.PathLike[str],
    *,
    course_dir: str | os.PathLike[str] | None = None,
    invert: bool = False,
    timeout: int | None = None,
) -> dict[str, Any]:
    """Run a notebook's tests like ``nbgrader validate``, but report the outcome.

    Parameters
    ----------
    path : path-like
        Notebook to check.
    course_dir : path-like, optional
        Course whose ``nbgrader_config.py`` applies (default: found above ``path`` or cwd).
    invert : bool
        Check that the tests *fail* (for a released, unanswered notebook).
    timeout : int, optional
        Per-cell limit in seconds.

    Returns
    -------
    dict
        ``ok`` (bool) plus nbgrader's lists ``failed`` / ``passed`` / ``changed`` /
        ``type_changed`` (each: dicts with the cell ``source`` and ``error``).
    """
    from nbgrader.validator import Validator

    from coursekit.grading.course import find_course_dir

    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no such notebook: {path}")
    try:
        root = Path(course_dir) if course_dir else find_course_dir(path.parent)
    except FileNotFoundError:
        root = find_course_dir()
    cfg = Course(root, timeout=timeout).config()
    ensure_tools_on_path()
    with tempfile.TemporaryDirectory() as tmp:
        # run on a copy: the notebook's folder stays as it was
        work = Path(tmp) / path.name
        shutil.copy2(path, work)
        for item in path.parent.iterdir():
            if item.is_file() and item.suffix != ".ipynb":
                shutil.copy2(item, Path(tmp) / item.name)
        validator = Validator(config=cfg)
        validator.invert = invert
        results = validator.validate(str(work))
    results = dict(results)
    if invert and results.get("passed"):
        # a test cell whose tests are all hidden has nothing to run in the
        # release (only the guard call): it cannot fail there, so it does not count
        results["passed"] = [p for p in results["passed"] if _has_visible_test(p.get("source", ""))]
        if not results["passed"]:
            del results["passed"]
    bad_keys = ("changed", "type_changed", "passed" if invert else "failed")
    results["ok"] = not any(results.get(k) for k in bad_keys)
    return results
