"""CBPE against direct computations, scikit-learn and NannyML's published formulas."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.isotonic import IsotonicRegression

from opsloop.config import EstimatedPerformanceConfig
from opsloop.errors import ProfileFormatError
from opsloop.monitor.cbpe import (
    CBPEReference,
    IsotonicCalibrator,
    equal_frequency_ece,
    estimate_metrics,
    estimate_roc_auc,
    estimate_window,
    expected_confusion,
    fit_isotonic,
    realized_metrics,
)


def nannyml_estimate_roc_auc(calibrated: np.ndarray, raw: np.ndarray) -> float:
    """NannyML's `estimate_roc_auc` (performance_estimation/confidence_based/metrics.py),
    restated: rows by descending raw score, calibrated probabilities as expected positives."""
    order = np.argsort(raw)[::-1]
    p = calibrated[order]
    tps = np.r_[0, np.cumsum(p)]
    fps = np.r_[0, 1 + np.arange(len(p)) - np.cumsum(p)]
    return float(skm.auc(fps / fps[-1], tps / tps[-1]))


def nannyml_estimate_f1(y_pred: np.ndarray, proba: np.ndarray) -> float:
    tp = np.where(y_pred == 1, proba, 0).sum()
    fp = np.where(y_pred == 1, 1 - proba, 0).sum()
    fn = np.where(y_pred == 0, proba, 0).sum()
    return float(tp / (tp + 0.5 * (fp + fn)))


def scores(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    prob = 1 / (1 + np.exp(-2 * x))
    return prob, (rng.random(n) < prob).astype(int)


def test_expected_confusion_by_hand() -> None:
    p = np.array([0.9, 0.6, 0.3, 0.1])
    pos = p >= 0.5
    assert expected_confusion(p, pos) == pytest.approx((1.5, 0.5, 0.4, 1.6))
    est = estimate_metrics(p, p)
    assert est["accuracy"] == pytest.approx((1.5 + 1.6) / 4)
    assert est["precision"] == pytest.approx(1.5 / 2.0)
    assert est["recall"] == pytest.approx(1.5 / 1.9)
    assert est["f1"] == pytest.approx(nannyml_estimate_f1(pos.astype(int), p))


def test_certain_probabilities_give_the_realised_metrics() -> None:
    """With p ∈ {0, 1} the expected confusion matrix is the real one."""
    raw, truth = scores(500, seed=1)
    est = estimate_metrics(truth.astype(float), raw)
    pred = (raw >= 0.5).astype(int)
    assert est["accuracy"] == pytest.approx(skm.accuracy_score(truth, pred))
    assert est["precision"] == pytest.approx(skm.precision_score(truth, pred))
    assert est["recall"] == pytest.approx(skm.recall_score(truth, pred))
    assert est["f1"] == pytest.approx(skm.f1_score(truth, pred))
    assert est["roc_auc"] == pytest.approx(skm.roc_auc_score(truth, raw))
    assert realized_metrics(truth, raw) == pytest.approx(est)


def test_estimate_is_the_mean_over_label_draws() -> None:
    """Accuracy and the confusion counts are linear in the labels: their estimate is the
    exact mean over labels drawn from the calibrated probabilities."""
    rng = np.random.default_rng(2)
    p = rng.beta(2, 2, 400)
    draws = rng.random((4000, len(p))) < p
    pred = p >= 0.5
    accuracy = (draws == pred).mean()
    assert estimate_metrics(p, p)["accuracy"] == pytest.approx(accuracy, abs=0.002)
    tp = (draws & pred).sum(axis=1).mean()
    assert expected_confusion(p, pred)[0] == pytest.approx(tp, rel=0.005)


def test_roc_auc_matches_nannyml_without_ties() -> None:
    rng = np.random.default_rng(3)
    raw = rng.random(1000)
    calibrated = np.clip(raw + rng.normal(0, 0.05, 1000), 0, 1)
    assert estimate_roc_auc(calibrated, raw) == pytest.approx(
        nannyml_estimate_roc_auc(calibrated, raw), abs=1e-12
    )


def test_roc_auc_groups_ties_like_scikit_learn() -> None:
    rng = np.random.default_rng(4)
    raw = np.round(rng.random(600), 1)  # many ties
    truth = (rng.random(600) < raw).astype(float)
    assert estimate_roc_auc(truth, raw) == pytest.approx(skm.roc_auc_score(truth, raw))
    assert estimate_roc_auc(np.ones(5), raw[:5]) is None


def test_isotonic_calibrator_is_sklearns_predict() -> None:
    raw, truth = scores(2000, seed=5)
    raw = raw**3  # miscalibrated
    cal = fit_isotonic(raw, truth)
    reg = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(raw, truth)
    probe = np.r_[-0.5, 0.0, np.linspace(0, 1, 501), 1.5]
    assert np.allclose(cal.calibrate(probe), reg.predict(probe))
    assert np.allclose(IsotonicCalibrator().calibrate(probe), np.clip(probe, 0, 1))


def test_ece_equal_frequency_like_nannyml() -> None:
    truth = np.array([0, 0, 1, 0, 1, 1, 1, 0, 1, 1])
    prob = np.linspace(0.05, 0.95, 10)
    # 5 bins of 2 sorted rows: |mean p - mean y| weighted by 2/10
    expected = sum(
        0.2 * abs(prob[i : i + 2].mean() - truth[i : i + 2].mean()) for i in range(0, 10, 2)
    )
    assert equal_frequency_ece(truth, prob, bins=5) == pytest.approx(expected)


def test_reference_calibrates_only_when_it_helps_and_round_trips() -> None:
    raw, truth = scores(3000, seed=6)
    separable = CBPEReference.fit(raw, (raw > 0.5).astype(int))  # ROC AUC 1: left alone
    assert not separable.calibrated and separable.calibrator == IsotonicCalibrator()
    bad = CBPEReference.fit(raw**4, truth)  # badly calibrated
    assert bad.calibrated and bad.ece_calibrated is not None and bad.ece_raw is not None
    assert bad.ece_calibrated < bad.ece_raw
    assert bad.chunk_rows == 300 and len(bad.chunk_realized["accuracy"]) == 10
    band = bad.bands["accuracy"]
    assert band.mean == pytest.approx(np.mean(bad.chunk_realized["accuracy"]))
    assert band.std == pytest.approx(np.std(bad.chunk_realized["accuracy"]))
    assert CBPEReference.from_json(bad.to_json()) == bad


def test_bad_json_is_a_clear_error() -> None:
    with pytest.raises(ProfileFormatError, match="retrain"):
        CBPEReference.from_json('{"format": 99}')
    with pytest.raises(ProfileFormatError, match="could not be read"):
        CBPEReference.from_json("not json")


def test_window_band_floor_and_min_rows() -> None:
    raw, truth = scores(3000, seed=7)
    ref = CBPEReference.fit(raw, truth)
    cfg = EstimatedPerformanceConfig(metric="accuracy", min_rows=50)
    same = estimate_window(ref, scores(2000, seed=8)[0], cfg)
    lower, upper = ref.bands["accuracy"].limits(ref.chunk_rows, 2000)
    assert same["lower"] == pytest.approx(lower) and same["upper"] == pytest.approx(upper)
    assert not same["degraded"] and same["n"] == 2000
    assert same["value"] == same["metrics"]["accuracy"]
    # scores piled up near 0.5: the model is unsure, accuracy estimated near 0.5
    unsure = estimate_window(ref, np.full(500, 0.5) + np.linspace(-0.05, 0.05, 500), cfg)
    assert unsure["degraded"] and "band lower" in unsure["reasons"][0]
    floored = estimate_window(
        ref, scores(2000, seed=8)[0], EstimatedPerformanceConfig(metric="accuracy", floor=0.99)
    )
    assert floored["degraded"] and "floor" in floored["reasons"][0]
    few = estimate_window(ref, raw[:10], cfg)
    assert few["value"] is None and not few["degraded"] and "not estimated" in few["reasons"][0]
    # a window smaller than a reference chunk gets a wider band
    small = estimate_window(ref, raw[:75], cfg)
    assert small["lower"] < same["lower"]
