"""The events a monitored window implies (`opsloop.monitor.events`): their kinds, prose and
evidence, derived from the summary and written with the result on every store backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from monitor_fixtures import START, feature, new_result, store_window, summary
from opsloop.monitor.events import monitor_events
from opsloop.store import OpsStore
from opsloop.store.records import NewMonitorResult
from store_fixtures import model, store

__all__ = ["store"]  # the ops-store conformance fixture (memory, SQLite file, PostgreSQL)


def test_monitor_results_raise_events(store: OpsStore) -> None:
    m = model()
    now = datetime.now(UTC)
    r = store_window(
        store,
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
    store_window(
        store,
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
        store_window(
            store,
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


def _result(**changes: Any) -> NewMonitorResult:
    values: dict[str, Any] = dict(
        version="3", n_rows=500, report_path="/r/m.html", ts=datetime(2026, 5, 1, 2, tzinfo=UTC)
    )
    return new_result(**{**values, **changes})


def test_a_quiet_window_is_only_monitored() -> None:
    (event,) = monitor_events(_result())
    assert (event.kind, event.model, event.version, event.actor) == (
        "monitored",
        "m",
        "3",
        "opsloop",
    )
    assert event.summary == "500 rows, drift share 0%"
    assert event.evidence == {
        "ts": "2026-05-01T02:00:00+00:00",
        "model": "m",
        "version": "3",
        "window_start": "2026-05-01T00:00:00+00:00",
        "window_end": "2026-05-01T01:00:00+00:00",
        "n_rows": 500,
        "n_labelled": 0,
        "drift_detected": False,
        "drift_share": 0.0,
        "performance_metric": "roc_auc",
        "performance_value": None,
        "performance_degraded": False,
        "report_path": "/r/m.html",
        "drifted_features": [],
    }


def test_every_alarm_with_its_prose_and_evidence() -> None:
    s = summary(0, [feature("x", 0.3, drifted=True)], extras=True, perf=0.7)
    s["estimated_performance"] = {
        **s["estimated_performance"],
        "degraded": True,
        "reasons": ["estimated roc_auc 0.7000 < band lower 0.7600"],
    }
    s["previous"] = {"id": 7, "newly_drifted": ["x"], "recovered": [], "drift_share": {}}
    result = _result(
        n_labelled=200,
        drift_detected=True,
        drift_share=1.0,
        performance_value=0.7,
        performance_degraded=True,
        summary=s,
    )
    events = monitor_events(result, replaces=(4, 5))
    assert [e.kind for e in events] == [
        "monitored",
        "drift_detected",
        "performance_degraded",
        "performance_estimated_degraded",
        "quality_failed",
    ]
    monitored, drift, perf, estimated, quality = events
    assert monitored.summary == (
        "500 rows, drift share 100%, roc_auc=0.7000 on 200 labels, "
        "newly drifted since the previous window: x"
    )
    assert drift.summary == (
        "100% of features drifted; multivariate reconstruction error 1.2 outside [0.9, 1.1]"
    )
    assert perf.summary == "roc_auc=0.7000 below floor"
    assert estimated.summary == (
        "estimated roc_auc 0.7000 < band lower 0.7600 (500 rows, no labels: CBPE)"
    )
    assert quality.summary == "data quality: missing_rate (x)"
    brief = monitored.evidence
    assert brief["drifted_features"] == ["x"] and brief["replaces"] == [4, 5]
    assert brief["previous"] == {"id": 7, "newly_drifted": ["x"], "recovered": []}
    assert brief["multivariate"] == s["multivariate"]
    assert drift.evidence == brief and perf.evidence == brief
    assert estimated.evidence == {**brief, "estimated_performance": s["estimated_performance"]}
    breaches = [c for c in s["quality"]["checks"] if c["status"] == "breach"]
    assert quality.evidence == {**brief, "quality_breaches": breaches}


def test_quality_prose_names_five_breaches_and_counts_the_rest() -> None:
    checks = [
        {"check": f"c{i}", "feature": None if i % 2 else f"f{i}", "status": "breach"}
        for i in range(7)
    ]
    checks.append({"check": "volume", "feature": None, "status": "ok"})
    events = monitor_events(_result(summary={"quality": {"passed": False, "checks": checks}}))
    assert events[-1].summary == ("data quality: c0 (f0), c1, c2 (f2), c3, c4 (f4) (+2 more)")
    assert len(events[-1].evidence["quality_breaches"]) == 7
    passed = monitor_events(_result(summary={"quality": {"passed": True, "checks": checks}}))
    assert [e.kind for e in passed] == ["monitored"]


def test_stored_events_carry_the_result_they_describe(store: OpsStore) -> None:
    m = model()
    r = store_window(
        store,
        model=m,
        version="1",
        window_start=START,
        window_end=START + timedelta(hours=1),
        n_rows=10,
        n_labelled=0,
        drift_detected=True,
        drift_share=0.5,
        performance_metric="roc_auc",
        performance_value=None,
        performance_degraded=False,
        report_path=None,
        summary={"drifted_features": ["a"]},
    )
    brief = {k: v for k, v in r.to_dict().items() if k != "summary"}
    events = store.list_events(m)
    assert [e.kind for e in events] == ["monitored", "drift_detected"]
    assert [e.evidence for e in events] == [{**brief, "drifted_features": ["a"]}] * 2


def test_immaterial_drift_is_named_but_raises_no_drift_event() -> None:
    """A detectable change below its materiality floor is reported in the `monitored`
    event, never as `drift_detected` (the window's drift flag counts material drift)."""
    f = feature("airport", 0.02, status="immaterial")
    s = summary(0, [f, feature("dow", 0.01)])
    s["drift"]["immaterial_features"] = ["airport"]
    events = monitor_events(_result(summary=s, drift_share=s["drift"]["share"]))
    assert [e.kind for e in events] == ["monitored"]
    assert events[0].summary == "500 rows, drift share 0%, detectable but immaterial: airport"
    assert events[0].evidence["immaterial_features"] == ["airport"]
    assert events[0].evidence["drifted_features"] == []
