"""Gate decisions and approvals on every store backend: the newest row per version wins."""

from __future__ import annotations

import pytest

from opsloop.errors import InvalidInputError
from opsloop.store import OpsStore
from store_fixtures import model


def test_gate_decisions(store: OpsStore) -> None:
    m = model()
    g = store.record_gate(
        model=m,
        version="2",
        champion_version="1",
        metric="roc_auc",
        policy="non_inferiority",
        margin=0.01,
        floor=0.7,
        challenger_value=0.81,
        champion_value=0.80,
        passed=True,
        reasons=["ok"],
    )
    assert g.difference == pytest.approx(0.01)
    found = store.find_gate(m, "2")
    assert found is not None and found.passed and found.reasons == ["ok"]
    assert store.find_gate(m, "3") is None
    assert store.list_events(m)[-1].kind == "gate_passed"


def test_approvals_latest_status_wins(store: OpsStore) -> None:
    m = model()
    store.set_approval(m, "2", "pending")
    store.set_approval(m, "3", "pending")
    assert [a.version for a in store.list_pending(m)] == ["2", "3"]
    store.set_approval(m, "2", "approved", actor="bob", comment="looks good")
    assert [a.version for a in store.list_pending(m)] == ["3"]
    a = store.find_approval(m, "2")
    assert a is not None and (a.status, a.actor, a.comment) == ("approved", "bob", "looks good")
    with pytest.raises(InvalidInputError, match="approval status"):
        store.set_approval(m, "2", "maybe")
    kinds = [e.kind for e in store.list_events(m)]
    assert kinds == ["approval_pending", "approval_pending", "approved"]
