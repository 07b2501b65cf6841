"""Fast unit tests of coursekit.grading (no kernels): config, collect, scans, guard."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from coursekit.grading.collecting import collect, discover, student_id
from coursekit.grading.course import Course, atomic_write_json
from coursekit.grading.guard import TamperingError, install_guard
from coursekit.grading.sandbox import parse_size
from coursekit.grading.scan import scan_release, scan_source, scan_submission

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "grading"


@pytest.fixture
def course(tmp_path: Path) -> Course:
    from coursekit.grading import make_course_copy

    return Course(make_course_copy(tmp_path / "course", ["tiny"], source_dir=FIXTURE / "solutions"))


def _nb(text: str = "x = 1") -> str:
    return json.dumps({"cells": [{"cell_type": "code", "source": text, "metadata": {},
                                  "outputs": [], "execution_count": None}],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


# -- configuration -------------------------------------------------------------

def test_repository_config_uses_solutions_as_source_and_assignments_as_release() -> None:
    course = Course(ROOT)
    assert course.source_dir == ROOT / "solutions"
    assert course.release_dir == ROOT / "assignments"
    assert course.db_path == ROOT / "gradebook.db"


def test_repository_config_sets_the_grading_safety_options() -> None:
    cfg = Course(ROOT).config()
    assert cfg.Execute.timeout >= 300
    assert cfg.Execute.interrupt_on_timeout is True
    assert cfg.OverwriteCells.add_missing_cells is True
    assert "coursekit.grading.feedback.HiddenTestOutputs" in cfg.GenerateFeedback.preprocessors
    assert "coursekit.grading.preprocessors.DropDuplicateGradeCells" in cfg.Autograde.sanitize_preprocessors


def test_copied_course_points_at_its_own_folder_and_gradebook(course: Course) -> None:
    assert course.config().CourseDirectory.root == str(course.root)
    assert course.db_path == course.root / "gradebook.db"
    assert course.assignments() == ["tiny"]


def test_gradebook_and_working_folders_are_gitignored() -> None:
    ignored = (ROOT / ".gitignore").read_text().split()
    for entry in ("/gradebook.db", "/submitted/", "/autograded/", "/feedback/", "/.nbgrader-work/"):
        assert entry in ignored


def test_importing_coursekit_does_not_import_nbgrader() -> None:
    code = "import sys, coursekit; assert 'nbgrader' not in sys.modules; assert 'coursekit.grading' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_importing_coursekit_grading_does_not_import_nbgrader() -> None:
    code = ("import sys, coursekit.grading as g; g.GradeResult; "
            "assert 'nbgrader' not in sys.modules, sorted(m for m in sys.modules if 'nbgrader' in m)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_atomic_write_replaces_the_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "a" / "report.json"
    atomic_write_json(target, {"score": 1})
    atomic_write_json(target, {"score": 2})
    assert json.loads(target.read_text()) == {"score": 2}
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]


def test_parse_size_reads_units() -> None:
    assert parse_size("6G") == 6 * 1024**3
    assert parse_size("512M") == 512 * 1024**2
    assert parse_size("2GiB") == 2 * 1024**3
    assert parse_size(1000) == 1000
    with pytest.raises(ValueError, match="cannot read a size"):
        parse_size("lots")


def test_kernelspec_starts_the_sandbox_launcher(tmp_path: Path) -> None:
    from coursekit.grading.sandbox import install_kernelspec

    info = install_kernelspec(tmp_path, memory="3G")
    spec_dir = tmp_path / "jupyter" / "kernels" / info["kernel_name"]
    spec = json.loads((spec_dir / "kernel.json").read_text())
    assert spec["argv"][1].endswith("sandbox.py") and spec["argv"][-1] == "{connection_file}"
    assert spec["interrupt_mode"] == "message"  # a signal would reach bwrap, not the kernel
    config = json.loads((spec_dir / "sandbox.json").read_text())
    assert config == {"isolate": True, "memory": 3 * 1024**3, "nproc": 512, "fsize": 200 * 1024**2}
    assert info["isolation"] == "bwrap"
    # One BLAS thread per kernel (two workers share two cores) and quiet TensorFlow
    # (its C++ log lines on stderr would fail a test cell).
    assert spec["env"]["OPENBLAS_NUM_THREADS"] == "1"
    assert spec["env"]["TF_CPP_MIN_LOG_LEVEL"] == "3"


def test_kernelspec_without_isolation_keeps_the_limits(tmp_path: Path) -> None:
    from coursekit.grading.sandbox import install_kernelspec

    info = install_kernelspec(tmp_path, isolate=False)
    config = json.loads((tmp_path / "jupyter" / "kernels" / info["kernel_name"] / "sandbox.json").read_text())
    assert config["isolate"] is False and config["nproc"] == 512
    assert info["isolation"] == "limits only"


def test_wrap_builds_the_bwrap_command_line(tmp_path: Path) -> None:
    from coursekit.grading.sandbox import wrap

    argv = wrap(["python", "-c", "1"], workdir=tmp_path, uid=2_000_123,
                limits={"memory": "1G", "nproc": 64, "fsize": "10M"})
    assert Path(argv[0]).name == "bwrap"
    for flag in ("--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net",
                 "--die-with-parent", "--new-session", "--clearenv"):
        assert flag in argv, flag
    assert argv[argv.index("--cap-drop") + 1] == "ALL"
    assert [str(tmp_path), "/submission"] == argv[argv.index(str(tmp_path)) : argv.index(str(tmp_path)) + 2]
    assert f"--as={1024**3}" in argv and "--nproc=64" in argv
    assert argv[-3:] == ["python", "-c", "1"]
    mounted = {argv[i + 1] for i, a in enumerate(argv) if a in ("--bind", "--ro-bind")}
    assert str(ROOT / "solutions") not in mounted and str(ROOT) not in mounted
    if os.geteuid() == 0:  # root: an unprivileged uid of its own, no capability left
        assert "--reuid=2000123" in argv and "--bounding-set=-all" in argv


def test_describe_exit_reads_what_bwrap_saw(tmp_path: Path) -> None:
    from coursekit.grading.sandbox import describe_exit

    status = tmp_path / "status.json"
    status.write_text('{ "child-pid": 12 }\n{ "exit-code": 137 }\n')
    assert describe_exit(status) == "the kernel process was killed by SIGKILL (sandbox exit status 137)"
    status.write_text('{ "child-pid": 12 }\n{ "exit-code": 3 }\n')
    assert describe_exit(status) == "the kernel process exited with status 3"
    status.write_text('{ "child-pid": 12 }\n')
    assert describe_exit(status) is None


def test_strict_rule_gives_no_points_to_a_cell_that_raised_after_displaying(tmp_path: Path) -> None:
    import nbformat

    from coursekit.grading.runner import observe_cells

    nb = nbformat.v4.new_notebook()
    meta = {"nbgrader": {"grade": True, "solution": False, "locked": True, "points": 2,
                         "grade_id": "t1", "schema_version": 3}}
    cell = nbformat.v4.new_code_cell("_ck_guard.verify()\nassert False", metadata=meta)
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"application/vnd.coursekit.guard+json": {}}),
        nbformat.v4.new_output("execute_result", data={"text/plain": "2.0"}, execution_count=1),
        nbformat.v4.new_output("error", ename="AssertionError", evalue="", traceback=[]),
    ]
    nb.cells.append(cell)
    seen = observe_cells(nb, timeout=30, memory=None)
    assert seen["scores"] == {"t1": 0.0}  # nbgrader's partial-credit rule would give 2


# -- collect -------------------------------------------------------------------

def test_student_ids_are_made_folder_safe() -> None:
    assert student_id("Jane Doe") == "Jane_Doe"
    assert student_id("a/b\\c") == "a_b_c"
    with pytest.raises(ValueError):
        student_id("  ")


def test_discover_reads_the_three_platform_layouts(tmp_path: Path) -> None:
    (tmp_path / "alice" / "sub").mkdir(parents=True)
    (tmp_path / "alice" / "sub" / "whatever.ipynb").write_text(_nb())
    (tmp_path / "bob.ipynb").write_text(_nb())
    (tmp_path / "doecarol_12345_67890_tiny-1.ipynb").write_text(_nb())
    (tmp_path / "smithdan_LATE_1_2_tiny.ipynb").write_text(_nb())
    (tmp_path / "alice" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "alice" / ".ipynb_checkpoints" / "old.ipynb").write_text(_nb())
    found = discover(tmp_path)
    assert sorted(found) == ["alice", "bob", "doecarol", "smithdan"]
    assert [p.name for p in found["alice"]] == ["whatever.ipynb"]


def test_collect_writes_nbgrader_layout_with_timestamp(course: Course, tmp_path: Path) -> None:
    drop = tmp_path / "export"
    drop.mkdir()
    (drop / "doecarol_12345_67890_my upload.ipynb").write_text(_nb())
    got = collect(course.root, "tiny", drop, log=None)
    dest = course.submitted_dir / "doecarol" / "tiny"
    assert got["doecarol"].status == "new"
    assert (dest / "tiny.ipynb").read_text() == _nb()
    assert (dest / "timestamp.txt").read_text().strip().endswith("UTC")


def test_collecting_the_same_files_again_changes_nothing(course: Course, tmp_path: Path) -> None:
    drop = tmp_path / "export"
    drop.mkdir()
    (drop / "bob.ipynb").write_text(_nb())
    collect(course.root, "tiny", drop, log=None)
    again = collect(course.root, "tiny", drop, log=None)
    assert again["bob"].status == "unchanged"
    assert not (course.work_dir / "archive").exists()


def test_collecting_a_new_version_archives_the_earlier_copy(course: Course, tmp_path: Path) -> None:
    drop = tmp_path / "export"
    drop.mkdir()
    (drop / "bob.ipynb").write_text(_nb("x = 1"))
    collect(course.root, "tiny", drop, log=None)
    (drop / "bob.ipynb").write_text(_nb("x = 2"))
    got = collect(course.root, "tiny", drop, log=None)["bob"]
    assert got.status == "updated"
    assert (got.archived / "tiny.ipynb").read_text() == _nb("x = 1")
    assert (course.submitted_dir / "bob" / "tiny" / "tiny.ipynb").read_text() == _nb("x = 2")


def test_collect_keeps_invalid_json_as_it_is(course: Course, tmp_path: Path) -> None:
    drop = tmp_path / "export"
    drop.mkdir()
    (drop / "eve.ipynb").write_bytes(b"{ truncated")
    collect(course.root, "tiny", drop, log=None)
    assert (course.submitted_dir / "eve" / "tiny" / "tiny.ipynb").read_bytes() == b"{ truncated"


def test_collect_rejects_an_unknown_assignment(course: Course, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no assignment 'nope'"):
        collect(course.root, "nope", tmp_path, log=None)


# -- static scans --------------------------------------------------------------

@pytest.mark.parametrize(
    "code",
    [
        "import sqlite3",
        "open('../../gradebook.db')",
        "np.allclose = lambda *a, **k: True",
        "np.testing.assert_allclose = lambda *a, **k: None",
        "get_ipython().set_custom_exc((Exception,), h)",
        "import sys; sys.settrace(f)",
        "import builtins",
        "get_ipython().input_transformers_post.append(f)",
        "ck.check.assert_close = print",
        "_ck_guard.verify = lambda: None",
        "import os; os._exit(1)",
        "get_ipython().kernel.do_execute = fake",
        "import sys; sys.displayhook = show",
        "ref = globals()['_ref_square']",
    ],
)
def test_scan_flags_tampering_code(code: str) -> None:
    assert scan_source(code)


def test_scan_leaves_ordinary_solutions_alone() -> None:
    code = "def square(x):\n    return np.asarray(x, dtype=float) ** 2\nok = np.allclose(a, b)\n"
    assert scan_source(code) == []


def test_scan_leaves_keras_calls_alone() -> None:
    code = "model.compile(optimizer='adam', loss='mse')\nmodel.evaluate(x, y)\n"
    assert scan_source(code) == []


def test_scan_submission_ignores_locked_test_cells(tmp_path: Path) -> None:
    nb = json.loads(_nb("import sqlite3"))
    nb["cells"][0]["metadata"]["nbgrader"] = {"locked": True, "grade": True, "solution": False}
    path = tmp_path / "a.ipynb"
    path.write_text(json.dumps(nb))
    assert scan_submission(path) == []
    nb["cells"][0]["metadata"] = {}  # the student stripped the metadata: the code will run
    path.write_text(json.dumps(nb))
    assert scan_submission(path)


def test_scan_release_finds_a_leaked_hidden_test_line(tmp_path: Path) -> None:
    src, rel = tmp_path / "src", tmp_path / "rel"
    src.mkdir()
    rel.mkdir()
    source = json.loads((FIXTURE / "solutions" / "tiny" / "tiny.ipynb").read_text())
    (src / "tiny.ipynb").write_text(json.dumps(source))
    leaked = json.loads(json.dumps(source))
    for cell in leaked["cells"]:
        text = "".join(cell["source"])
        cell["source"] = text.replace("### BEGIN HIDDEN TESTS\n", "").replace("### END HIDDEN TESTS", "")
        cell["source"] = cell["source"].replace("### BEGIN SOLUTION\n", "").replace("### END SOLUTION", "")
    (rel / "tiny.ipynb").write_text(json.dumps(leaked))
    problems = scan_release(src, rel)
    assert any("_hidden_probe_q7 = np.linspace(-3.0, 3.0, 7)" in p for p in problems)
    assert any("return float(np.mean(x))" in p for p in problems)


# -- guard -----------------------------------------------------------------------

def test_guard_accepts_an_untouched_environment() -> None:
    install_guard().verify()


def test_guard_detects_a_replaced_allclose() -> None:
    guard = install_guard()
    original = np.allclose
    np.allclose = lambda *a, **k: True
    try:
        with pytest.raises(TamperingError, match="numpy.allclose was replaced"):
            guard.verify()
    finally:
        np.allclose = original
    guard.verify()


def test_guard_detects_a_swapped_code_object() -> None:
    import coursekit.check as check

    guard = install_guard()
    func = check.assert_close
    saved = func.__code__
    func.__code__ = (lambda *a, **k: None).__code__
    try:
        with pytest.raises(TamperingError, match="code of coursekit.check.assert_close"):
            guard.verify()
    finally:
        func.__code__ = saved


def test_guard_detects_a_replaced_testing_module() -> None:
    guard = install_guard()
    original = np.testing.assert_allclose
    np.testing.assert_allclose = lambda *a, **k: None
    try:
        with pytest.raises(TamperingError, match="assert_allclose"):
            guard.verify()
    finally:
        np.testing.assert_allclose = original


def test_guard_outputs_nothing_outside_autograding(capsys: pytest.CaptureFixture[str]) -> None:
    os.environ.pop("NBGRADER_EXECUTION", None)
    install_guard().verify()
    assert capsys.readouterr().out == ""


def test_exported_functions_stay_callable_after_importing_every_submodule() -> None:
    import importlib
    import pkgutil

    import coursekit.grading as grading

    for info in pkgutil.iter_modules(grading.__path__):
        importlib.import_module(f"coursekit.grading.{info.name}")
    for name in ("release", "collect", "autograde", "autograde_notebooks", "make_course_copy",
                 "generate_feedback", "export_grades", "summarize", "validate"):
        assert callable(getattr(grading, name)), name


_LAUNCHER = """
import sys, time
from coursekit.grading.sandbox import die_with_parent
parent, flag, delay = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
time.sleep(delay)            # still starting (python start-up, set-up) when the worker dies
die_with_parent(parent)
open(flag + ".armed", "w").close()
time.sleep(3)
open(flag + ".survived", "w").close()
"""
_WORKER = """
import os, subprocess, sys, time
flag, delay = sys.argv[1], sys.argv[2]
subprocess.Popen([sys.executable, "-c", sys.argv[3], str(os.getpid()), flag, delay],
                 stderr=open(flag + ".err", "w"))
if float(delay) == 0:        # wait until the launcher is armed, then die
    while not os.path.exists(flag + ".armed"):
        time.sleep(0.05)
os._exit(0)                  # a worker killed mid-task: no clean-up runs
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
@pytest.mark.parametrize("delay", [1.0, 0.0], ids=["worker-died-before-the-launcher-armed", "worker-died-after"])
def test_kernel_launcher_never_outlives_its_grading_worker(tmp_path: Path, delay: float) -> None:
    """A grading kernel must not survive a worker that died while (or after) starting it.

    bwrap's --die-with-parent covers only the time after bwrap started; a Dask worker killed
    while sandbox.py was still starting left an orphaned kernel running (seen on a loaded
    machine), so the launcher arms PR_SET_PDEATHSIG itself and exits if the worker is gone.
    """
    import time

    flag = str(tmp_path / "launcher")
    subprocess.run([sys.executable, "-c", _WORKER, flag, str(delay), _LAUNCHER], check=True, timeout=120)
    deadline = time.monotonic() + 60
    if delay:  # the worker was gone before the launcher armed: it must exit at once, saying why
        while time.monotonic() < deadline and "is gone" not in Path(flag + ".err").read_text():
            time.sleep(0.1)
        assert "is gone" in Path(flag + ".err").read_text()
        assert not os.path.exists(flag + ".armed")
    else:  # armed, then the worker died: the launcher gets SIGKILL before it can go on
        time.sleep(5)
        assert os.path.exists(flag + ".armed")
    assert not os.path.exists(flag + ".survived")
