"""coursekit.runner: the main job executes notebooks, renders HTML, writes a summary."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from coursekit import runner

FIXTURES = Path(__file__).parent / "fixtures" / "runner"


def test_runner_executes_renders_and_summarises(tmp_path, capsys):
    src = tmp_path / "nbs"
    shutil.copytree(FIXTURES, src)
    out = tmp_path / "out"
    status = runner.main([str(src), "--out", str(out), "--quick", "--timeout", "120"])
    assert status == 1  # one notebook fails on purpose
    summary = (out / "summary.md").read_text()
    assert "| 01_ok | ok |" in summary and "answer = 0.4200" in summary
    assert "| 02_fails | FAILED |" in summary and "planted failure" in summary
    assert "1 of 2 notebooks ran ok" in summary
    html = (out / "01_ok.html").read_text()
    assert "data:image/png;base64" in html or "image/png" in html  # the figure was rendered
    assert (out / "index.html").read_text().count("<tr>") == 3
    assert "planted failure" in capsys.readouterr().out


def test_runner_only_filter_and_missing_folder(tmp_path):
    src = tmp_path / "nbs"
    shutil.copytree(FIXTURES, src)
    results = runner.run_all(src, tmp_path / "o", only=["01"], timeout=120)
    assert [r.name for r in results] == ["01_ok"] and results[0].status == "ok"
    try:
        runner.run_all(tmp_path / "empty", tmp_path / "o2")
    except FileNotFoundError as exc:
        assert "no notebooks" in str(exc)
    else:
        raise AssertionError("an empty folder must be reported")


def test_allow_errors_runs_every_cell_and_says_errors(tmp_path):
    """The timing bench on the stand-in: a failed assert must not cut the notebook short."""
    src = tmp_path / "nbs"
    shutil.copytree(FIXTURES, src)
    strict, = runner.run_all(src, tmp_path / "strict", only=["02"], timeout=120)
    lenient, = runner.run_all(src, tmp_path / "lenient", only=["02"], timeout=120, allow_errors=True)
    assert strict.status == "FAILED" and lenient.status == "ERRORS"
    assert "planted failure" in lenient.error
    ran = json.loads((tmp_path / "lenient" / "02_fails.ipynb").read_text())["cells"]
    assert ran[-1]["execution_count"] is not None  # the cell after the failure ran
    never = json.loads((tmp_path / "strict" / "02_fails.ipynb").read_text())["cells"]
    assert never[-1]["execution_count"] is None


def test_runner_jobs_two_runs_side_by_side_single_threaded(tmp_path):
    src = tmp_path / "nbs"
    shutil.copytree(FIXTURES, src)
    out = tmp_path / "out"
    results = runner.run_all(src, out, quick=True, jobs=2, timeout=120)
    assert [r.name for r in results] == ["01_ok", "02_fails"]  # name order, whatever finished first
    assert [r.status for r in results] == ["ok", "FAILED"]
    ok = results[0]
    assert ok.metric == "answer = 0.4200" and ok.cpu_seconds > 0
    assert [cid for cid, _ in ok.cells] == ["d59d58c9"] and ok.cells[0][1] >= 0
    saved = json.loads((out / "summary.json").read_text())
    assert [r["name"] for r in saved] == ["01_ok", "02_fails"] and "cells" in saved[0]
    env = runner._kernel_env(True, seed=2, threads=1)
    assert env["COURSEKIT_SEED"] == "2" and env["COURSEKIT_QUICK"] == "1"
    assert env["OPENBLAS_NUM_THREADS"] == env["TF_NUM_INTRAOP_THREADS"] == "1"
    with pytest.raises(ValueError, match="jobs"):
        runner.run_all(src, out, jobs=0)


def test_verify_matrix_table_has_a_row_per_notebook_seed_and_mode(tmp_path, capsys):
    src = tmp_path / "nbs"
    shutil.copytree(FIXTURES, src)
    (src / "01_ok.ipynb").write_text(
        (src / "01_ok.ipynb").read_text().replace(
            "ck.report_metric('answer', 0.42)", "ck.report_metric('seed', float(ck.seed(0)))"))
    out = tmp_path / "verify"
    status = runner.main([str(src), "--out", str(out), "--seeds", "0", "2", "--modes", "quick",
                          "--only", "01", "--timeout", "120"])
    assert status == 0
    table = (out / "verify.md").read_text()
    assert "| 01_ok | 0 | quick | ok |" in table and "seed = 0.0000" in table
    assert "| 01_ok | 2 | quick | ok |" in table and "seed = 2.0000" in table  # COURSEKIT_SEED reached the kernel
    assert "2 of 2 runs ok." in table and (out / "seed2-quick" / "01_ok.html").is_file()
    assert "| notebook | seed | mode |" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        runner.main([str(src), "--seeds", "0", "--quick"])
