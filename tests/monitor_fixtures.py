"""Hand-made monitoring summaries (docs: /work/notes/summary-keys.md contract) for the
comparison and report tests: the original keys plus every optional one; and
`store_window`, which stores a result the way the monitor job does."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from opsloop.core.digest import digest
from opsloop.monitor.events import monitor_events
from opsloop.store.ports import MonitoringRepository
from opsloop.store.records import MonitorResult, NewMonitorResult

START = datetime(2026, 5, 1, tzinfo=UTC)


def feature(
    name: str,
    statistic: float | None,
    *,
    drifted: bool = False,
    test: str = "ks",
    p_value: float | None = None,
    threshold: float = 0.01,
    status: str | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "numeric",
        "test": test,
        "statistic": statistic,
        "p_value": p_value,
        "psi": 0.01,
        "drifted": drifted,
        "status": status or ("drifted" if drifted else "ok"),
        "n": 500,
        "missing_rate_reference": 0.0,
        "missing_rate_current": 0.0,
        "unseen": 0,
        "threshold": threshold,
        "distances": {},
        "reference_counts": [5, 5, 5],
        "current_counts": [4, 6, 5],
    }


def summary(
    hour: int,
    features: list[dict[str, Any]],
    *,
    perf: float | None = 0.8,
    n_labelled: int = 200,
    extras: bool = False,
    **more: Any,
) -> dict[str, Any]:
    start = START + timedelta(hours=hour)
    tested = [f for f in features if f["status"] != "insufficient_data"]
    share = sum(f["drifted"] for f in tested) / len(tested) if tested else 0.0
    out: dict[str, Any] = {
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(hours=1)).isoformat(),
        "n_rows": 500,
        "n_labelled": n_labelled,
        "drift": {
            "features": features,
            "share": share,
            "detected": share >= 0.3,
            "tested": len(tested),
            "prediction": None,
            "drifted_features": [f["name"] for f in features if f["drifted"]],
        },
        "drifted_features": [f["name"] for f in features if f["drifted"]],
        "performance": {} if perf is None else {"roc_auc": perf},
        "performance_metric": "roc_auc",
        "performance_value": perf,
        "performance_floor": 0.75,
        "performance_degraded": perf is not None and perf < 0.75,
        "notes": [],
    }
    if extras:
        out["quality"] = {
            "passed": False,
            "checks": [
                {
                    "check": "missing_rate",
                    "feature": "x",
                    "status": "breach",
                    "value": 0.4,
                    "expected": "<= 0.1",
                    "detail": "40% missing <b>",
                },
                {
                    "check": "row_count",
                    "feature": None,
                    "status": "ok",
                    "value": 500.0,
                    "expected": ">= 100",
                    "detail": "",
                },
            ],
        }
        out["estimated_performance"] = {
            "method": "cbpe",
            "metric": "roc_auc",
            "value": 0.78,
            "lower": 0.76,
            "upper": 0.9,
            "degraded": False,
            "metrics": {"roc_auc": 0.78, "accuracy": 0.7},
            "n": 500,
        }
        out["calibration"] = {"ece": 0.03, "brier": 0.12, "bins": []}
        out["multivariate"] = {
            "method": "pca_reconstruction",
            "value": 1.2,
            "lower": 0.9,
            "upper": 1.1,
            "drifted": True,
            "n": 500,
            "components": 2,
        }
    out.update(more)
    return out


def new_result(**changes: Any) -> NewMonitorResult:
    """A window's result as the monitor job builds it before storing it: an hour from
    `START`, no drift, no labels; `changes` override any field."""
    values: dict[str, Any] = dict(
        model="m",
        version="1",
        window_start=START,
        window_end=START + timedelta(hours=1),
        n_rows=10,
        n_labelled=0,
        drift_detected=False,
        drift_share=0.0,
        performance_metric="roc_auc",
        performance_value=None,
        performance_degraded=False,
        report_path=None,
        summary={},
        digest={},
    )
    return NewMonitorResult(**{**values, **changes})


def store_window(
    store: MonitoringRepository, *, replaces: Sequence[int] = (), **fields: Any
) -> MonitorResult:
    """Store a window's result as the monitor job does (`monitor.job.record_window`): with
    its digest and the events it implies."""
    result = NewMonitorResult(**fields, digest=digest(fields["summary"]))
    return store.record_monitor(
        result, monitor_events(result, replaces=replaces), replaces=replaces
    )
