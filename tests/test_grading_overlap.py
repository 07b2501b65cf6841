"""The runner of one submission runs the isolated tests beside the kernel run (issue 11, section 6).

The isolated tests read only the source notebook and the student's submitted file, so
:func:`coursekit.grading.runner.grade_submission` starts them in a thread before nbgrader
runs the kernel and collects them afterwards. These tests grade the tiny fixture with a
stand-in isolated grader that records when it ran and what it could see: overlapped by
default, one phase after the other with ``overlap=False``, and the scratch folder of the
submission (where the isolated sandboxes live) is never removed while they still run.
The order of events is asserted here, never the time saved: that is a speed figure, and
depends on the machine's load (``bench/grading_profile.py`` times both ways).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from coursekit.grading import autograde_notebooks, make_course_copy, release
from coursekit.grading.course import Course
from coursekit.grading.isolated import IsolatedResult
from coursekit.grading.runner import grade_submission, submission_task
from coursekit.grading.sandbox import UID_BASE, install_kernelspec, namespace_available
from coursekit.grading.writer import snapshot

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "grading" / "solutions"
SLEEP = 1.5


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("overlap")
    root = make_course_copy(tmp / "course", ["tiny"], source_dir=FIXTURE)
    release(root, ["tiny"], log=None)
    autograde_notebooks(root, "tiny", {"student000": FIXTURE / "tiny" / "tiny.ipynb"}, workers=1)
    course = Course(root)
    spec = install_kernelspec(course.work_dir, isolate=namespace_available())  # limits only without bwrap
    return submission_task(root, "tiny", "student000", spec=spec, snapshot=snapshot(course, tmp / "snap.db"),
                           uid=UID_BASE + 4343)


class Recorder:
    """A stand-in isolated grader: sleeps, then gives every hidden test of tiny full points."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, source: Path, submitted: Path, *, wrap: Any, timeout: float,
                 trained: Any = None) -> dict[str, IsolatedResult]:
        started = time.perf_counter()
        time.sleep(SLEEP)
        self.calls.append({"started": started, "source": source, "submitted": submitted,
                           "thread": threading.current_thread().name})
        return {"test_mean_hidden": IsolatedResult("test_mean_hidden", 2.0, 2.0, "")}


def _grade(task: dict[str, Any], **kwargs: Any) -> tuple[dict[str, Any], Recorder, float]:
    grader = Recorder()
    t0 = time.perf_counter()
    out = grade_submission(task, isolated=grader, **kwargs)
    assert out["status"] == "ok", out.get("reason")
    return out, grader, t0


def test_isolated_tests_start_before_the_kernel_run_ends(task: dict[str, Any]) -> None:
    out, grader, t0 = _grade(task)
    (call,) = grader.calls
    notebook_ended = t0 + out["phases"]["notebook"]
    assert call["started"] < notebook_ended, "the isolated tests waited for the kernel run"
    assert call["thread"].startswith("isolated"), call["thread"]
    assert call["source"].name == "tiny.ipynb" and call["submitted"].parent.name == "tiny"
    assert call["submitted"].parent.parent.name == "student000"
    # the runner waited for them, and used their score
    assert out["seconds"] >= SLEEP
    tiny = out["grades"]["tiny"]["grades"]
    assert tiny["test_mean_hidden"]["auto_score"] == 2.0


def test_overlap_false_runs_them_after_the_kernel(task: dict[str, Any]) -> None:
    out, grader, t0 = _grade(task, overlap=False)
    (call,) = grader.calls
    assert call["started"] >= t0 + out["phases"]["notebook"]
    assert out["seconds"] >= out["phases"]["notebook"] + SLEEP


def test_the_scratch_folder_outlives_the_isolated_tests(task: dict[str, Any], monkeypatch) -> None:
    """The isolated sandboxes live in the runner's scratch folder: it is removed only after they end,
    also when the kernel run fails first."""
    import coursekit.grading.runner as runner

    seen: dict[str, Any] = {}

    def grader(source: Path, submitted: Path, *, wrap: Any, timeout: float) -> dict[str, IsolatedResult]:
        import os

        run = Path(os.environ["COURSEKIT_SANDBOX_RUN"])  # the runner's scratch folder of this submission
        wrap(["true"])  # makes this test's sandbox folder inside it
        time.sleep(SLEEP)
        seen["alive"] = run.is_dir() and any(run.glob("iso-*")) if task["isolation"] == "bwrap" else run.is_dir()
        return {}

    class Broken:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass

        def autograde(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            return {"success": False, "error": "ValueError: the stand-in kernel run failed", "log": ""}

    monkeypatch.setattr(runner.Course, "api", lambda self, **overrides: Broken())  # undone after the test
    out = grade_submission(task, isolated=grader)
    assert out["status"] == "failed" and "the stand-in kernel run failed" in out["reason"]
    assert seen["alive"], "the scratch folder was removed while the isolated tests still ran"
    assert out["seconds"] >= SLEEP
