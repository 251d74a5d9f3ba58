"""The event log on every store backend: filters, order, JSON-safe evidence."""

from __future__ import annotations

from datetime import UTC, datetime

from opsloop.store import OpsStore
from store_fixtures import model


def test_events_filter_order_and_json_safe_evidence(store: OpsStore) -> None:
    import numpy as np

    m = model()
    store.add_event(
        "trained",
        m,
        version="1",
        evidence={
            "auc": np.float64(0.8),
            "when": datetime(2026, 1, 1, tzinfo=UTC),
            "nan": float("nan"),
        },
    )
    store.add_event("drift_detected", m, summary="x")
    store.add_event("trained", model())
    events = store.list_events(m)
    assert [e.kind for e in events] == ["trained", "drift_detected"]
    assert events[0].evidence == {"auc": 0.8, "when": "2026-01-01T00:00:00+00:00", "nan": None}
    assert [e.kind for e in store.list_events(m, kinds=["drift_detected"])] == ["drift_detected"]
    assert len(store.list_events(m, limit=1)) == 1
    assert store.list_events(m, limit=1)[0].kind == "drift_detected"  # newest kept
