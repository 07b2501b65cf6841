"""The mutation gate stays current (coursekit.grading.mutants, ``make mutants``).

``make mutants`` grades every mutant (minutes). Here, cheaply: the list of equivalent
mutants beside each SPEC.md names only mutants that exist, each with a reason, and
they do survive; and the recorded fingerprint of the mutant set still matches, so a
change to a solution region (new mutants) fails until ``make mutants`` is run again
and the list updated.
"""

from __future__ import annotations

import hashlib
import re

import pytest

from coursekit.grading.mutants import (
    ROOT,
    all_mutants,
    equivalent_list,
    grade_mutant,
)

ASSIGNMENTS = ["backprop", "optimizers_regularization"]


def _fingerprint(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:16]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_equivalent_mutant_list_is_current(assignment):
    path = ROOT / "solutions" / assignment / "EQUIVALENT_MUTANTS.md"
    text = path.read_text()
    _, mutants = all_mutants(assignment)
    ids = [m.id for m in mutants]
    recorded = re.search(r"mutants: (\d+), fingerprint: ([0-9a-f]{16})", text)
    assert recorded, f"{path.name}: the line 'mutants: N, fingerprint: F' is missing"
    assert (int(recorded.group(1)), recorded.group(2)) == (len(ids), _fingerprint(ids)), (
        f"the mutants of {assignment} changed ({len(ids)}, {_fingerprint(ids)}): run `make mutants A={assignment}` "
        f"and update {path}")
    listed = equivalent_list(assignment)
    assert set(listed) <= set(ids), f"stale entries: {sorted(set(listed) - set(ids))}"
    assert all(len(reason.split()) >= 4 for reason in listed.values()), listed


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_listed_equivalent_mutants_do_survive(assignment):
    source_nb, mutants = all_mutants(assignment)
    listed = equivalent_list(assignment)
    for mutant in mutants:
        if mutant.id in listed:
            assert not grade_mutant(source_nb, mutant), f"{mutant.id} is killed now: remove it from the list"


def test_mutants_cover_every_kind_and_the_calls_of_mlp_loss_and_grads():
    _, mutants = all_mutants("backprop")
    mlp = [m.id for m in mutants if m.cell == "mlp_loss_and_grads"]
    for kind in ("swap-args", "cache3->cache2", "drop-statement", "z2->z1"):
        assert any(kind in m for m in mlp), kind
    ids = " ".join(m.id for m in mutants)
    for kind in ("Add->Sub", "drop-transpose", "axis=", "keepdims=", "sum->mean", "drop-right-term", "GtE->Gt",
                 "0->1"):
        assert kind in ids, kind
