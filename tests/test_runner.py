"""coursekit.runner: the main job executes notebooks, renders HTML, writes a summary."""

from __future__ import annotations

import shutil
from pathlib import Path

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
