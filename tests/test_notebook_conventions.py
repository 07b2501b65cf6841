"""Every lecture notebook follows docs/conventions.md; the README links each one."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from coursekit import _meta

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# Names fixed by the course outline (links must stay stable).
REQUIRED = [
    "01_why_deep_learning", "02_perceptron", "03_activation_functions",
    "04_hidden_layers_and_representations", "05-1_xor_perceptron", "05-2_xor_sigmoid",
    "05-3_xor_relu", "06_losses", "07_gradient_descent", "08_backpropagation",
    "09_initialization", "10_optimizers", "11_overfitting_and_regularization",
    "12_mnist_first_deep_network", "13_fashion_mnist_keras_gpu",
]


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _src(cell: dict) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def test_every_required_notebook_exists():
    names = {p.stem for p in NOTEBOOKS}
    missing = [n for n in REQUIRED if n not in names]
    assert not missing, f"missing notebooks: {missing}"


@pytest.fixture(params=NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def nb(request):
    return request.param, _load(request.param)


def test_first_cell_has_title_badge_and_objectives(nb):
    path, data = nb
    first = data["cells"][0]
    text = _src(first)
    assert first["cell_type"] == "markdown"
    assert re.match(r"# \S", text), "the first line must be the '# Title'"
    badge_target = _meta.colab_url(f"notebooks/{path.name}")
    assert f"]({badge_target})" in text, f"the Colab badge must link to {badge_target}"
    assert _meta.COLAB_BADGE_IMG in text
    assert re.search(r"(?im)^#+\s*learning objectives", text)


def test_setup_cell_installs_on_colab_only_and_seeds(nb):
    _, data = nb
    setup = data["cells"][1]
    text = _src(setup)
    assert setup["cell_type"] == "code"
    assert 'if "google.colab" in sys.modules:' in text
    assert _meta.colab_install_line() in text, "the Colab install must be the one in coursekit._meta"
    assert "--no-deps" in _meta.colab_install_line(), "Colab's preinstalled packages must stay as they are"
    assert 'raise RuntimeError("Installing coursekit failed' in text, "a failed install must stop the notebook"
    tf_quiet = text.find('os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")')
    assert tf_quiet != -1 and tf_quiet < text.find("import coursekit"), "quiet TF must be set before imports"
    # TF 2.20 writes "oneDNN custom operations are on" to stderr before its logging starts, whatever
    # TF_CPP_MIN_LOG_LEVEL says (on CPUs where oneDNN is on by default): a pink box under the setup cell
    onednn = text.find('os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")')
    assert onednn != -1 and onednn < text.find("import coursekit"), "oneDNN off must be set before imports"
    assert "ck.set_seeds(" in text and "ck.quick_mode()" in text


def test_notebook_is_stored_clean(nb):
    _, data = nb
    assert data["nbformat"] == 4 and data["nbformat_minor"] >= 5
    assert data["metadata"]["kernelspec"]["name"] == "python3"
    ids = [c.get("id") for c in data["cells"]]
    assert all(ids) and len(set(ids)) == len(ids), "cell ids must exist and be unique"
    for cell in data["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"cell {cell['id']} has stored outputs"
            assert cell.get("execution_count") is None


def test_ends_with_summary_and_questions(nb):
    _, data = nb
    headings = [_src(c) for c in data["cells"][-4:] if c["cell_type"] == "markdown"]
    joined = "\n".join(headings)
    assert re.search(r"(?m)^##\s*Summary", joined)
    assert re.search(r"(?m)^##\s*Check your understanding", joined)


def test_answers_are_collapsed_and_reports_a_key_metric(nb):
    _, data = nb
    for cell in data["cells"]:
        if "answer" in cell.get("metadata", {}).get("tags", []):
            assert cell["metadata"].get("jupyter", {}).get("source_hidden") is True
    code = "\n".join(_src(c) for c in data["cells"] if c["cell_type"] == "code")
    assert "report_metric(" in code, "call ck.report_metric(...) on the headline result"
    assert "QUICK" in code or "ck.pick(" in code or "quick_mode" in code


def test_readme_outline_links_every_notebook_and_its_badge():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        rel = f"notebooks/{path.name}"
        assert f"]({rel})" in readme, f"README outline lacks a link to {rel}"
        assert _meta.colab_url(rel) in readme, f"README outline lacks the Colab badge of {rel}"
