"""Deployment history on every store backend: revisions, the current one, the event written
with each in one transaction."""

from __future__ import annotations

from opsloop.store import OpsStore
from store_fixtures import model


def test_deployments_history_and_current(store: OpsStore) -> None:
    m = model()
    assert store.find_deployment(m) is None
    d1 = store.record_deployment(m, "1", reason="first")
    d2 = store.record_deployment(m, "2", reason="second", actor="alice")
    assert (d1.revision, d2.revision) == (1, 2)
    assert d2.previous_version == "1"
    current = store.find_deployment(m)
    assert current is not None and current.version == "2" and current.actor == "alice"
    assert current.ts.tzinfo is not None
    assert [d.version for d in store.list_deployments(m)] == ["1", "2"]
    kinds = [e.kind for e in store.list_events(m)]
    assert kinds == ["promoted", "promoted"]


def test_deployment_and_event_are_one_transaction(store: OpsStore) -> None:
    m = model()
    store.record_deployment(
        m, "1", reason="x", event_kind="rolled_back", evidence={"from_version": "2"}
    )
    (event,) = store.list_events(m)
    assert event.kind == "rolled_back" and event.evidence["from_version"] == "2"
    assert event.evidence["revision"] == 1
