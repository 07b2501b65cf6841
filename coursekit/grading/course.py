"""The course folder: where nbgrader's files live, and its configuration.

The configuration is read from ``<course_dir>/nbgrader_config.py`` (the one at
the repository root; tests copy it into a temporary course), so ``nbgrader``
commands and ``coursekit-grade`` agree on every setting.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG_FILE = "nbgrader_config.py"
WORK_DIR = ".nbgrader-work"


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never half.

    Parameters
    ----------
    path : path-like
        Destination; its folder is created when missing.
    data : bytes
        The complete new content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Atomically write UTF-8 ``text`` to ``path`` (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON to ``path``."""
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")


def find_course_dir(start: str | os.PathLike[str] | None = None) -> Path:
    """Return the nearest folder at or above ``start`` (default: cwd) holding ``nbgrader_config.py``.

    Raises
    ------
    FileNotFoundError
        When no such folder exists.
    """
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise FileNotFoundError(
        f"no {CONFIG_FILE} found in {here} or above: run coursekit-grade from the "
        "repository root, or pass --course DIR"
    )


@dataclass
class Course:
    """Paths and nbgrader settings of one course folder.

    Parameters
    ----------
    root : path-like
        The course folder (holds ``nbgrader_config.py``).
    timeout : int, optional
        Per-cell execution limit in seconds (overrides ``Execute.timeout``).
    overrides : dict, optional
        Extra traitlets settings, e.g. ``{"Execute": {"timeout": 60}}``.
    """

    root: Path
    timeout: int | None = None
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
        if not (self.root / CONFIG_FILE).is_file():
            raise FileNotFoundError(f"{self.root} has no {CONFIG_FILE}; is it a course folder?")

    # -- configuration -------------------------------------------------
    def config(self) -> Any:
        """The traitlets ``Config`` of ``nbgrader_config.py`` plus the overrides."""
        from traitlets.config import Config
        from traitlets.config.loader import PyFileConfigLoader

        cfg = PyFileConfigLoader(CONFIG_FILE, path=str(self.root)).load_config()
        # the course may have been copied: its root is where the file is now
        cfg.CourseDirectory.root = str(self.root)
        extra = Config(self.overrides)
        cfg.merge(extra)
        if self.timeout is not None:
            cfg.Execute.timeout = int(self.timeout)
        return cfg

    def _setting(self, section: str, key: str, default: Any) -> Any:
        cfg = self.config()
        return cfg[section][key] if key in cfg[section] else default

    @property
    def db_url(self) -> str:
        """SQLAlchemy URL of the gradebook."""
        return self._setting(
            "CourseDirectory", "db_url", "sqlite:///" + str(self.root / "gradebook.db")
        )

    @property
    def db_path(self) -> Path | None:
        """The gradebook file, when the gradebook is SQLite."""
        url = self.db_url
        if not url.startswith("sqlite:///"):
            return None
        return Path(url[len("sqlite:///") :].split("?", 1)[0])

    @property
    def course_id(self) -> str:
        """nbgrader course id."""
        return self._setting("CourseDirectory", "course_id", "default_course")

    @property
    def exec_timeout(self) -> int:
        """Per-cell execution limit in seconds."""
        return int(self._setting("Execute", "timeout", 30))

    def _dir(self, key: str, default: str) -> Path:
        return self.root / self._setting("CourseDirectory", key, default)

    @property
    def source_dir(self) -> Path:
        """nbgrader's source folder (``solutions/``)."""
        return self._dir("source_directory", "source")

    @property
    def release_dir(self) -> Path:
        """nbgrader's release folder (``assignments/``)."""
        return self._dir("release_directory", "release")

    @property
    def submitted_dir(self) -> Path:
        """``submitted/<student>/<assignment>/``."""
        return self._dir("submitted_directory", "submitted")

    @property
    def autograded_dir(self) -> Path:
        """``autograded/<student>/<assignment>/``."""
        return self._dir("autograded_directory", "autograded")

    @property
    def feedback_dir(self) -> Path:
        """``feedback/<student>/<assignment>/``."""
        return self._dir("feedback_directory", "feedback")

    @property
    def work_dir(self) -> Path:
        """coursekit's own working files (reports, kernelspecs, archive)."""
        return self.root / WORK_DIR

    def report_path(self, assignment: str, student: str) -> Path:
        """Where the grading report (JSON) of one submission is kept."""
        return self.work_dir / "reports" / assignment / f"{student}.json"

    def assignments(self) -> list[str]:
        """Names of the assignments in the source folder (folders with a notebook)."""
        if not self.source_dir.is_dir():
            return []
        return sorted(
            p.name for p in self.source_dir.iterdir() if p.is_dir() and any(p.glob("*.ipynb"))
        )

    def notebooks(self, assignment: str) -> list[str]:
        """Notebook names (without ``.ipynb``) of an assignment's source folder."""
        folder = self.source_dir / assignment
        if not folder.is_dir():
            raise FileNotFoundError(
                f"no assignment {assignment!r}: {folder} does not exist "
                f"(known: {', '.join(self.assignments()) or 'none'})"
            )
        return sorted(p.stem for p in folder.glob("*.ipynb"))

    def students(self, assignment: str) -> list[str]:
        """Students with a submission of ``assignment`` in ``submitted/``."""
        if not self.submitted_dir.is_dir():
            return []
        return sorted(
            p.name for p in self.submitted_dir.iterdir() if (p / assignment).is_dir()
        )

    def gradebook(self) -> Any:
        """An open ``nbgrader.api.Gradebook`` (use as a context manager)."""
        from nbgrader.api import Gradebook

        ensure_tools_on_path()
        return Gradebook(self.db_url, self.course_id)

    def api(self, **config_overrides: Any) -> Any:
        """An ``nbgrader.apps.NbGraderAPI`` for this course."""
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory
        from traitlets.config import Config

        ensure_tools_on_path()
        cache_metadata_validation()
        cfg = self.config()
        cfg.merge(Config(config_overrides))
        coursedir = CourseDirectory(config=cfg)
        return NbGraderAPI(coursedir=coursedir, config=cfg)


class _CheckedSchemas:
    """``jsonschema`` as nbgrader's metadata validator uses it, with each schema checked once.

    ``jsonschema.validate(instance, schema)`` first checks the *schema* against its
    meta-schema, then validates the instance. nbgrader calls it for every graded cell of
    every notebook it reads (84 times per ``backprop`` submission: about 0.2 s of CPU, all
    of it checking nbgrader's own fixed schema again). Here the validator of a schema is made
    (and the schema checked) once; each instance is validated as before, with the same error.
    """

    def __init__(self, module: Any) -> None:
        self._module = module
        self._validators: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def validate(self, instance: Any, schema: Any, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            return self._module.validate(instance, schema, *args, **kwargs)
        key = json.dumps(schema, sort_keys=True)
        validator = self._validators.get(key)
        if validator is None:
            cls = self._module.validators.validator_for(schema)
            cls.check_schema(schema)
            validator = self._validators[key] = cls(schema)
        error = self._module.exceptions.best_match(validator.iter_errors(instance))
        if error is not None:
            raise error
        return None


def cache_metadata_validation() -> None:
    """Make nbgrader check its cell-metadata schema once per process, not once per cell
    (:class:`_CheckedSchemas`); the cells are validated exactly as before."""
    import jsonschema
    from nbgrader.nbgraderformat import common

    if not isinstance(common.jsonschema, _CheckedSchemas):
        common.jsonschema = _CheckedSchemas(jsonschema)


def ensure_tools_on_path() -> None:
    """Put the running interpreter's ``bin/`` on PATH (nbgrader runs ``alembic`` from there)."""
    import sys

    bin_dir = str(Path(sys.executable).parent)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if bin_dir not in parts:
        os.environ["PATH"] = os.pathsep.join([bin_dir, *parts])


def make_course_copy(
    dest: str | os.PathLike[str],
    assignments: Iterable[str],
    *,
    source_root: str | os.PathLike[str] | None = None,
    source_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Create a fresh course folder at ``dest`` with some assignments (for tests).

    Parameters
    ----------
    dest : path-like
        New course folder (created).
    assignments : iterable of str
        Assignment folders to copy from the source folder.
    source_root : path-like, optional
        Course whose ``nbgrader_config.py`` is copied (default: the repository).
    source_dir : path-like, optional
        Where the assignment folders are (default: ``<source_root>/solutions``).

    Returns
    -------
    Path
        ``dest``; no gradebook yet (created on first release/autograde).
    """
    root = Path(source_root) if source_root else Path(__file__).resolve().parents[2]
    src = Path(source_dir) if source_dir else Course(root).source_dir
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(root / "nbgrader_config.py", dest / "nbgrader_config.py")
    course = Course(dest)
    for name in assignments:
        if not (src / name).is_dir():
            raise FileNotFoundError(f"no assignment folder {src / name}")
        shutil.copytree(src / name, course.source_dir / name, dirs_exist_ok=True)
    return dest
