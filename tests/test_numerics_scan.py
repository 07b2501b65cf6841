"""The course practises the stable numerics it teaches (issue 12).

Scans the code cells of every lecture notebook and every assignment source
notebook for the numerically unstable forms that ``coursekit.activations`` and
``coursekit.losses`` replace:

- a hand-written sigmoid ``1 / (1 + np.exp(-z))`` (overflows for z << 0);
- the log of a probability patched with an epsilon, ``np.log(p + 1e-12)``, or
  with a clip, ``np.log(np.clip(p, ...))``;
- the log of a probability computed in the cell, ``np.log(p[...])``,
  ``np.log(y_hat)``, ``np.log(1 - y_hat)``, ``np.log(sigmoid(z))``;
- a naive softmax ``np.exp(z) / np.exp(z).sum()`` of a bare, unshifted array;
- a naive softplus ``np.log(1 + np.exp(z))``.

A teaching cell may show such a form on purpose (to make it fail in front of
the student). It says so with a comment ``# unstable on purpose: <why>`` on the
same line or in the comment lines directly above the line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*/*.ipynb"))
MARKER = re.compile(r"#\s*unstable on purpose:\s*\S")

_MOD = r"(?:np|numpy|math|tf\.math|tf)"
_NUM = r"(?:\d+(?:\.\d*)?(?:e-?\d+)?)"
# exp arguments that are safe inside 1/(1 + exp(.)): -|z|, a number, or z[mask] (the branch-split stable form)
_SAFE_EXP_ARG = rf"\s*-?\s*(?:{_MOD}\.abs\(|{_NUM}\s*\)|\w+\[\w+\]\s*\))"
_PROB_NAME = r"(?:p|P|probs?|probabilities|y_hat|yhat|y_pred|pred|preds|predictions|a_out|f)"

PATTERNS: dict[str, re.Pattern[str]] = {
    "hand-written sigmoid 1/(1+exp(-z)): use ck.activations.sigmoid": re.compile(
        rf"\b1(?:\.0*)?\s*/\s*\(\s*1(?:\.0*)?\s*\+\s*{_MOD}\.exp\((?!{_SAFE_EXP_ARG})"),
    "hand-written sigmoid exp(z)/(1+exp(z)): use ck.activations.sigmoid": re.compile(
        rf"{_MOD}\.exp\((\w+)\)\s*/\s*\(\s*1(?:\.0*)?\s*\+\s*{_MOD}\.exp\(\s*\1\s*\)\s*\)"),
    "log of a probability plus an epsilon: use ck.losses (log_softmax, *_cross_entropy*)": re.compile(
        rf"{_MOD}\.log\((?:[^()]|\([^()]*\))*\+\s*(?:\d+(?:\.\d*)?e-\d+|1e-\d+|eps\w*|EPS\w*|epsilon\w*)\s*\)"),
    "log of a clipped probability: use ck.losses on logits": re.compile(
        rf"{_MOD}\.log\(\s*(?:np|numpy)\.clip\("),
    "log of a probability: compute log-probabilities from logits (ck.losses)": re.compile(
        rf"{_MOD}\.log\(\s*(?:1(?:\.0*)?\s*-\s*)?{_PROB_NAME}\b(?!\s*\()"),
    "log of a sigmoid/softmax output: use ck.losses.log_sigmoid / log_softmax": re.compile(
        rf"{_MOD}\.log\(\s*(?:1(?:\.0*)?\s*-\s*)?(?:[\w.]*\.)?(?:sigmoid|softmax)\("),
    "naive softmax exp(z)/sum(exp(z)): subtract the max (ck.activations.softmax)": re.compile(
        r"(?:np|numpy)\.exp\((\w+)\)\s*/\s*(?:(?:np|numpy)\.sum\(\s*(?:np|numpy)\.exp\(\s*\1\s*\)"
        r"|(?:np|numpy)\.exp\(\s*\1\s*\)\.sum\()"),
    "naive softplus log(1 + exp(z)): use ck.activations.softplus or np.logaddexp(0, z)": re.compile(
        rf"(?:np|numpy)\.log\(\s*1(?:\.0*)?\s*\+\s*(?:np|numpy)\.exp\((?!\s*-\s*{_MOD}\.abs\(|\s*-?\s*{_NUM}\s*\))"),
}


@dataclass(frozen=True)
class Finding:
    """One unstable line: where it is and what it matches."""

    file: str
    cell: int
    cell_id: str
    line: int
    text: str
    problem: str

    def __str__(self) -> str:
        return (f"{self.file}, cell {self.cell} (id {self.cell_id}), line {self.line}: {self.problem}\n"
                f"    {self.text.strip()}")


def _code_part(line: str) -> str:
    """The line without its comment (a '#' outside quotes starts it)."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote and line[i - 1] != "\\":
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            return line[:i]
    return line


def _marked(lines: list[str], k: int) -> bool:
    """True when line k, or the block of comment-only lines directly above it, carries the marker."""
    if MARKER.search(lines[k]):
        return True
    j = k - 1
    while j >= 0 and lines[j].strip().startswith("#"):
        if MARKER.search(lines[j]):
            return True
        j -= 1
    return False


def scan_source(source: str) -> list[tuple[int, str, str]]:
    """Return (line number, line, problem) for every unmarked unstable form in Python source."""
    found = []
    lines = source.splitlines()
    for k, line in enumerate(lines):
        if line.lstrip().startswith(("%", "!")):
            continue                                   # IPython magics and shell lines
        code = _code_part(line)
        for problem, pattern in PATTERNS.items():
            if pattern.search(code) and not _marked(lines, k):
                found.append((k + 1, line, problem))
    return found


def scan_notebook(path: Path) -> list[Finding]:
    """Scan the code cells of one notebook."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    findings = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        for line_no, text, problem in scan_source(src):
            findings.append(Finding(str(path.relative_to(ROOT)), i, cell.get("id", "?"), line_no, text, problem))
    return findings


# --- the scanner itself: it must catch the forms and let the stable ones through ------------------

UNSTABLE = [
    "s = 1 / (1 + np.exp(-z))",
    "return 1.0/(1.0+np.exp(-x))",
    "y_hat = 1 / (1 + np.exp(-(H @ w2 + b2)))",
    "s = np.exp(z) / (1 + np.exp(z))",
    "loss = -np.log(p[rows, y] + 1e-12).mean()",
    "loss = -np.mean(np.log(probs + eps))",
    "l = np.log(ck.activations.softmax(z) + 1e-9)",
    "l = -np.log(np.clip(p, 1e-12, 1.0))",
    "loss = -np.log(p[np.arange(len(y)), y]).mean()",
    "return -np.mean(y * np.log(y_hat) + (1 - y) * np.log(1 - y_hat))",
    "ce = -np.sum(Y * np.log(P), axis=1)",
    "l = np.log(sigmoid(z))",
    "l = np.log(1 - ck.activations.sigmoid(z))",
    "q = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)",
    "q = np.exp(z) / np.sum(np.exp(z))",
    "sp = np.log(1 + np.exp(z))",
    "t = tf.math.log(p + 1e-7)",
]
STABLE = [
    "s = ck.activations.sigmoid(z)",
    "e = np.exp(-np.abs(z)); s = np.where(z >= 0, 1 / (1 + e), e / (1 + e))",
    "out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))",
    "p1 = 1 / (1 + np.exp(-1.0))",
    "loss = ck.losses.softmax_cross_entropy(logits, y)",
    "lp = z - z.max(axis=1, keepdims=True); lp -= np.log(np.sum(np.exp(lp), axis=1, keepdims=True))",
    "sp = np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))",
    "sp = np.log(1 + np.exp(-np.abs(z)))",
    "ln = np.log(1 + np.exp(-1.0))",
    "ratio = np.log(variance)",
    "ln2 = np.log(2)",
    "x = np.log(f_value(3))",
    "# 1 / (1 + np.exp(-z)) in a comment is prose, not code",
    "print('np.log(p + 1e-12)' )  # unstable on purpose: a string, and marked",
]


@pytest.mark.parametrize("line", UNSTABLE)
def test_scanner_flags_the_unstable_form(line):
    assert scan_source(line), f"the scanner missed: {line}"


@pytest.mark.parametrize("line", STABLE)
def test_scanner_lets_the_stable_form_through(line):
    assert not scan_source(line), f"the scanner flagged a stable line: {line} -> {scan_source(line)}"


def test_the_marker_allows_a_teaching_line():
    on_line = "naive = 1 / (1 + np.exp(-z))   # unstable on purpose: overflows for z = -1000"
    above = "# unstable on purpose: the textbook formula, to show log 0\nloss = -np.log(y_hat)"
    assert not scan_source(on_line) and not scan_source(above)
    # the marker needs a reason, and covers only the line directly below its comment block
    assert scan_source("naive = 1 / (1 + np.exp(-z))   # unstable on purpose:")
    assert scan_source("# unstable on purpose: first\nx = 1\nloss = -np.log(y_hat)")


def test_there_are_sources_to_scan():
    names = {p.name for p in SOURCES}
    assert "05-2_xor_sigmoid.ipynb" in names and any(p.parent.parent.name == "solutions" for p in SOURCES)


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(ROOT)) for p in SOURCES])
def test_no_unstable_numerics(path):
    findings = scan_notebook(path)
    assert not findings, (
        "unstable numerics (use coursekit.activations / coursekit.losses, or mark a teaching line with "
        "'# unstable on purpose: <why>'):\n" + "\n".join(str(f) for f in findings))
