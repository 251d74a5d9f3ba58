"""Monitor results on every store backend: window order, the previous window, replacement,
digests; a result and its events in one transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from monitor_fixtures import new_result, store_window
from opsloop.core.digest import digest
from opsloop.store import OpsStore
from opsloop.store import schema as t
from opsloop.store.records import NewEvent, NewMonitorResult
from store_fixtures import model


def test_monitor_windows_in_window_order_previous_and_replace(store: OpsStore) -> None:
    m = model()
    t0 = datetime(2026, 5, 1, tzinfo=UTC)

    def record(
        hour: int, version: str = "1", replaces: tuple[int, ...] = (), summary: dict | None = None
    ) -> int:
        return store_window(
            store,
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
    from opsloop.store import schema

    m = model()
    s = summary(0, [feature("a", 0.2, drifted=True)], extras=True)
    r = store_window(
        store,
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


def _new(m: str, hour: int = 0, **changes: object) -> NewMonitorResult:
    t0 = datetime(2026, 5, 1, tzinfo=UTC) + timedelta(hours=hour)
    values: dict[str, object] = dict(
        model=m,
        window_start=t0,
        window_end=t0 + timedelta(hours=1),
        summary={"hour": hour, "detail": [1, 2, 3]},
        digest={"hour": hour},
    )
    return new_result(**{**values, **changes})


def test_result_digest_and_events_are_stored_as_given(store: OpsStore) -> None:
    m = model()
    event = NewEvent("drift_detected", m, "1", "what the caller says", {"n": 1}, actor="alice")
    r = store.record_monitor(_new(m), [event, NewEvent("quality_failed", m, None, "")])
    assert r.summary == {"hour": 0, "detail": [1, 2, 3]}
    (found,) = store.list_monitor_windows(m, digests=True)
    assert found.id == r.id and found.summary == {"hour": 0}  # the stored digest
    (full,) = store.list_monitor(m)
    assert full == r
    events = store.list_events(m)
    assert [(e.kind, e.version, e.summary, e.actor) for e in events] == [
        ("drift_detected", "1", "what the caller says", "alice"),
        ("quality_failed", None, "", "opsloop"),
    ]
    assert [e.evidence for e in events] == [{"id": r.id, "n": 1}, {"id": r.id}]


def test_a_failing_event_leaves_no_result_and_keeps_the_replaced_one(store: OpsStore) -> None:
    """One transaction: when an event cannot be written, neither is the result, the
    results it replaces stay, and no event of the window is written."""
    m = model()
    first = store.record_monitor(_new(m), [NewEvent("monitored", m, "1", "first")])
    broken = NewEvent("drift_detected", None, "1", "x")  # type: ignore[arg-type]  # NOT NULL
    with pytest.raises(sa.exc.IntegrityError):
        store.record_monitor(
            _new(m, summary={"hour": 0, "again": True}),
            [NewEvent("monitored", m, "1", "second"), broken],
            replaces=(first.id,),
        )
    assert store.list_monitor(m) == [first]
    assert [e.summary for e in store.list_events(m)] == ["first"]


def test_monitor_days_aggregate_the_latest_windows_per_utc_day_in_sql(store: OpsStore) -> None:
    """Per-day totals, means, widest bands and per-feature verdict counts, hand-computed;
    a window stored without a digest is read from its summary; `limit`, `version` and
    `end_before` pick the windows as `list_monitor_windows` does."""
    from monitor_fixtures import feature
    from monitor_fixtures import summary as make_summary

    m = model()
    t0 = datetime(2026, 5, 1, tzinfo=UTC)

    def record(hour: int, version: str, features: list, perf: float, extras: bool) -> None:
        s = make_summary(hour, features, perf=perf, extras=extras)
        store_window(
            store,
            model=m,
            version=version,
            window_start=t0 + timedelta(hours=hour),
            window_end=t0 + timedelta(hours=hour + 1),
            n_rows=500,
            n_labelled=100 + hour,
            drift_detected=s["drift"]["detected"],
            drift_share=s["drift"]["share"],
            performance_metric="roc_auc",
            performance_value=perf,
            performance_degraded=perf < 0.75,
            report_path=None,
            summary=s,
        )

    record(22, "1", [feature("x", 0.3, drifted=True), feature("y", 0.01)], 0.8, True)
    record(23, "1", [feature("x", 0.01), feature("y", 0.1, status="immaterial")], 0.7, False)
    record(24, "2", [feature("x", 0.3, drifted=True)], 0.9, True)
    record(25, "2", [feature("x", 0.01)], 0.6, False)
    with store.engine.begin() as conn:  # the newest stored before digests existed
        c = t.monitor_results.c
        newest = conn.execute(sa.select(sa.func.max(c.id)).where(c.model == m)).scalar()
        conn.execute(t.monitor_results.update().where(c.id == newest).values(digest=None))

    first, second = store.list_monitor_days(m)
    assert (first.day, first.windows, second.day, second.windows) == (
        "2026-05-01",
        2,
        "2026-05-02",
        2,
    )
    assert first.first_start == t0 + timedelta(hours=22)
    assert first.last_end == t0 + timedelta(hours=24)
    assert (first.drifted, first.drift_share_max) == (1, 0.5)
    assert first.drift_share_mean == pytest.approx(0.25)
    assert (first.n_rows, first.n_labelled, first.degraded) == (1000, 100 + 22 + 100 + 23, 1)
    assert first.performance_mean == pytest.approx(0.75)
    assert first.performance_min == pytest.approx(0.7)
    assert first.performance_metric == "roc_auc"
    assert (first.estimated_mean, first.estimated_lower, first.estimated_upper) == (
        pytest.approx(0.78),
        pytest.approx(0.76),
        pytest.approx(0.9),
    )
    assert (first.multivariate_mean, first.multivariate_drifted) == (pytest.approx(1.2), 1)
    assert first.features == {"x": {"drifted": 1, "ok": 1}, "y": {"immaterial": 1, "ok": 1}}
    # the second day: one window from its digest, one from its summary (no digest)
    assert second.features == {"x": {"drifted": 1, "ok": 1}}
    assert (second.drifted, second.drift_share_max, second.degraded) == (1, 1.0, 1)
    assert second.performance_mean == pytest.approx(0.75)

    latest = store.list_monitor_days(m, limit=1)
    assert [(d.day, d.windows, d.features) for d in latest] == [("2026-05-02", 1, {"x": {"ok": 1}})]
    assert [d.windows for d in store.list_monitor_days(m, version="1")] == [2]
    older = store.list_monitor_days(m, end_before=t0 + timedelta(hours=25, minutes=1))
    assert [(d.day, d.windows) for d in older] == [("2026-05-01", 2), ("2026-05-02", 1)]
    assert store.list_monitor_days(model()) == []
