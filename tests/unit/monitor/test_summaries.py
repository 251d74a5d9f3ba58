"""The typed monitor summary (opsloop.core.summaries): stored summaries of every age load
into the models and round-trip to the same JSON text, key order included."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from monitor_fixtures import feature, summary
from opsloop.config import MonitorConfig, PerformanceConfig
from opsloop.core.digest import digest, with_previous
from opsloop.core.profile import compute_profile, profile_frame
from opsloop.core.summaries import MonitorSummary, QualitySummary
from opsloop.data.features import FeatureSpec
from opsloop.monitor.previous import compare_windows
from opsloop.monitor.run import run_monitor
from opsloop.store._util import jsonable
from opsloop.store.records import MonitorResult

END = datetime(2026, 5, 1, tzinfo=UTC)

# A summary as an older opsloop stored it: no estimated performance, calibration,
# multivariate, quality or previous window; features without threshold_source and
# distances; an integer floor; and a key this version does not know.
OLD = """{"window_start": "2026-03-01T00:00:00+00:00", "window_end": "2026-03-01T01:00:00+00:00",
"n_rows": 812, "n_labelled": 0, "drift": {"features": [{"name": "age", "kind": "numeric",
"test": "ks", "statistic": 0.0412, "p_value": 0.31, "psi": 0.012, "drifted": false,
"status": "ok", "n": 812, "missing_rate_reference": 0.0, "missing_rate_current": 0.0,
"unseen": 0, "threshold": 0.01, "reference_counts": [10, 20], "current_counts": [11, 19]},
{"name": "plan", "kind": "categorical", "test": "chi2", "statistic": 31.5, "p_value": 1e-06,
"psi": 0.4, "drifted": true, "status": "drifted", "n": 812, "missing_rate_reference": 0.0,
"missing_rate_current": 0.02, "unseen": 3, "threshold": 0.01, "reference_counts": [5, 5],
"current_counts": [1, 9]}], "share": 0.5, "detected": true, "tested": 2,
"drifted_features": ["plan"], "prediction": null}, "drifted_features": ["plan"],
"performance": {}, "performance_metric": "roc_auc", "performance_value": null,
"performance_floor": 1, "performance_degraded": false,
"notes": ["0 labelled rows (< 100): performance not judged"], "engine": "duckdb"}"""


def same_json(data: Any) -> MonitorSummary:
    model = MonitorSummary.parse(data)
    assert json.dumps(model.to_json()) == json.dumps(data)
    assert model.model_dump(mode="json", exclude_unset=True) == data
    return model


def test_an_older_summary_loads_and_round_trips() -> None:
    model = same_json(json.loads(OLD))
    assert model.drifted_features == ["plan"] and model.performance_value is None
    assert model.performance_floor == 1 and isinstance(model.performance_floor, int)
    assert model.quality is None and model.previous is None and model.multivariate is None
    assert model.newly_drifted == [] and model.recovered == []
    plan = model.features[1]
    assert plan.drifted is True and plan.unseen == 3 and plan.judged
    assert plan.distances is None and plan.threshold_source is None
    assert model.model_extra == {"engine": "duckdb"}
    # its digest (what listing windows reads) loads the same way
    same_json(digest(json.loads(OLD)))


def test_every_optional_key_round_trips() -> None:
    before = summary(0, [feature("a", 0.1), feature("b", None, status="insufficient_data")])
    now = summary(1, [feature("a", 0.3, drifted=True), feature("b", 0.2)], extras=True)
    now["previous"] = compare_windows(now, before, previous_id=4, previous_version="1").to_json()
    model = same_json(now)
    same_json(digest(now))
    # the digest before `previous` was added, completed: the same digest, key for key
    without = {k: v for k, v in now.items() if k != "previous"}
    assert json.dumps(with_previous(digest(without), now)) == json.dumps(digest(now))
    assert "previous" in digest(now) and with_previous(digest(now), without) == digest(without)
    assert model.previous is not None and model.newly_drifted == ["a"]
    assert model.previous.drift_share is not None and model.previous.drift_share.previous == 0.0
    assert model.quality is not None and [c.label for c in model.quality.breaches] == [
        "missing_rate (x)"
    ]
    assert model.estimated_performance is not None
    assert model.estimated_performance.metrics == {"roc_auc": 0.78, "accuracy": 0.7}
    assert model.multivariate is not None and model.multivariate.drifted is True
    assert model.calibration is not None and model.calibration.ece == 0.03
    assert not model.features[1].judged or model.features[1].status == "ok"


def test_a_monitor_run_summary_round_trips_as_stored() -> None:
    rng = np.random.default_rng(3)
    n = 600
    x = rng.normal(size=n)
    score = 1 / (1 + np.exp(-2 * x))
    frame = pd.DataFrame(
        {
            "x": x + 0.5,
            "score": score,
            "prediction": (score >= 0.5).astype(int),
            "label": (x + rng.normal(scale=0.5, size=n) > 0).astype(float),
        }
    )
    features = [FeatureSpec("x", "numeric", "float64")]
    ref = compute_profile(
        frame.assign(x=rng.normal(size=n)), [*features, FeatureSpec("score", "numeric", "float64")]
    )
    report = run_monitor(
        reference=ref,
        current=profile_frame(frame, ref),
        labelled=frame,
        features=features,
        task="binary_classification",
        cfg=MonitorConfig(performance=PerformanceConfig(metric="roc_auc", min_labels=100)),
        window_start=END - timedelta(hours=1),
        window_end=END,
    )
    stored = jsonable(report.to_dict())  # what record_monitor writes
    model = same_json(stored)
    assert model.drift is not None and model.drift.detected == report.drift.detected
    assert model.calibration is not None and model.calibration.n == n
    assert [f.name for f in model.features] == ["x"]


def test_a_stored_result_reads_its_summary_typed() -> None:
    s = summary(0, [feature("a", 0.3, drifted=True)], extras=True)
    result = MonitorResult(
        id=1,
        ts=END,
        model="m",
        version="1",
        window_start=END,
        window_end=END,
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
    assert result.summary_model.drifted_features == ["a"]
    assert result.summary_model is result.summary_model  # parsed once
    assert result.to_dict()["summary"] == s  # the stored JSON is untouched


def test_models_are_frozen_and_reject_wrong_types() -> None:
    model = MonitorSummary.parse(summary(0, [feature("a", 0.1)]))
    with pytest.raises(ValidationError):
        model.n_rows = 3  # type: ignore[misc]
    with pytest.raises(ValidationError):
        QualitySummary.parse({"passed": "perhaps", "checks": []})


def test_a_report_gives_its_summary_typed() -> None:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"x": rng.normal(size=300)})
    features = [FeatureSpec("x", "numeric", "float64")]
    ref = compute_profile(frame.assign(x=rng.normal(size=300)), features)
    report = run_monitor(
        reference=ref,
        current=profile_frame(frame, ref),
        labelled=frame.iloc[:0],
        features=features,
        task="binary_classification",
        cfg=MonitorConfig(),
        window_start=END - timedelta(hours=1),
        window_end=END,
    )
    typed = report.summary()
    assert typed.n_rows == 300 and typed.n_labelled == 0
    assert typed.drifted_features == report.drift.drifted_features
    assert typed.notes == report.notes and typed.performance == {}
    assert typed.to_json() == jsonable(report.to_dict())
