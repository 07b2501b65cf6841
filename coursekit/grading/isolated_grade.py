"""The entry point of isolated grading: ``grade_isolated(source, submitted, wrap=, timeout=)``.

It reads the two notebooks, makes the plan (:func:`coursekit.grading.isolated_source.plan_for`)
and hands it to the numpy path (:func:`coursekit.grading.isolated.grade_plan`, one sandboxed
zygote per submission) or, when the assignment's locked cells import Keras, to
:func:`coursekit.grading.isolated_keras_grade.grade_keras`. Both are described in their
modules; this one only chooses, so that the imports run one way
(``isolated_grade`` -> ``isolated_keras_grade`` -> ``isolated``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import nbformat

from coursekit.grading.isolated import ZYGOTE_START_LIMIT, ForkServer, IsolatedResult, grade_plan
from coursekit.grading.isolated_source import Plan, plan_for

__all__ = ["grade_isolated", "trained_names"]


def _identity(argv: list[str]) -> list[str]:
    return argv


def _plan(source_notebook: Path, submitted_notebook: Path) -> Plan | None:
    source = nbformat.read(str(source_notebook), as_version=4)
    if not source.metadata.get("coursekit", {}).get("isolated_grading"):
        return None
    try:
        submitted = nbformat.read(str(submitted_notebook), as_version=4)
    except Exception:  # noqa: BLE001 - an unreadable submission has no answers
        submitted = None
    return plan_for(source, submitted)


def trained_names(source_notebook: Path, submitted_notebook: Path) -> list[str]:
    """The variables of the training tests (e.g. ``mnist_params``) that the notebook's own
    run may hand to :func:`grade_isolated` (``trained=``); none for a Keras assignment."""
    plan = _plan(source_notebook, submitted_notebook)
    if plan is None or "keras" in plan.locked_imports():
        return []
    names: list[str] = []
    for spec in plan.tests:
        if spec.training:
            names += [n for n in spec.variables if n not in names]
    return names


def grade_isolated(source_notebook: Path, submitted_notebook: Path, *,
                   wrap: Callable[[list[str]], list[str]] = _identity,
                   timeout: float = 120.0,
                   trained: Callable[[], Mapping[str, Any]] | None = None) -> dict[str, IsolatedResult]:
    """Grade every autograded test of a submission in isolation (see the module docstring).

    Parameters
    ----------
    source_notebook : Path
        The assignment's source notebook in ``solutions/`` (hidden tests, reference).
    submitted_notebook : Path
        The student's notebook (its outputs are ignored; only its answer cells are read).
    wrap : callable
        ``wrap(argv) -> argv`` that runs ``argv`` inside the grading sandbox; identity by default.
    timeout : float
        Seconds each test may take in all (worker start, student code and test).
    trained : callable, optional
        Returns the variables of the notebook's own run (:func:`trained_names`; it may wait
        for that run to end): a training test is graded on them first and retrained with
        the reference parts only when they do not pass.

    Returns
    -------
    dict
        ``grade_id -> IsolatedResult``; empty when the source notebook does not opt in
        (metadata ``coursekit.isolated_grading``).
    """
    if timeout <= 0:
        raise ValueError(f"grade_isolated: timeout must be positive, got {timeout}")
    plan = _plan(source_notebook, submitted_notebook)
    if plan is None:
        return {}
    if "keras" in plan.locked_imports():  # models travel as checked .keras bytes: see that module
        from coursekit.grading.isolated_keras_grade import grade_keras

        return grade_keras(plan, wrap=wrap, timeout=timeout)
    # the zygote runs no student code (numpy, coursekit and the locked cells' imports), so a
    # generous start limit costs nothing but keeps a loaded machine from failing an honest student
    with ForkServer(wrap, start_limit=max(timeout, ZYGOTE_START_LIMIT), preload=plan.locked_imports(),
                    warmup=plan.setup_source()) as server:
        return grade_plan(plan, server, timeout, trained=trained)
