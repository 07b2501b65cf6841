"""Copy a folder of submitted notebooks into nbgrader's ``submitted/`` layout.

Accepted layouts of the folder a learning platform exports (one per student):

- ``<folder>/<student>/<anything>.ipynb`` (a folder per student, searched recursively);
- ``<folder>/<student>.ipynb``;
- Canvas: ``<folder>/<student>_<id>_<id>_<original name>.ipynb`` (also ``<student>_LATE_...``).

Each notebook lands in ``submitted/<student>/<assignment>/<notebook>.ipynb``
with a ``timestamp.txt`` (the file's modification time, UTC). An earlier,
different copy is never overwritten: it is moved to
``.nbgrader-work/archive/<assignment>/<student>/<its timestamp>/`` first.
Collecting the same files again changes nothing. Invalid notebook JSON is
collected as it is (autograding gives it 0 points with the reason).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from coursekit.grading.course import Course, atomic_write_bytes, atomic_write_text

CANVAS = re.compile(r"^(?P<student>[^_]+?)(?:_LATE)?_(?P<id1>\d+)_(?P<id2>\d+)_(?P<name>.+)\.ipynb$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.@+-]")
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"


@dataclass
class Collected:
    """What happened to one student's submission."""

    student: str
    status: str  # "new", "updated" or "unchanged"
    notebooks: list[Path]
    archived: Path | None = None
    ignored: list[Path] | None = None


def student_id(raw: str) -> str:
    """A folder-safe student id: characters outside ``[A-Za-z0-9_.@+-]`` become ``_``.

    Raises
    ------
    ValueError
        For an empty name.
    """
    sid = _UNSAFE.sub("_", raw.strip()).strip(".")
    if not sid:
        raise ValueError(f"cannot make a student id from {raw!r}")
    return sid


def _normalise(name: str) -> str:
    name = re.sub(r"\s*\(\d+\)$|-\d+$", "", name)  # "backprop (1)", "backprop-2"
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _match_notebook(filename: str, expected: list[str]) -> str:
    if len(expected) == 1:
        return expected[0]
    stem = _normalise(Path(filename).stem)
    for name in expected:
        if _normalise(name) == stem or stem.endswith(_normalise(name)):
            return name
    return Path(filename).stem


def discover(source: str | os.PathLike[str]) -> dict[str, list[Path]]:
    """Map student id -> notebook files found in ``source`` (a folder or one notebook)."""
    source = Path(source)
    found: dict[str, list[Path]] = {}
    if source.is_file():
        entries = [source]
    elif source.is_dir():
        entries = sorted(p for p in source.iterdir() if not p.name.startswith("."))
    else:
        raise FileNotFoundError(f"no such file or folder: {source}")
    for entry in entries:
        if entry.is_dir():
            nbs = sorted(
                p for p in entry.rglob("*.ipynb")
                if ".ipynb_checkpoints" not in p.parts and not p.name.startswith(".")
            )
            if nbs:
                found.setdefault(student_id(entry.name), []).extend(nbs)
        elif entry.suffix == ".ipynb":
            m = CANVAS.match(entry.name)
            sid = student_id(m["student"] if m else entry.stem)
            found.setdefault(sid, []).append(entry)
    return found


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _timestamp_of(path: Path) -> str:
    when = dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC)
    return when.strftime(TIMESTAMP_FORMAT)


def collect(
    course_dir: str | os.PathLike[str],
    assignment: str,
    source: str | os.PathLike[str],
    *,
    log: Callable[[str], None] | None = print,
) -> dict[str, Collected]:
    """Collect the notebooks in ``source`` as submissions of ``assignment``.

    Parameters
    ----------
    course_dir : path-like
        The course folder.
    assignment : str
        Assignment name (a folder of ``solutions/``).
    source : path-like
        Folder exported by the learning platform, or a single notebook.
    log : callable, optional
        Receives one line per student; ``None`` for silence.

    Returns
    -------
    dict
        Student id -> :class:`Collected`.
    """
    course = Course(course_dir)
    expected = course.notebooks(assignment)
    results: dict[str, Collected] = {}
    for sid, files in sorted(discover(source).items()):
        chosen: dict[str, Path] = {}
        ignored: list[Path] = []
        for f in sorted(files, key=lambda p: p.stat().st_mtime):
            name = _match_notebook(f.name, expected)
            if name in chosen:
                ignored.append(chosen[name])  # keep the newest file of that notebook
            chosen[name] = f
        dest = course.submitted_dir / sid / assignment
        incoming = {f"{name}.ipynb": _sha(f) for name, f in chosen.items()}
        existing = (
            {p.name: _sha(p) for p in dest.glob("*.ipynb")} if dest.is_dir() else {}
        )
        if existing and existing == incoming:
            results[sid] = Collected(sid, "unchanged", sorted(dest.glob("*.ipynb")), None, ignored)
            if log:
                log(f"{sid}: unchanged")
            continue
        archived = None
        if dest.is_dir() and any(dest.iterdir()):
            stamp_file = dest / "timestamp.txt"
            label = (
                stamp_file.read_text().strip() if stamp_file.is_file() else "undated"
            )
            label = re.sub(r"[^0-9A-Za-z]+", "-", label).strip("-")
            archived = course.work_dir / "archive" / assignment / sid / label
            n = 1
            while archived.exists():
                n += 1
                archived = archived.with_name(f"{label}-{n}")
            archived.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(dest), str(archived))
        dest.mkdir(parents=True, exist_ok=True)
        newest = max(chosen.values(), key=lambda p: p.stat().st_mtime)
        for name, f in chosen.items():
            atomic_write_bytes(dest / f"{name}.ipynb", f.read_bytes())
        atomic_write_text(dest / "timestamp.txt", _timestamp_of(newest) + "\n")
        status = "updated" if archived else "new"
        results[sid] = Collected(sid, status, sorted(dest.glob("*.ipynb")), archived, ignored)
        if log:
            extra = f" (earlier copy kept in {archived})" if archived else ""
            log(f"{sid}: {status}{extra}")
    return results
