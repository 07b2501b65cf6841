"""One batch of honest and hostile submissions, graded together (issue 11, section 4).

Honest classmates keep their marks, no attack gains a point, no innocent
student is flagged, and the batch completes with every submission scored and
a reason where one lost points wholesale. Uses the tiny fixture assignment
(5 points) with short limits so that the batch takes about a minute or two.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from coursekit.grading import autograde_notebooks, generate_feedback, summarize
from coursekit.grading.feedback import hidden_test_lines, leaked_lines
from coursekit.grading.sandbox import UID_BASE, namespace_available

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "grading"
sys.path.insert(0, str(FIXTURE))
import hostile as H  # noqa: E402
import submissions as S  # noqa: E402

pytestmark = [
    pytest.mark.timeout(900),
    pytest.mark.skipif(not namespace_available(), reason="bubblewrap cannot create namespaces here"),
]
TIMEOUT = 10  # per cell
WALL = 75  # per submission (an honest one takes seconds; more on a loaded machine)
NPROC = 64

HONEST = {"honest_a": (S.correct, 5.0), "honest_b": (S.correct, 5.0),
          "honest_partial": (S.wrong_mean, 3.0), "honest_c": (S.correct, 5.0)}
#: name -> (builder, the points its answers are worth: a cheat must not get more)
HOSTILE = {
    "transformer_rewrite": (H.transformer_rewrite, 0.0),
    "do_execute_rewrite": (H.do_execute_rewrite, 0.0),
    "displayhook_partial_credit": (H.displayhook_partial_credit, 0.0),
    "reference_theft": (H.reference_theft, 0.0),
    "guard_and_helper_patching": (H.guard_and_helper_patching, 0.0),
    "name_rebinding": (H.name_rebinding, 0.0),
    "mount_escape": (H.mount_escape, 0.0),
    "kill_everything": (H.kill_everything, 0.0),
    "write_elsewhere": (H.write_elsewhere, 0.0),
    "read_test_source": (H.read_test_source, 5.0),
    "network": (H.network, 0.0),
    "keyring_relay": (H.keyring_relay, 0.0),
    "fork_bomb": (H.fork_bomb, 0.0),
    "ignore_sigint": (H.ignore_sigint, 0.0),
    "sleep_under_limits": (H.sleep_under_limits, 5.0),
}


#: the attacks that take longest (ignore_sigint runs until the WALL limit stops it): graded
#: first, so that their wait overlaps the rest of the batch instead of ending it
LONGEST = ("ignore_sigint", "sleep_under_limits")


def _order() -> list[str]:
    # honest ones spread through the batch, so each runs beside an attack
    hostile = sorted(HOSTILE, key=lambda name: name not in LONGEST)
    honest, out = list(HONEST), []
    while hostile or honest:
        out += hostile[:3] + honest[:1]
        hostile, honest = hostile[3:], honest[1:]
    return out


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("hostile")
    course, release = S.tiny_course(tmp)
    root = course.root
    targets = [root / "planted.txt", course.source_dir / "tiny" / "planted.txt",
               ROOT / "coursekit" / "planted_by_submission.py", Path.home() / "planted.txt"]
    builders = {**{k: v[0] for k, v in HONEST.items()}, **{k: v[0] for k, v in HOSTILE.items()}}
    paths = S.write_submissions(tmp / "subs", {name: builders[name] for name in _order()}, release,
                                course=str(root), nap=TIMEOUT / 2.5, targets="|".join(map(str, targets)))
    already = set(_sandboxed_processes())  # not this batch's (see test_no_sandboxed_process_is_left_running)
    results = autograde_notebooks(root, "tiny", paths, workers=2, timeout=TIMEOUT, memory="2G",
                                  nproc=NPROC, wall_limit=WALL)
    return {"course": course, "results": results, "targets": targets, "already_running": already}


def _sandboxed_processes() -> dict[int, str]:
    """pid -> ps line of every process running under the uids this test process hands to sandboxes."""
    from coursekit.grading.autograding import _uid_base

    base = _uid_base()  # the uids this process handed to its sandboxes (others may grade too)
    assert base >= UID_BASE
    out = subprocess.run(["ps", "-eo", "uid=,pid=,args="], capture_output=True, text=True).stdout
    return {int(line.split()[1]): line for line in out.splitlines()
            if base <= int(line.split()[0]) < base + 10_000}


def _printed(result: Any) -> str:
    text = []
    for path in result.notebooks:
        for cell in json.loads(Path(path).read_text())["cells"]:
            for out in cell.get("outputs", []):
                text.append("".join(out.get("text", "")))
    return "\n".join(text)


def test_the_batch_completes_with_every_submission_scored(batch: dict[str, Any]) -> None:
    results = batch["results"]
    assert set(results) == set(HONEST) | set(HOSTILE)
    course = batch["course"]
    with course.gradebook() as gb:
        stored = {s.student.id: s.score for s in gb.find_assignment("tiny").submissions}
    assert stored == {name: r.score for name, r in results.items()}
    for name, r in results.items():
        assert r.max_score == 5.0, name
        assert course.report_path("tiny", name).is_file(), name
        if r.score == 0.0:
            assert r.reason or all(t.message for t in r.tests.values()), str(r)


@pytest.mark.parametrize("name", list(HONEST))
def test_honest_submissions_keep_their_marks_and_are_not_flagged(batch: dict[str, Any], name: str) -> None:
    r = batch["results"][name]
    assert r.score == HONEST[name][1], str(r)
    assert r.reason is None and r.flags == [], str(r)
    assert r.isolation == "bwrap"


@pytest.mark.parametrize("name", list(HOSTILE))
def test_no_attack_gains_a_point(batch: dict[str, Any], name: str) -> None:
    r = batch["results"][name]
    assert r.score <= HOSTILE[name][1], str(r)


def test_sandbox_probes_were_all_refused(batch: dict[str, Any]) -> None:
    res = batch["results"]
    mount = _printed(res["mount_escape"])
    assert H.mount_escape_problems(mount) == [], mount
    net = _printed(res["network"])
    assert net.count(f"{H.PROBE_MARK} blocked") == 3 and "connected" not in net, net
    keys = _printed(res["keyring_relay"])
    assert keys.count(f"{H.PROBE_MARK} add_key refused") == 1 and "stored" not in keys, keys
    assert keys.count(f"{H.PROBE_MARK} keyctl refused") == 1 and "found" not in keys, keys
    fork = _printed(res["fork_bomb"])
    assert f"{H.PROBE_MARK} fork refused after" in fork, fork
    assert int(fork.split("refused after")[1].split()[0]) < NPROC
    wrote = _printed(res["write_elsewhere"])
    assert f"{H.PROBE_MARK} wrote" not in wrote and f"{H.PROBE_MARK} refused" in wrote, wrote


def test_the_mount_check_reports_an_escape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """The attack's own code, run here (no sandbox) against a libc whose calls all succeed
    and a course folder that is visible: the check must name every escape."""
    import ctypes

    course = tmp_path / "course"
    (course / "solutions" / "tiny").mkdir(parents=True)
    (course / "gradebook.db").write_text("")
    (course / "solutions" / "tiny" / "tiny.ipynb").write_text("{}")

    class Succeeds:  # every mount call returns 0; errno keeps a stale error, as a real success does
        def __init__(self, *_: Any, **__: Any) -> None:
            ctypes.set_errno(1)

        def __getattr__(self, name: str) -> Any:
            return lambda *args: 0

    monkeypatch.setattr(ctypes, "CDLL", Succeeds)
    exec(H.mount_escape_source(str(course)), {})
    escaped = capsys.readouterr().out
    problems = H.mount_escape_problems(escaped)
    assert len([p for p in problems if p.endswith("succeeded (rc 0)")]) == len(H.MOUNT_TARGETS) + 2, problems
    assert any("visible" in p for p in problems) and any("found" in p for p in problems), problems
    refused = escaped.replace("rc 0 errno 0", "rc -1 errno 1").replace("visible True", "visible False")
    assert H.mount_escape_problems(refused.replace("found 2", "found 0")) == []
    assert H.mount_escape_problems(refused) == ["gradebooks or solutions were found (or the search did not run)"]
    assert "no result printed" in H.mount_escape_problems(refused.split("PROBE remount")[0])[0]


def test_nothing_was_written_outside_the_sandbox(batch: dict[str, Any]) -> None:
    import site

    planted = [p for p in batch["targets"] if p.exists()]
    planted += [Path(p) / "zz_written_by_submission.pth" for p in site.getsitepackages()
                if (Path(p) / "zz_written_by_submission.pth").exists()]
    for p in planted:
        p.unlink()
    assert planted == []


def test_killing_everything_hurts_nobody_else(batch: dict[str, Any]) -> None:
    res = batch["results"]
    # the grader survived (this batch returned); the classmates graded beside it kept their marks
    assert all(res[n].score == HONEST[n][1] for n in HONEST)
    printed = _printed(res["kill_everything"])
    assert "killed []" in printed or res["kill_everything"].reason, printed


def test_ignoring_sigint_ends_at_the_wall_limit_with_the_reason(batch: dict[str, Any]) -> None:
    r = batch["results"]["ignore_sigint"]
    assert r.score == 0.0 and r.reason and "wall limit hit" in r.reason, str(r)
    assert r.seconds < WALL + 30


def test_sleeping_under_the_limits_is_graded_normally(batch: dict[str, Any]) -> None:
    r = batch["results"]["sleep_under_limits"]
    assert r.score == 5.0 and r.reason is None, str(r)


def test_no_hidden_test_line_reaches_the_kernel_or_any_feedback(batch: dict[str, Any]) -> None:
    course = batch["course"]
    source = json.loads((FIXTURE / "solutions" / "tiny" / "tiny.ipynb").read_text())
    hidden = hidden_test_lines(source)
    assert "_hidden_probe_q7 = np.linspace(-3.0, 3.0, 7)" in hidden
    printed = _printed(batch["results"]["read_test_source"])
    assert "print('In:', In)" in printed or "In:" in printed
    assert not [h for h in hidden if h in printed], "hidden test code reached the kernel"
    pages = generate_feedback(course.root, "tiny", log=None)
    for student, files in pages.items():
        for page in files:
            assert leaked_lines(page.read_text(), hidden) == [], (student, page)


def test_leak_check_finds_a_hidden_line_in_a_page() -> None:
    hidden = {"_hidden_probe_q7 = np.linspace(-3.0, 3.0, 7)"}
    page = "<pre>In: ['', '<span>_hidden_probe_q7</span> = np.linspace(-3.0, 3.0, 7)']</pre>"
    assert leaked_lines("<pre>_hidden_probe_q7 = np.linspace(-3.0, 3.0, 7)</pre>", hidden) == sorted(hidden)
    assert leaked_lines(page, hidden) == sorted(hidden)
    assert leaked_lines("<pre>square(x)</pre>", hidden) == []


def test_no_sandboxed_process_is_left_running(batch: dict[str, Any]) -> None:
    """No process of this batch outlives it. A process that was already running before the batch
    started is not this batch's: an earlier module of the same run (test_grading_distributed) kills
    grading workers on purpose, and one killed while bwrap was still setting up the kernel's
    sandbox can leave that kernel behind (bwrap's die-with-parent is not armed yet at that point)."""
    left = [line for pid, line in _sandboxed_processes().items() if pid not in batch["already_running"]]
    assert left == []


def test_summary_names_the_attackers_not_their_classmates(batch: dict[str, Any]) -> None:
    s = summarize(batch["course"].root, "tiny")
    assert not set(HONEST) & set(s["reasons"]) and not set(HONEST) & set(s["flags"])
    assert "ignore_sigint" in s["reasons"]
    assert s["isolation"] == ["bwrap"]
