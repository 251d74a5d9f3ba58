"""The hooks: training stores `multivariate.json` and `drift_thresholds.json` with the
version; the monitoring job reports the `multivariate` summary key, and a breach sets the
result's drift flag and says so in the `drift_detected` event."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from opsloop.core.transform import Transform
from opsloop.monitor.multivariate import ARTIFACT
from opsloop.monitor.thresholds import ARTIFACT as THRESHOLDS
from opsloop.monitor.thresholds import LearnedThresholds
from opsloop.project import Project
from tinyproject import prediction_log, tiny_frame


def log_traffic(p: Project, frame: pd.DataFrame, version: str) -> None:
    p.engine.add_predictions(prediction_log(p, frame, version))  # type: ignore[attr-defined]


def test_training_stores_transform_and_thresholds(memory_project: Project) -> None:
    p = memory_project
    p.train()
    t = Transform.from_json(p.registry.read_artifact("tiny", "1", ARTIFACT))
    assert [c.name for c in t.columns] == ["x1", "x2", "color"]
    assert t.band is not None and t.band.chunks == 20
    learned = LearnedThresholds.from_json(p.registry.read_artifact("tiny", "1", THRESHOLDS))
    assert {"x1", "x2", "color", "score"} <= set(learned.features)
    assert learned.threshold("x1", "wasserstein", 1000) is not None


def test_monitor_reports_multivariate_and_a_breach_is_drift(memory_project: Project) -> None:
    p = memory_project
    p.train()
    log_traffic(p, tiny_frame(600, seed=11, prefix="ok", days=0.01), "1")
    quiet = p.monitor()
    mv = quiet.summary["multivariate"]
    assert mv["method"] == "pca_reconstruction" and mv["n"] == 600 and mv["components"] >= 1
    assert mv["lower"] <= mv["value"] <= mv["upper"] and not mv["drifted"]

    # x1 and x2 become strongly correlated: each marginal stays N(0, 1)
    broken = tiny_frame(600, seed=12, prefix="corr", days=0.01)
    rng = np.random.default_rng(0)
    broken["x2"] = 0.95 * broken["x1"] + np.sqrt(1 - 0.95**2) * rng.normal(0, 1, 600)
    log_traffic(p, broken, "1")  # the window now holds both batches
    result = p.monitor()
    mv = result.summary["multivariate"]
    assert mv["drifted"] and mv["value"] > mv["upper"]
    assert result.drift_detected
    events = p.events(kinds=["drift_detected"])
    assert any("multivariate reconstruction error" in e.summary for e in events)
    assert result.report_path is not None
    assert "outside the band" in Path(result.report_path).read_text(encoding="utf-8")


def test_a_breach_that_does_not_count_is_only_reported() -> None:
    from opsloop.config import DriftConfig, MonitorConfig, MultivariateConfig
    from opsloop.core.profile import compute_profile, profile_frame
    from opsloop.data.features import FeatureSpec
    from opsloop.monitor.multivariate import MultivariateResult
    from opsloop.monitor.run import run_monitor

    specs = [FeatureSpec("x1", "numeric", "float64")]
    frame = tiny_frame(300, seed=1)
    ref = compute_profile(frame, specs)
    breach = MultivariateResult(9.0, 1.0, 2.0, True, 300, 2)
    now = datetime.now(UTC)
    for counts in (True, False):
        cfg = MonitorConfig(
            drift=DriftConfig(multivariate=MultivariateConfig(counts_as_drift=counts))
        )
        report = run_monitor(
            reference=ref,
            current=profile_frame(frame, ref),
            labelled=frame.iloc[:0],
            features=specs,
            task="binary_classification",
            cfg=cfg,
            window_start=now,
            window_end=now,
            multivariate=breach,
        )
        assert not report.drift.detected and report.drift_detected is counts
        assert report.to_dict()["multivariate"]["drifted"] is True


def test_a_version_without_the_artifacts_is_monitored_without_them(memory_project: Project) -> None:
    p = memory_project
    p.train()
    p.registry._artifacts[("tiny", "1")].pop(ARTIFACT)  # type: ignore[attr-defined]  # older
    log_traffic(p, tiny_frame(300, seed=3, prefix="old", days=0.01), "1")
    result = p.monitor()
    assert "multivariate" not in result.summary
    assert any(ARTIFACT in n and "retrain" in n for n in result.summary["notes"])
