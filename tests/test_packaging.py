"""pyproject.toml and environment.yml agree; the Colab install stays light."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def _norm(req: str) -> str:
    return str(Requirement(req)).lower().replace("_", "-")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _environment_pip() -> list[str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    reqs = []
    for line in lines[start + 1:]:
        m = re.match(r"\s+-\s+(.+)$", line)
        if not m:
            break
        reqs.append(m.group(1).strip().strip("\"'"))
    return reqs


def test_environment_yml_and_pyproject_list_the_same_packages():
    project = _pyproject()["project"]
    wanted = {_norm(r) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        wanted |= {_norm(r) for r in extra}
    env_reqs = {_norm(r) for r in _environment_pip() if not r.startswith("-e")}
    assert env_reqs == wanted, (
        f"only in environment.yml: {sorted(env_reqs - wanted)}; "
        f"only in pyproject.toml: {sorted(wanted - env_reqs)}"
    )


def test_environment_yml_installs_coursekit_editable_on_python_311():
    text = (ROOT / "environment.yml").read_text()
    assert "- python=3.11" in text
    assert "-e .[dev]" in _environment_pip()


def test_colab_install_needs_no_tensorflow_nbgrader_or_jupyterlab():
    core = {re.split(r"[<>=!~ \[]", r)[0].lower() for r in _pyproject()["project"]["dependencies"]}
    assert core.isdisjoint({"tensorflow", "tensorflow-cpu", "nbgrader", "jupyterlab", "notebook", "keras"})


# (sys_platform, platform_machine) of the platforms students use, and the TensorFlow
# distribution each must get: tensorflow-cpu has wheels only for Linux x86_64 and Windows.
_PLATFORMS = {
    ("linux", "x86_64"): "tensorflow-cpu",
    ("win32", "AMD64"): "tensorflow-cpu",
    ("darwin", "arm64"): "tensorflow",
    ("darwin", "x86_64"): "tensorflow",
    ("linux", "aarch64"): "tensorflow",
}


def test_cpu_extras_never_pull_cuda_wheels():
    extras = _pyproject()["project"]["optional-dependencies"]
    for name, reqs in extras.items():
        for req in map(Requirement, reqs):
            assert "and-cuda" not in req.extras, (name, str(req))


@pytest.mark.parametrize("extra", ["tf", "course", "dev"])
@pytest.mark.parametrize("platform", sorted(_PLATFORMS))
def test_each_platform_gets_exactly_one_tensorflow_that_has_wheels_there(extra, platform):
    env = {**default_environment(), "sys_platform": platform[0], "platform_machine": platform[1],
           "extra": ""}
    reqs = map(Requirement, _pyproject()["project"]["optional-dependencies"][extra])
    tf = [r.name for r in reqs if r.name in ("tensorflow", "tensorflow-cpu")
          and (r.marker is None or r.marker.evaluate(env))]
    assert tf == [_PLATFORMS[platform]], (extra, platform, tf)


def test_environment_yml_keeps_the_tensorflow_markers():
    env = [Requirement(r) for r in _environment_pip() if r.startswith("tensorflow")]
    project = [Requirement(r) for r in _pyproject()["project"]["optional-dependencies"]["dev"]
               if r.startswith("tensorflow")]
    assert {str(r) for r in env} == {str(r) for r in project} and len(env) == 2


def test_every_requirement_has_a_lower_bound():
    project = _pyproject()["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    assert all(">=" in r for r in reqs), [r for r in reqs if ">=" not in r]
