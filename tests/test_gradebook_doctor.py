"""A gradebook created without `alembic` on PATH is detected, explained and repaired."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("nbgrader")

from coursekit.grading import gradebook_doctor  # noqa: E402

BIN = str(Path(sys.executable).parent)


def _broken_gradebook(tmp_path: Path) -> Path:
    """What Formgrader leaves when JupyterLab was started without the venv's bin/ on PATH."""
    db = tmp_path / "gradebook.db"
    code = ("from nbgrader.api import Gradebook\n"
            "try:\n    Gradebook('sqlite:///gradebook.db')\n"
            "except FileNotFoundError as e:\n    print('FileNotFoundError', e.filename)\n")
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != BIN)
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, text=True,
                         capture_output=True, env={**os.environ, "PATH": path}, check=True)
    assert "FileNotFoundError alembic" in out.stdout, out.stdout + out.stderr
    return db


def test_missing_alembic_leaves_a_gradebook_that_upgrade_cannot_fix(tmp_path):
    db = _broken_gradebook(tmp_path)
    diag = gradebook_doctor.diagnose(db)
    assert diag.needs_repair and diag.repairable and not diag.missing
    assert "duplicate column name: kernelspec" in diag.explain()
    up = subprocess.run([f"{BIN}/nbgrader", "db", "upgrade"], cwd=tmp_path, text=True,
                        capture_output=True)
    assert "duplicate column name: kernelspec" in up.stdout + up.stderr


def test_repair_records_the_head_revision_and_upgrade_then_succeeds(tmp_path):
    db = _broken_gradebook(tmp_path)
    after = gradebook_doctor.repair(db)
    assert after.has_version and after.version == after.head and not after.needs_repair
    up = subprocess.run([f"{BIN}/nbgrader", "db", "upgrade"], cwd=tmp_path, text=True,
                        capture_output=True)
    assert up.returncode == 0, up.stdout + up.stderr
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db}") as gb:
        gb.add_assignment("backprop")
        assert [a.name for a in gb.assignments] == ["backprop"]


def test_a_gradebook_with_another_schema_is_not_touched(tmp_path):
    db = _broken_gradebook(tmp_path)
    con = sqlite3.connect(db)
    con.execute("DROP TABLE grade")
    con.commit()
    con.close()
    diag = gradebook_doctor.diagnose(db)
    assert diag.needs_repair and not diag.repairable and "grade" in diag.missing
    with pytest.raises(ValueError, match="move the file aside"):
        gradebook_doctor.repair(db)
    assert not gradebook_doctor.diagnose(db).has_version


def test_healthy_and_absent_gradebooks_need_nothing(tmp_path):
    assert not gradebook_doctor.diagnose(tmp_path / "gradebook.db").needs_repair
    from nbgrader.api import Gradebook

    Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}").close()  # alembic on PATH (conftest)
    diag = gradebook_doctor.diagnose(tmp_path / "gradebook.db")
    assert diag.has_version and diag.version == diag.head and "healthy" in diag.explain()
