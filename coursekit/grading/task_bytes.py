"""One submission's grading task as bytes: everything a worker needs, no shared filesystem.

:func:`pack_task` puts into one deflated zip archive

- ``task.json``: the assignment, the student, the per-cell timeout, the kernel
  limits, the isolation mode, the sandbox uid and the wall limit;
- ``course/nbgrader_config.py``, ``course/<source>/<assignment>/`` (the source
  notebook with its hidden tests and the files nbgrader copies from it) and
  ``course/<release>/<assignment>/`` (the released notebook);
- ``course/.nbgrader-work/gradebook-snapshot.db``: a *template* gradebook, the
  assignment's definition without any student, submission or grade
  (:func:`gradebook_template`), so no other student's scores leave the client;
- ``course/<submitted>/<student>/<assignment>/``: the submission.

:func:`unpack_task` rebuilds that course folder in a private folder of the
worker and returns the settings. :func:`pack_folder` / :func:`unpack_folder`
carry the graded files back. Standard library only.
"""

from __future__ import annotations

import fnmatch
import io
import json
import os
import shutil
import sqlite3
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

TASK_FILE = "task.json"
COURSE = "course"
SNAPSHOT = ".nbgrader-work/gradebook-snapshot.db"
#: Tables of nbgrader's gradebook that hold students and their work (children first).
STUDENT_TABLES = ("comment", "grade", "submitted_notebook", "submitted_assignment", "student")
#: Settings a task must carry (see :func:`pack_task`).
SETTINGS = ("assignment", "student", "timeout", "limits", "isolation", "uid", "wall_limit")


def gradebook_template(snapshot: str | os.PathLike[str], dest: str | os.PathLike[str]) -> Path:
    """Copy a gradebook without its students: assignments, notebooks and cells only.

    Parameters
    ----------
    snapshot : path-like
        An SQLite gradebook (e.g. :func:`coursekit.grading.writer.snapshot`).
    dest : path-like
        The template to write (replaced).

    Returns
    -------
    Path
        ``dest``.
    """
    dest = Path(dest)
    dest.unlink(missing_ok=True)
    shutil.copyfile(snapshot, dest)
    con = sqlite3.connect(dest)
    try:
        tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        missing = {"assignment", "notebook", "base_cell"} - tables
        if missing:
            raise ValueError(f"{snapshot} is not an nbgrader gradebook (no table {sorted(missing)[0]})")
        with con:
            for table in STUDENT_TABLES:
                if table in tables:
                    con.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
        con.execute("VACUUM")
    finally:
        con.close()
    return dest


def _ignored(rel: PurePosixPath, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatch(part, pat) for part in rel.parts for pat in patterns)


def _add_folder(zf: zipfile.ZipFile, folder: Path, arcdir: str, ignore: Iterable[str] = ()) -> None:
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*")):
        rel = PurePosixPath(path.relative_to(folder).as_posix())
        if path.is_file() and not path.is_symlink() and not _ignored(rel, ignore):
            zf.write(path, f"{arcdir}/{rel}" if arcdir else str(rel))


def pack_task(course: Any, settings: Mapping[str, Any], template: str | os.PathLike[str]) -> bytes:
    """The grading task of one submission, as bytes (a deflated zip archive).

    Parameters
    ----------
    course : coursekit.grading.course.Course
        The client's course folder.
    settings : mapping
        ``assignment``, ``student``, ``timeout`` (per cell, or None), ``limits``
        (``memory``, ``nproc``, ``fsize`` in bytes), ``isolation`` (``"bwrap"`` or
        ``"limits only"``), ``uid`` (or None) and ``wall_limit`` (seconds).
    template : path-like
        The gradebook template (:func:`gradebook_template`).

    Returns
    -------
    bytes
        The archive; :func:`unpack_task` reads it.
    """
    missing = [key for key in SETTINGS if key not in settings]
    if missing:
        raise ValueError(f"a grading task needs the settings {', '.join(missing)}")
    assignment, student = settings["assignment"], settings["student"]
    submitted = course.submitted_dir / student / assignment
    if not submitted.is_dir():
        raise FileNotFoundError(f"no submission of {assignment!r} by {student!r} in {submitted}")
    ignore = list(course.config().CourseDirectory.get("ignore", []))
    rel = {name: getattr(course, f"{name}_dir").relative_to(course.root).as_posix()
           for name in ("source", "release", "submitted")}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        zf.writestr(TASK_FILE, json.dumps({**dict(settings), "dirs": rel}, sort_keys=True))
        zf.write(course.root / "nbgrader_config.py", f"{COURSE}/nbgrader_config.py")
        _add_folder(zf, course.source_dir / assignment, f"{COURSE}/{rel['source']}/{assignment}", ignore)
        _add_folder(zf, course.release_dir / assignment, f"{COURSE}/{rel['release']}/{assignment}", ignore)
        _add_folder(zf, submitted, f"{COURSE}/{rel['submitted']}/{student}/{assignment}")
        zf.write(template, f"{COURSE}/{SNAPSHOT}")
    return buf.getvalue()


def _safe_extract(zf: zipfile.ZipFile, dest: Path) -> None:
    root = dest.resolve()
    for info in zf.infolist():
        target = (dest / info.filename).resolve()
        if not target.is_relative_to(root) or info.filename.startswith("/"):
            raise ValueError(f"refusing to unpack {info.filename!r}: it points outside the folder")
    zf.extractall(dest)


def unpack_task(data: bytes, dest: str | os.PathLike[str]) -> dict[str, Any]:
    """Rebuild a task's course folder under ``dest``; return its settings.

    Returns
    -------
    dict
        The settings of :func:`pack_task` plus ``course`` (the rebuilt folder)
        and ``snapshot`` (its gradebook template copy).
    """
    dest = Path(dest)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        try:
            settings = json.loads(zf.read(TASK_FILE))
        except KeyError:
            raise ValueError("not a grading task: the archive has no task.json") from None
        _safe_extract(zf, dest)
    (dest / TASK_FILE).unlink()
    settings["course"] = str(dest / COURSE)
    settings["snapshot"] = str(dest / COURSE / SNAPSHOT)
    return settings


def pack_folder(folder: str | os.PathLike[str]) -> bytes:
    """A folder's files as a deflated zip archive (empty archive when it does not exist)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        _add_folder(zf, Path(folder), "")
    return buf.getvalue()


def unpack_folder(data: bytes, dest: str | os.PathLike[str]) -> list[Path]:
    """Replace the folder ``dest`` by the files of ``data`` (:func:`pack_folder`); return them."""
    dest = Path(dest)
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        _safe_extract(zf, dest)
        names = [info.filename for info in zf.infolist() if not info.is_dir()]
    return sorted(dest / PurePosixPath(name) for name in names)
