"""Detect, explain and repair a gradebook.db that nbgrader left without an alembic version.

nbgrader creates a new gradebook in two steps: SQLAlchemy creates every table of the
current schema, then the ``alembic`` executable (found on PATH) names the schema's
revision, which is stored in the table ``alembic_version``. When ``alembic`` is not on
PATH (JupyterLab started as ``.venv/bin/jupyter lab``), the second step fails: the
tables exist, ``alembic_version`` does not, and nbgrader never retries. A later
``nbgrader db upgrade`` then replays every migration from the first one and stops at
``duplicate column name: kernelspec``.

Because the tables were created from nbgrader's current models, the repair is to
record the current head revision, after checking that every table and column of the
current schema is really there (anything else is reported, never guessed at).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Diagnosis:
    """What :func:`diagnose` found in a gradebook."""

    path: Path
    exists: bool
    has_version: bool = False
    version: str | None = None
    head: str | None = None
    missing: list[str] = field(default_factory=list)  # "table" or "table.column"

    @property
    def needs_repair(self) -> bool:
        """True for the broken state this module repairs (tables, no version)."""
        return self.exists and not self.has_version

    @property
    def repairable(self) -> bool:
        return self.needs_repair and not self.missing and self.head is not None

    def explain(self) -> str:
        """One paragraph for the instructor."""
        if not self.exists:
            return f"{self.path}: no gradebook yet (nbgrader creates it on first use)."
        if self.has_version:
            state = "up to date" if self.version == self.head else f"at {self.version}"
            return (f"{self.path}: healthy, alembic revision {self.version} "
                    f"({state}; nbgrader's head is {self.head}).")
        text = (f"{self.path} has nbgrader's tables but no alembic_version table: it was "
                "created while the `alembic` executable was not on PATH (e.g. JupyterLab "
                "started as .venv/bin/jupyter lab). `nbgrader db upgrade` cannot repair it "
                "(it fails with 'duplicate column name: kernelspec').")
        if self.repairable:
            return text + (f" Its schema is nbgrader's current one: `coursekit-grade "
                           f"gradebook --repair` records revision {self.head}.")
        return text + (" Its schema is not the current one (missing: "
                       f"{', '.join(self.missing) or 'alembic head unknown'}); move the file "
                       "aside and let nbgrader create a new one, then re-run autograde.")


def _head() -> str | None:
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import ALEMBIC_DIR

    return ScriptDirectory(ALEMBIC_DIR).get_current_head()


def _expected_schema() -> dict[str, set[str]]:
    from nbgrader.api import Base

    return {name: {c.name for c in table.columns} for name, table in Base.metadata.tables.items()}


def diagnose(path: str | Path = "gradebook.db") -> Diagnosis:
    """Inspect the SQLite gradebook at ``path`` (read-only)."""
    path = Path(path)
    if not path.exists():
        return Diagnosis(path, exists=False, head=_head())
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            return Diagnosis(path, exists=False, head=_head())
        diag = Diagnosis(path, exists=True, head=_head())
        if "alembic_version" in tables:
            diag.has_version = True
            row = con.execute("SELECT version_num FROM alembic_version").fetchone()
            diag.version = row[0] if row else None
            return diag
        for table, columns in _expected_schema().items():
            if table not in tables:
                diag.missing.append(table)
                continue
            have = {r[1] for r in con.execute(f'PRAGMA table_info("{table}")')}
            diag.missing += [f"{table}.{c}" for c in sorted(columns - have)]
        return diag
    finally:
        con.close()


def repair(path: str | Path = "gradebook.db") -> Diagnosis:
    """Record nbgrader's head revision in a gradebook that lacks one; return the new state.

    Raises
    ------
    ValueError
        If the gradebook is not in the state this repairs (its schema differs from
        nbgrader's current one); nothing is written then.
    """
    diag = diagnose(path)
    if not diag.needs_repair:
        return diag
    if not diag.repairable:
        raise ValueError(diag.explain())
    con = sqlite3.connect(str(diag.path))
    try:
        with con:
            con.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                        "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))")
            con.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (diag.head,))
    finally:
        con.close()
    return diagnose(path)


__all__ = ["Diagnosis", "diagnose", "repair"]
