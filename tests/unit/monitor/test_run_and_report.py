from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from opsloop.config import MonitorConfig, PerformanceConfig
from opsloop.core.profile import compute_profile, profile_frame
from opsloop.data.features import FeatureSpec
from opsloop.monitor.report import render_html
from opsloop.monitor.run import run_monitor

FEATURES = [FeatureSpec("x", "numeric", "float64"), FeatureSpec("c", "categorical", "string")]
END = datetime(2026, 5, 1, tzinfo=UTC)


def window(n: int, labelled: int, seed: int = 0, flip: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    truth = (x + rng.normal(scale=0.5, size=n) > 0).astype(int)
    score = 1 / (1 + np.exp(-(-x if flip else x) * 2))
    label = pd.Series(truth, dtype="float64")
    label.iloc[labelled:] = np.nan
    return pd.DataFrame(
        {
            "prediction_id": [str(i) for i in range(n)],
            "x": x,
            "c": rng.choice(["<script>alert(1)</script>", "b"], n),
            "score": score,
            "prediction": (score >= 0.5).astype(int),
            "label": label,
        }
    )


def reference():
    return compute_profile(
        window(3000, 0, seed=9), [*FEATURES, FeatureSpec("score", "numeric", "float64")]
    )


def monitor(frame: pd.DataFrame, **kwargs):  # type: ignore[no-untyped-def]
    ref = reference()
    return run_monitor(
        reference=ref,
        current=profile_frame(frame, ref),
        labelled=frame,
        features=FEATURES,
        task="binary_classification",
        **kwargs,
    )


def cfg(floor: float | None = 0.8) -> MonitorConfig:
    return MonitorConfig(
        performance=PerformanceConfig(metric="roc_auc", floor=floor, min_labels=100)
    )


def test_performance_only_with_enough_labels() -> None:
    few = monitor(window(500, 50), cfg=cfg(), window_start=END - timedelta(hours=1), window_end=END)
    assert few.n_labelled == 50 and few.performance_value is None and not few.performance_degraded
    assert any("performance not judged" in n for n in few.notes)
    good = monitor(window(500, 400), cfg=cfg(), window_start=END, window_end=END)
    assert good.performance_value is not None and good.performance_value > 0.8
    assert not good.performance_degraded and good.performance["accuracy"] > 0.7
    bad = monitor(window(500, 400, flip=True), cfg=cfg(), window_start=END, window_end=END)
    assert bad.performance_degraded and bad.performance_value < 0.5
    assert bad.drift.prediction is not None
    data = json.loads(json.dumps(bad.to_dict()))
    assert data["performance_degraded"] is True and "drifted_features" in data


def test_html_is_self_contained_and_escaped() -> None:
    report = monitor(window(500, 400, seed=3), cfg=cfg(), window_start=END, window_end=END)
    html = render_html(report, reference(), title="t <b>")
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", html)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<svg" in html and "roc_auc" in html and "t &lt;b&gt;" in html
    for f in FEATURES:
        assert f">{f.name}<" in html


def test_labelled_window_has_ranking_and_calibration() -> None:
    frame = window(500, 400, seed=4)
    report = monitor(
        frame,
        cfg=MonitorConfig(performance=PerformanceConfig(min_labels=100, k=50, calibration_bins=5)),
        window_start=END,
        window_end=END,
    )
    assert {"precision@50", "ndcg@50", "roc_auc"} <= set(report.performance)
    assert report.calibration is not None and len(report.calibration["bins"]) <= 5
    assert report.calibration["n"] == report.n_labelled == 400
    data = report.to_dict()
    assert "calibration" in data and "estimated_performance" not in data


def test_estimated_performance_from_all_the_windows_scores() -> None:
    from opsloop.monitor.cbpe import CBPEReference

    ref_frame = window(3000, 3000, seed=5)
    cbpe = CBPEReference.fit(ref_frame["score"], ref_frame["label"])
    frame = window(800, 0, seed=6)  # no labels at all
    report = monitor(
        frame,
        cfg=cfg(),
        window_start=END,
        window_end=END,
        cbpe=cbpe,
        scores=frame["score"].to_numpy(),
    )
    est = report.to_dict()["estimated_performance"]
    assert est["method"] == "cbpe" and est["n"] == 800 and est["metric"] == "roc_auc"
    assert est["lower"] <= est["value"] <= est["upper"] and not est["degraded"]
    assert report.performance == {} and report.calibration is None
    off = monitor(
        frame,
        cfg=MonitorConfig(estimated_performance={"enabled": False}),
        window_start=END,
        window_end=END,
        cbpe=cbpe,
        scores=frame["score"],
    )
    assert off.estimated_performance is None


def test_a_window_too_small_to_judge_says_not_judged_not_no_drift() -> None:
    small = monitor(window(40, 0, seed=5), cfg=cfg(), window_start=END, window_end=END)
    assert small.drift.tested == 0 and not small.drift_detected
    assert all(f.status == "insufficient_data" for f in small.drift.features)
    assert any(n.startswith("drift not judged (too few rows)") for n in small.notes)
    html = render_html(small, reference(), title="t")
    assert "drift not judged (too few rows)" in html and "no dataset drift" not in html
    assert html.count(">not judged (too few rows)</td>") == len(FEATURES)


def test_a_feature_too_sparse_to_judge_says_not_judged_alone() -> None:
    frame = window(500, 0, seed=6)
    frame.loc[50:, "x"] = np.nan  # 50 values of x: fewer than drift.min_rows (100)
    report = monitor(frame, cfg=cfg(), window_start=END, window_end=END)
    status = {f.name: f.status for f in report.drift.features}
    assert status["x"] == "insufficient_data" and status["c"] != "insufficient_data"
    assert report.drift.tested == 1
    html = render_html(report, reference(), title="t")
    assert "no dataset drift" in html and "drift not judged" not in html
    assert html.count(">not judged (too few rows)</td>") == 1
