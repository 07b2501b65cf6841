"""Keep the checking functions honest while a submission is autograded.

The locked set-up cell of every assignment calls :func:`install_guard` before
any student code runs; every test cell starts with ``_ck_guard.verify()``::

    from coursekit.grading.guard import install_guard
    _ck_guard = install_guard()          # locked header cell
    ...
    _ck_guard.verify()                   # first line of each test cell

``install_guard`` records the numpy / coursekit checking functions (object and
code object) and the IPython hooks that could rewrite or silence test cells.
``verify`` raises ``AssertionError`` when any of them was replaced, when a
checking function no longer fails on a plain counter-example, or when a hook
was added, so a submission that turns ``np.allclose`` into ``lambda *a: True``
scores nothing on the tests it did not pass honestly. It does not make the
kernel a secure sandbox: the grader also scans submissions for tampering
(``coursekit-grade summary``) and runs them in a restricted kernel.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: (module, attribute) pairs whose replacement would let wrong answers pass.
GUARDED: tuple[tuple[str, str], ...] = (
    ("numpy", "allclose"),
    ("numpy", "isclose"),
    ("numpy", "array_equal"),
    ("numpy", "all"),
    ("numpy", "any"),
    ("numpy", "abs"),
    ("numpy", "max"),
    ("numpy", "shape"),
    ("numpy", "asarray"),
    ("numpy", "testing"),
    ("numpy.testing", "assert_allclose"),
    ("numpy.testing", "assert_array_equal"),
    ("numpy.testing", "assert_array_almost_equal"),
    ("numpy.testing", "assert_equal"),
    ("numpy.testing", "assert_almost_equal"),
    ("builtins", "isinstance"),
    ("builtins", "abs"),
    ("builtins", "all"),
    ("builtins", "any"),
    ("builtins", "len"),
    ("builtins", "float"),
    ("builtins", "AssertionError"),
    ("coursekit", "check"),
    ("coursekit.check", "assert_close"),
    ("coursekit.check", "assert_shape"),
    ("coursekit.check", "assert_dtype"),
    ("coursekit.check", "assert_finite"),
    ("coursekit.check", "assert_gradient_close"),
    ("coursekit.check", "gradient_check"),
    ("coursekit.check", "rel_error"),
    ("coursekit.check", "numerical_gradient"),
    ("coursekit.check", "diagnose_gradient"),
    ("coursekit.grading.guard", "install_guard"),
    ("coursekit.grading.guard", "Guard"),
)

_MISSING = object()
#: MIME type of the (invisible) output left by a passed :meth:`Guard.verify` while autograding.
GUARD_MIME = "application/vnd.coursekit.guard+json"
#: The call that starts every test cell; the grader looks for it.
VERIFY_CALL = "_ck_guard.verify()"
_SHELL_METHODS = (
    "run_cell",
    "run_cell_async",
    "run_ast_nodes",
    "run_code",
    "transform_cell",
    "showtraceback",
    "_showtraceback",
    "should_run_async",
)


class TamperingError(AssertionError):
    """A checking function or a kernel hook was changed by the submission."""


def _code_of(obj: Any) -> Any:
    return getattr(obj, "__code__", None)


def _ipython_hooks() -> dict[str, Any]:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython always present in a kernel
        return {}
    ip = get_ipython()
    if ip is None:
        return {}
    cls = type(ip)
    hooks: dict[str, Any] = {
        "input_transformers_cleanup": list(getattr(ip, "input_transformers_cleanup", [])),
        "input_transformers_post": list(getattr(ip, "input_transformers_post", [])),
        "ast_transformers": list(getattr(ip, "ast_transformers", [])),
        "custom_exceptions": tuple(getattr(ip, "custom_exceptions", ())),
        # methods the kernel calls for every cell: replaced on the instance or the class?
        "overridden": sorted(k for k in _SHELL_METHODS if k in vars(ip)),
        "class_methods": [getattr(cls, k, None) for k in _SHELL_METHODS],
    }
    events = getattr(ip, "events", None)
    if events is not None:
        for name, callbacks in getattr(events, "callbacks", {}).items():
            if name.startswith("pre_"):  # post_* hooks are added by matplotlib, legitimately
                hooks[f"events.{name}"] = list(callbacks)
    return hooks


@dataclass
class Guard:
    """Snapshot of the checking functions; :meth:`verify` compares against it."""

    originals: dict[tuple[str, str], Any] = field(default_factory=dict)
    codes: dict[tuple[str, str], Any] = field(default_factory=dict)
    hooks: dict[str, Any] = field(default_factory=dict)
    trace: Any = None
    allclose: Any = None
    assert_allclose: Any = None

    def problems(self) -> list[str]:
        """Descriptions of everything that changed since :func:`install_guard` (empty = fine)."""
        found: list[str] = []
        for (mod_name, attr), original in self.originals.items():
            module = sys.modules.get(mod_name)
            current = getattr(module, attr, _MISSING) if module is not None else _MISSING
            if current is not original:
                found.append(f"{mod_name}.{attr} was replaced")
            elif _code_of(current) is not self.codes.get((mod_name, attr)):
                found.append(f"the code of {mod_name}.{attr} was replaced")
        current_hooks = _ipython_hooks()
        for name, before in self.hooks.items():
            after = current_hooks.get(name)
            if name == "class_methods":
                same = after is not None and all(a is b for a, b in zip(after, before, strict=True))
            else:
                same = after == before
            if not same:
                found.append(f"the IPython hook {name} was changed")
        if sys.gettrace() is not self.trace:
            found.append("a trace function (sys.settrace) was installed")
        # canaries: the saved functions must still fail on a wrong answer
        if self.allclose is not None and self.allclose(np.array([0.0]), np.array([1.0])):
            found.append("numpy.allclose no longer detects a difference")
        if self.assert_allclose is not None:
            try:
                self.assert_allclose(np.array([0.0]), np.array([1.0]))
            except AssertionError:
                pass
            else:
                found.append("numpy.testing.assert_allclose no longer raises")
        return found

    def verify(self) -> None:
        """Raise :class:`TamperingError` when the checking machinery was changed.

        While nbgrader autogrades (``NBGRADER_EXECUTION=autograde``) a passed
        check also leaves an invisible output (:data:`GUARD_MIME`): the grader
        gives 0 points to a test cell whose output lacks it, i.e. a cell that
        code in the submission rewrote or skipped.
        """
        found = self.problems()
        if found:
            raise TamperingError(
                "the grader's checking functions were modified by the submission ("
                + "; ".join(found)
                + "): tests cannot be trusted, so they score zero"
            )
        if os.environ.get("NBGRADER_EXECUTION") == "autograde":
            try:
                from IPython.display import display
            except ImportError:  # pragma: no cover - always there in a kernel
                return
            display({GUARD_MIME: {"verified": True}}, raw=True)


#: True in the isolated test runner's workers (set by their zygote before it forks them): the
#: set-up cell runs there too, but no test cell does (the tests run in the grading process), so
#: there is nothing to record, and recording would import IPython and numpy.testing in every worker.
IN_ISOLATED_WORKER = False


def install_guard() -> Guard:
    """Record the checking functions as they are now (call before any student code).

    Returns
    -------
    Guard
        Call ``.verify()`` at the start of every test cell.
    """
    guard = Guard()
    if IN_ISOLATED_WORKER:
        return guard
    for mod_name, attr in GUARDED:
        try:
            module = importlib.import_module(mod_name)
        except ImportError:
            continue
        value = getattr(module, attr, _MISSING)
        if value is _MISSING:
            continue
        guard.originals[(mod_name, attr)] = value
        guard.codes[(mod_name, attr)] = _code_of(value)
    guard.hooks = _ipython_hooks()
    guard.trace = sys.gettrace()
    guard.allclose = np.allclose
    guard.assert_allclose = np.testing.assert_allclose
    return guard
