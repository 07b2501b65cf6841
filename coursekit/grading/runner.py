"""The runner of one submission (runs in a pool worker, never in the sandbox).

:func:`grade_submission` checks the notebooks, runs nbgrader's autograde
converter with the sandbox kernel against a *private copy* of the gradebook,
scores every test cell by what was observed (an error or stderr output, or a
missing guard confirmation, is 0 points, whatever else the cell displayed:
no partial credit read from outputs), replaces those scores by the isolated
test runner's (:mod:`coursekit.grading.isolated`) for notebooks that opt in
(started in a thread beside the kernel run: they read only the source notebook, the
submitted file and, for the training tests once the kernel has shut down, the plain-data
variables it left, :mod:`coursekit.grading.kernel_export`), and returns plain data. It
never writes the real gradebook: the parent does (:mod:`coursekit.grading.writer`).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from coursekit.grading.course import Course
from coursekit.grading.kernel_export import read_exported
from coursekit.grading.sandbox import (
    EXPORT_NAMES_ENV,
    ISOLATED,
    describe_exit,
    export_file,
    prepare_workdir,
    wrap,
)

UNVERIFIED = (
    "0 points: this test did not run as written (code in the submission rewrote or "
    "skipped the test cell)"
)
#: grade_isolated(source, submitted, *, wrap, timeout[, trained]) -> {grade_id: result}
IsolatedGrader = Callable[..., Mapping[str, Any]]


def _error_message(output: Mapping[str, Any], timeout: int) -> str:
    ename, evalue = output.get("ename", "Error"), str(output.get("evalue", "")).strip()
    if ename in ("KeyboardInterrupt", "CellTimeoutError"):
        return f"timed out: the cell ran longer than {timeout} s and was interrupted"
    return f"{ename}: {evalue}" if evalue else ename


def observe_cells(nb: Any, timeout: int, memory: int | None) -> dict[str, Any]:
    """Per test cell: points by the strict rule and the failure message; notes for the reason."""
    from nbgrader import utils

    from coursekit.grading.guard import GUARD_MIME, VERIFY_CALL

    scores: dict[str, float] = {}
    messages: dict[str, str] = {}
    notes: list[str] = []
    unverified: list[str] = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        where = f"cell {index}{f' ({gid})' if gid else ''}"
        outputs = cell.get("outputs", [])
        errors = [o for o in outputs if o.get("output_type") == "error"]
        stderr = [o for o in outputs if o.get("output_type") == "stream" and o.get("name") == "stderr"]
        is_test = utils.is_grade(cell) and not utils.is_solution(cell)
        confirmed = any(GUARD_MIME in o.get("data", {}) for o in outputs)
        if is_test:
            ok = not errors and not stderr and (confirmed or VERIFY_CALL not in cell.source)
            scores[gid] = float(meta.get("points", 0)) if ok else 0.0
            if not errors and not stderr and not ok:
                unverified.append(gid)
                messages[gid] = UNVERIFIED
            elif stderr and not errors:
                messages[gid] = "0 points: the test wrote to stderr"
        if not errors:
            continue
        msg = _error_message(errors[-1], timeout)
        if gid:
            messages[gid] = msg
        ename = errors[-1].get("ename")
        if msg.startswith("timed out"):
            notes.append(f"{where} timed out after {timeout} s (interrupted)")
        elif ename == "MemoryError":
            limit = f" of {memory / 1024**3:.3g} GiB" if memory else ""
            notes.append(f"{where} hit the memory limit (MemoryError under the address-space "
                         f"limit{limit})")
        elif ename == "TamperingError":
            notes.append("tampering: the checking functions were modified")
    if unverified:
        notes.append("tampering: test cells were rewritten or skipped (" + ", ".join(unverified) + ")")
    return {"scores": scores, "messages": messages, "notes": list(dict.fromkeys(notes)),
            "unverified": unverified}


def _invalid_notebooks(folder: Path) -> list[str]:
    import nbformat

    bad = []
    for path in sorted(folder.glob("*.ipynb")):
        try:
            nbformat.validate(nbformat.read(str(path), as_version=4))
        except Exception as exc:  # noqa: BLE001 - any parse problem is the student's file
            if type(exc).__name__ == "NotJSONError" or isinstance(exc, ValueError):
                why = "not valid JSON: truncated, or edited outside Jupyter?"
            else:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                why = f"{type(exc).__name__}: {first[:150]}"
            bad.append(f"{path.name} is not a valid notebook ({why})")
    return bad


def _opted_in(path: Path) -> bool:
    import nbformat

    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception:  # noqa: BLE001 - the source notebook is the instructor's
        return False
    return bool(nb.metadata.get("coursekit", {}).get("isolated_grading"))


def _load_isolated() -> IsolatedGrader | None:
    try:
        from coursekit.grading.isolated_grade import grade_isolated
    except ImportError:
        return None
    return grade_isolated


def _sandbox_wrapper(run: Path, uid: int | None, limits: Mapping[str, Any]) -> Callable[[list[str]], list[str]]:
    def sandboxed(argv: list[str]) -> list[str]:
        scratch = Path(tempfile.mkdtemp(prefix="iso-", dir=run))
        os.chmod(scratch, 0o755)
        prepare_workdir(scratch, uid)
        return wrap(argv, workdir=scratch, uid=uid, limits=dict(limits))
    return sandboxed


def _start_isolated(grader: IsolatedGrader, names: set[str], sources: Mapping[str, Path], folder: Path,
                    run: Path, task: Mapping[str, Any], timeout: int,
                    trained: Future | None = None) -> tuple[ThreadPoolExecutor, dict]:
    """Start the isolated tests of each opted-in notebook in a thread, beside the kernel run.

    They read only the source notebook and the student's submitted file (never the kernel's
    outputs), so nothing the kernel does can reach them; running them at the same time fills
    the waits of the kernel run (its start, its messages, its shutdown). ``trained`` (set
    once the kernel run has ended) holds the variables the notebook's training cells left
    (:mod:`coursekit.grading.kernel_export`): plain data, graded like a retraining's."""
    limits = dict(task.get("limits") or {})
    wrapper = (_sandbox_wrapper(run, task.get("uid"), limits)
               if task.get("isolation") == ISOLATED else (lambda argv: argv))
    budget = float(task.get("test_timeout") or min(timeout, 120))
    extra = {"trained": trained.result} if trained is not None else {}
    pool = ThreadPoolExecutor(max_workers=max(1, len(names)), thread_name_prefix="isolated")
    futures: dict[str, Future] = {
        name: pool.submit(grader, sources[name], folder / f"{name}.ipynb", wrap=wrapper, timeout=budget, **extra)
        for name in sorted(names)}
    return pool, futures


def _export_names(sources: Mapping[str, Path], opted: set[str], folder: Path) -> list[str]:
    """The training variables the kernel should hand over: only for a one-notebook assignment
    (its kernel's file is unambiguous) graded in isolation."""
    if len(sources) != 1 or opted != set(sources):
        return []
    try:
        from coursekit.grading.isolated_grade import trained_names

        (name,) = opted
        return trained_names(sources[name], folder / f"{name}.ipynb")
    except Exception:  # noqa: BLE001 - no names: the training tests retrain, as before
        return []


def _note_isolated_results(path: Path, results: Mapping[str, Any], seen: Mapping[str, Any]) -> dict[str, str]:
    """Put the isolated scores into the test cells (the feedback shows them): the failure
    messages, and first in the cell a note wherever the notebook's own run disagrees with
    the isolated score (:func:`coursekit.grading.results.isolation_note`). Returns those notes."""
    import html

    import nbformat

    from coursekit.grading.results import isolation_note

    nb = nbformat.read(str(path), as_version=4)
    notes: dict[str, str] = {}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        res = results.get(gid)
        if res is None:
            continue
        shown = seen["scores"].get(gid)
        note = isolation_note(res, shown is not None and shown >= res.max_points, seen["messages"].get(gid))
        if note:
            notes[gid] = note
            cell.outputs.insert(0, nbformat.v4.new_output("display_data", data={
                "text/plain": note,
                "text/html": f"<div class='ck-isolated-note' style='border-left: 4px solid #0072B2; "
                             f"padding: 4px 8px'><strong>{html.escape(note)}</strong></div>"}))
        if res.points >= res.max_points:
            continue
        text = res.message or "the test failed"
        ename, _, evalue = text.partition(": ") if ": " in text else ("AssertionError", "", text)
        if not re.fullmatch(r"[A-Za-z_][\w.]*", ename):
            ename, evalue = "AssertionError", text
        cell.outputs = [o for o in cell.outputs if o.get("output_type") != "error"]
        cell.outputs.append(nbformat.v4.new_output("error", ename=ename, evalue=evalue,
                                                   traceback=[f"{ename}: {evalue}"]))
    # nbgrader leaves its output read-only (0444), which only root may write anyway
    mode = stat.S_IMODE(path.stat().st_mode)
    os.chmod(path, mode | stat.S_IWUSR)
    try:
        nbformat.write(nb, str(path))
    finally:
        os.chmod(path, mode)
    return notes


def submission_task(course: str | os.PathLike[str], assignment: str, student: str, *, spec: Mapping[str, Any],
                    snapshot: str | os.PathLike[str], uid: int, timeout: int | None = None,
                    limits: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``task`` of :func:`grade_submission` for one student.

    ``spec`` is what :func:`coursekit.grading.sandbox.install_kernelspec` returned;
    ``snapshot`` the gradebook copy (:func:`coursekit.grading.writer.snapshot`); ``uid``
    the sandbox's uid for this submission; ``limits`` default to the kernelspec's.
    """
    if limits is None:
        limits = {"memory": spec["memory"], "nproc": spec["nproc"], "fsize": spec["fsize"]}
    return {"course": str(course), "assignment": assignment, "student": student, "timeout": timeout,
            "kernel_name": spec["kernel_name"], "jupyter_path": spec["jupyter_path"],
            "snapshot": str(snapshot), "uid": int(uid), "limits": dict(limits), "isolation": spec["isolation"]}


def grade_submission(task: Mapping[str, Any], *, isolated: IsolatedGrader | None | bool = True,
                     overlap: bool = True) -> dict[str, Any]:
    """Autograde one submission; return scores and observations (no real gradebook write).

    Parameters
    ----------
    task : mapping
        ``course``, ``assignment``, ``student``, ``timeout``, ``kernel_name``,
        ``jupyter_path``, ``snapshot`` (the gradebook copy), ``uid``, ``limits``, ``isolation``.
    isolated : callable, bool
        The isolated test runner (``True``: :func:`coursekit.grading.isolated_grade.grade_isolated`
        when importable; ``False``/``None``: none).
    overlap : bool
        Run the isolated tests at the same time as the kernel run (default); ``False`` runs
        them after it, one phase after the other (``bench/grading_profile.py`` times each).

    Returns
    -------
    dict
        ``status`` (``ok``, ``invalid``, ``failed``), ``reason``, ``grades`` (per notebook,
        for :func:`coursekit.grading.writer.write_result`), ``messages``, ``notebooks``, ``seconds``,
        ``test_notes`` (grade id -> what to tell the student where the notebook's own run of a
        test disagrees with its isolated score), ``from_notebook`` (the training tests graded on
        the variables the kernel's own run left, without retraining).
    """
    start = time.perf_counter()
    course = Course(task["course"], timeout=task.get("timeout"))
    assignment, student = task["assignment"], task["student"]
    timeout = course.exec_timeout
    limits = dict(task.get("limits") or {})
    out: dict[str, Any] = {"student": student, "status": "ok", "reason": None, "messages": {},
                           "grades": None, "notebooks": []}
    folder = course.submitted_dir / student / assignment
    bad = _invalid_notebooks(folder)
    if bad:
        out.update(status="invalid", reason="; ".join(bad), seconds=time.perf_counter() - start)
        return out
    grader = _load_isolated() if isolated is True else (isolated or None)
    sources = {p.stem: p for p in sorted((course.source_dir / assignment).glob("*.ipynb"))}
    opted = {name for name, p in sources.items() if grader is not None and _opted_in(p)}

    exported = _export_names(sources, opted, folder)
    trained: Future | None = Future() if exported else None
    run = Path(tempfile.mkdtemp(prefix="ck-", dir="/tmp"))
    pool: ThreadPoolExecutor | None = None
    pending: dict[str, Future] = {}
    try:
        os.chmod(run, 0o711)
        (run / "sock").mkdir()
        private = run / "gradebook.db"
        shutil.copy2(task["snapshot"], private)
        os.environ.update(JUPYTER_RUNTIME_DIR=str(run), COURSEKIT_SANDBOX_RUN=str(run),
                          COURSEKIT_SANDBOX_UID=str(task.get("uid") or ""),
                          COURSEKIT_SANDBOX_PARENT=str(os.getpid()),
                          JUPYTER_PATH=task["jupyter_path"])
        if exported:
            os.environ[EXPORT_NAMES_ENV] = ",".join(exported)
        else:
            os.environ.pop(EXPORT_NAMES_ENV, None)
        sanitize = list(course.config().Autograde.sanitize_preprocessors)
        if opted and opted == set(sources):
            # hidden tests never enter the student's kernel: the isolated runner grades them
            sanitize.insert(sanitize.index("nbgrader.preprocessors.OverwriteCells") + 1,
                            "nbgrader.preprocessors.ClearHiddenTests")
        overrides: dict[str, dict[str, Any]] = {
            "CourseDirectory": {"db_url": f"sqlite:///{private}"},
            "Execute": {"kernel_name": task["kernel_name"]},
            "KernelManager": {"transport": "ipc", "ip": str(run / "sock" / "k")},
            "Autograde": {"sanitize_preprocessors": sanitize},
        }
        if opted and overlap:
            pool, pending = _start_isolated(grader, opted, sources, folder, run, task, timeout, trained)
        res = course.api(**overrides).autograde(assignment, student, force=True, create=True)
        out["phases"] = {"notebook": time.perf_counter() - start}
        if trained is not None:  # the kernel has shut down: its file is complete (or absent)
            trained.set_result(read_exported(export_file(run, task.get("isolation") == ISOLATED), exported)
                               if res.get("success") else {})
        if not res.get("success"):
            error = (res.get("error") or "") + "\n" + (res.get("log") or "")
            out["status"] = "failed"
            if "DeadKernelError" in error or "kernel died" in error.lower():
                seen = describe_exit(run / "status.json") or "the kernel process ended"
                out["reason"] = f"the kernel died while running the notebook: {seen}; scored 0"
            else:
                found = re.findall(r"^\s*((?:\w+\.)*\w*(?:Error|Exception|Exit)\b:?.*)$", error, re.M)
                last = found[-1].strip() if found else (error.strip().splitlines() or ["unknown error"])[-1]
                out["reason"] = "autograding failed: " + last[:300]
            out["log_tail"] = error[-4000:]
            return out
        if opted and pool is None:  # overlap=False: the isolated tests start after the kernel run
            pool, pending = _start_isolated(grader, opted, sources, folder, run, task, timeout, trained)

        import nbformat

        from coursekit.grading.writer import read_private_grades

        grades = read_private_grades(f"sqlite:///{private}", course.course_id, assignment, student)
        notes: list[str] = []
        for path in sorted((course.autograded_dir / student / assignment).glob("*.ipynb")):
            out["notebooks"].append(str(path))
            seen = observe_cells(nbformat.read(str(path), as_version=4), timeout, limits.get("memory"))
            notes += seen["notes"]
            mine = grades.setdefault(path.stem, {"grades": {}, "comments": {}, "late_penalty": None})
            for gid, points in seen["scores"].items():
                mine["grades"].setdefault(gid, {"needs_manual_grade": False})["auto_score"] = points
            out["messages"].update(seen["messages"])
            if path.stem in opted:
                iso = pending[path.stem].result()
                out.setdefault("from_notebook", []).extend(g for g, r in iso.items() if getattr(r, "from_notebook", False))
                for gid, r in iso.items():
                    entry = mine["grades"].setdefault(gid, {"needs_manual_grade": False})
                    entry["auto_score"] = float(r.points)
                    if r.points < r.max_points:
                        out["messages"][gid] = r.message or "the test failed"
                    else:
                        out["messages"].pop(gid, None)
                out.setdefault("test_notes", {}).update(_note_isolated_results(path, iso, seen))
        out["phases"]["isolated tests"] = time.perf_counter() - start - out["phases"]["notebook"]
        out["grades"] = grades
        if notes:
            out["reason"] = "; ".join(dict.fromkeys(notes))
        return out
    finally:
        if trained is not None and not trained.done():  # the isolated tests may be waiting for it
            trained.set_result({})
        if pool is not None:  # its sandboxes live in `run`: wait for them before removing it
            pool.shutdown(wait=True)
        out["seconds"] = time.perf_counter() - start
        shutil.rmtree(run, ignore_errors=True)
