"""One conformance suite for the ops store, run on in-memory SQLite, a SQLite file (WAL) and
PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from opsloop.errors import InvalidInputError, StoreError
from opsloop.store import OpsStore
from store_fixtures import POSTGRES, model, open_store


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


def test_monitor_results_raise_events(store: OpsStore) -> None:
    m = model()
    now = datetime.now(UTC)
    r = store.record_monitor(
        model=m,
        version="1",
        window_start=now - timedelta(hours=1),
        window_end=now,
        n_rows=500,
        n_labelled=300,
        drift_detected=True,
        drift_share=0.4,
        performance_metric="roc_auc",
        performance_value=0.61,
        performance_degraded=True,
        report_path="/tmp/r.html",
        summary={"drifted_features": ["a", "b"]},
    )
    last = store.find_last_monitor(m)
    assert last is not None and last.id == r.id and last.window_end.tzinfo is not None
    assert last.summary["drifted_features"] == ["a", "b"]
    kinds = [e.kind for e in store.list_events(m)]
    assert kinds == ["monitored", "drift_detected", "performance_degraded"]


def test_monitor_windows_in_window_order_previous_and_replace(store: OpsStore) -> None:
    m = model()
    t0 = datetime(2026, 5, 1, tzinfo=UTC)

    def record(
        hour: int, version: str = "1", replaces: tuple[int, ...] = (), summary: dict | None = None
    ) -> int:
        return store.record_monitor(
            model=m,
            version=version,
            window_start=t0 + timedelta(hours=hour),
            window_end=t0 + timedelta(hours=hour + 1),
            n_rows=10,
            n_labelled=0,
            drift_detected=False,
            drift_share=0.0,
            performance_metric="roc_auc",
            performance_value=None,
            performance_degraded=False,
            report_path=None,
            summary=summary or {"hour": hour},
            replaces=replaces,
        ).id

    ids = {h: record(h) for h in (5, 1, 3)}  # a backfill stores old windows late
    record(4, version="2")
    windows = store.list_monitor_windows(m, version="1")
    assert [r.summary["hour"] for r in windows] == [1, 3, 5]
    assert [r.summary["hour"] for r in store.list_monitor_windows(m, limit=2)] == [4, 5]
    prev = store.find_previous_monitor(m, "1", t0 + timedelta(hours=7))
    assert prev is not None and prev.id == ids[5]
    prev = store.find_previous_monitor(m, "1", t0 + timedelta(hours=6))
    assert prev is not None and prev.id == ids[3]  # not version 2's hour 4
    assert store.find_previous_monitor(m, "1", t0 + timedelta(hours=3)) is not None
    assert store.find_previous_monitor(m, "1", t0 + timedelta(hours=2)) is None
    same = store.list_monitor_window(m, "1", t0 + timedelta(hours=3), t0 + timedelta(hours=4))
    assert [r.id for r in same] == [ids[3]]
    assert store.list_monitor_window(m, "2", t0 + timedelta(hours=3), t0 + timedelta(hours=4)) == []
    new = record(
        3,
        replaces=(ids[3],),
        summary={"hour": 3, "previous": {"id": ids[1], "newly_drifted": ["a"], "recovered": []}},
    )
    same = store.list_monitor_window(m, "1", t0 + timedelta(hours=3), t0 + timedelta(hours=4))
    assert [r.id for r in same] == [new]
    event = store.list_events(m, kinds=["monitored"], limit=1)[0]
    assert event.evidence["replaces"] == [ids[3]]
    digests = store.list_monitor_windows(m, version="1", digests=True)
    assert [r.id for r in digests] == [ids[1], new, ids[5]]
    assert digests[1].summary["previous"] == {"id": ids[1], "newly_drifted": ["a"], "recovered": []}
    assert "hour" not in digests[0].summary  # only the digest's keys
    assert event.evidence["previous"]["newly_drifted"] == ["a"]
    assert "newly drifted since the previous window: a" in event.summary


def test_digests_of_results_stored_before_digests_existed(store: OpsStore) -> None:
    from monitor_fixtures import feature, summary
    from opsloop.core.digest import digest
    from opsloop.store import schema

    m = model()
    s = summary(0, [feature("a", 0.2, drifted=True)], extras=True)
    r = store.record_monitor(
        model=m,
        version="1",
        window_start=datetime.fromisoformat(s["window_start"]),
        window_end=datetime.fromisoformat(s["window_end"]),
        n_rows=500,
        n_labelled=200,
        drift_detected=True,
        drift_share=1.0,
        performance_metric="roc_auc",
        performance_value=0.8,
        performance_degraded=False,
        report_path=None,
        summary=s,
    )
    [stored] = store.list_monitor_windows(m, digests=True)
    assert stored.summary == digest(s) and "reference_counts" not in str(stored.summary)
    assert stored.summary["drift"]["features"][0]["statistic"] == 0.2
    assert stored.summary["quality"]["checks"] == [
        {"check": "missing_rate", "feature": "x", "status": "breach"}
    ]
    with store.engine.begin() as conn:  # as a 0003-era row
        conn.execute(
            schema.monitor_results.update()
            .where(schema.monitor_results.c.id == r.id)
            .values(digest=None)
        )
    [old] = store.list_monitor_windows(m, digests=True)
    assert old.summary == digest(s)
    [full] = store.list_monitor_windows(m)
    assert full.summary == s


def test_degraded_estimate_raises_its_event(store: OpsStore) -> None:
    m = model()
    now = datetime.now(UTC)
    estimate = {
        "method": "cbpe",
        "metric": "roc_auc",
        "value": 0.7,
        "lower": 0.8,
        "upper": 0.9,
        "degraded": True,
        "metrics": {"roc_auc": 0.7},
        "n": 900,
        "reasons": ["estimated roc_auc 0.7000 < band lower 0.8000"],
    }
    store.record_monitor(
        model=m,
        version="1",
        window_start=now - timedelta(hours=1),
        window_end=now,
        n_rows=900,
        n_labelled=0,
        drift_detected=False,
        drift_share=0.0,
        performance_metric="roc_auc",
        performance_value=None,
        performance_degraded=False,
        report_path=None,
        summary={"estimated_performance": estimate},
    )
    events = store.list_events(m)
    assert [e.kind for e in events] == ["monitored", "performance_estimated_degraded"]
    assert events[1].evidence["estimated_performance"] == estimate
    assert "band lower" in events[1].summary and "900 rows" in events[1].summary


def test_trigger_fires_once_per_key(store: OpsStore) -> None:
    m = model()
    assert store.try_fire(m, "drift", "w1", {"share": 0.5}) is not None
    assert store.try_fire(m, "drift", "w1") is None
    assert store.try_fire(m, "performance", "w1") is not None
    assert store.try_fire(m, "drift", "w2") is not None
    assert [f.key for f in store.list_firings(m)] == ["w1", "w1", "w2"]
    assert len(store.list_events(m, kinds=["trigger_fired"])) == 3


@pytest.fixture(params=["sqlite", POSTGRES])
def shared_store(request: pytest.FixtureRequest, tmp_path) -> Iterator[OpsStore]:
    """Stores that several connections share (not the single-connection in-memory one)."""
    s = open_store(request, tmp_path)
    yield s
    s.close()


def test_trigger_fires_once_under_concurrency(shared_store: OpsStore) -> None:
    store = shared_store
    m = model()
    results: list[object] = []

    def fire() -> None:
        results.append(store.try_fire(m, "drift", "same-window"))

    threads = [threading.Thread(target=fire) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is not None for r in results) == 1


def test_pipeline_runs(store: OpsStore) -> None:
    m = model()
    run_id = store.start_run(m, "train", trigger="manual")
    store.update_run(run_id, stages=[{"name": "load", "status": "succeeded"}])
    (run,) = store.list_runs(m)
    assert run.status == "running" and run.finished is None
    store.update_run(run_id, stages=[], status="failed", error="boom")
    (run,) = store.list_runs(m)
    assert (run.status, run.error) == ("failed", "boom") and run.finished is not None


def test_migrations_are_idempotent(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    OpsStore(url).record_deployment("m", "1", reason="x")
    again = OpsStore(url)
    assert again.find_deployment("m") is not None
    with again.engine.connect() as conn:
        mode = conn.execute(sa.text("PRAGMA journal_mode")).scalar()
        assert mode == "wal"
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def test_unreachable_store_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="cannot open the ops store"):
        OpsStore("postgresql://nobody@127.0.0.1:1/none")


def test_failed_quality_raises_an_event_with_its_breaches(store: OpsStore) -> None:
    m = model()
    now = datetime.now(UTC)
    breach = {
        "check": "type_errors",
        "feature": "x",
        "status": "breach",
        "value": 0.02,
        "expected": "values of type float64",
        "detail": "20 of 1000 values of the wrong type",
    }
    ok = {**breach, "check": "volume", "feature": None, "status": "ok"}
    for passed in (True, False):
        store.record_monitor(
            model=m,
            version="1",
            window_start=now - timedelta(hours=1),
            window_end=now,
            n_rows=1000,
            n_labelled=0,
            drift_detected=False,
            drift_share=0.0,
            performance_metric="roc_auc",
            performance_value=None,
            performance_degraded=False,
            report_path=None,
            summary={"quality": {"passed": passed, "checks": [ok] if passed else [ok, breach]}},
        )
    events = store.list_events(m, kinds=["quality_failed"])
    assert len(events) == 1 and events[0].summary == "data quality: type_errors (x)"
    assert events[0].evidence["quality_breaches"] == [breach]
