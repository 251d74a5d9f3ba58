from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as m

from opsloop.metrics import compute_metrics


def test_binary_metrics_match_sklearn() -> None:
    y = np.array([0, 1, 1, 0, 1, 0, 1, 1])
    score = np.array([0.1, 0.8, 0.6, 0.4, 0.9, 0.7, 0.3, 0.55])
    pred = (score >= 0.5).astype(int)
    out = compute_metrics("binary_classification", y, pred, score)
    assert out["roc_auc"] == pytest.approx(m.roc_auc_score(y, score))
    assert out["log_loss"] == pytest.approx(m.log_loss(y, score))
    assert out["f1"] == pytest.approx(m.f1_score(y, pred))
    assert out["accuracy"] == pytest.approx(m.accuracy_score(y, pred))


def test_float_labels_from_a_join_and_undefined_metrics() -> None:
    y = np.array([1.0, 0.0, 1.0])
    out = compute_metrics("binary_classification", y, np.array([1, 0, 0]), [0.9, 0.2, 0.4])
    assert out["accuracy"] == pytest.approx(2 / 3) and "roc_auc" in out
    one_class = compute_metrics("binary_classification", [1, 1], [1, 0], [0.9, 0.1])
    assert "roc_auc" not in one_class and "log_loss" not in one_class
    assert compute_metrics("binary_classification", [], [], []) == {}


def test_regression_and_multiclass() -> None:
    reg = compute_metrics("regression", [1.0, 2.0, 3.0], [1.5, 2.0, 2.0])
    assert reg["mae"] == pytest.approx(0.5) and reg["rmse"] == pytest.approx(np.sqrt(1.25 / 3))
    multi = compute_metrics("multiclass_classification", ["a", "b", "c"], ["a", "b", "b"])
    assert multi["accuracy"] == pytest.approx(2 / 3) and "f1_macro" in multi


@pytest.mark.parametrize("seed", range(40))
def test_binary_numpy_path_equals_sklearn_exactly(seed: int) -> None:
    """The NumPy path (`opsloop.metrics._binary`) is scikit-learn's arithmetic: equal values,
    not approximately equal, on ties, float labels from a join, booleans, one-class and
    no-positive-prediction windows."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 300))
    y = rng.integers(0, 2, n) if seed % 9 else np.ones(n, dtype=int)
    score = rng.random(n)
    if seed % 3 == 0:
        score = np.round(score * 4) / 4  # many ties
    pred = (score >= (0.5 if seed % 5 else 2.0)).astype(int)  # % 5: no positive prediction
    if seed % 4 == 1:
        y = y.astype(float)
    if seed % 4 == 2:
        y, pred = y.astype(bool), pred.astype(bool)
    out = compute_metrics("binary_classification", y, pred, score)
    positive = y.max()
    expected = {
        "accuracy": m.accuracy_score(y, pred),
        "precision": m.precision_score(y, pred, pos_label=positive, zero_division=0),
        "recall": m.recall_score(y, pred, pos_label=positive, zero_division=0),
        "f1": m.f1_score(y, pred, pos_label=positive, zero_division=0),
    }
    truth = (y == positive).astype(int)
    if len(np.unique(truth)) == 2:
        expected["roc_auc"] = m.roc_auc_score(truth, score)
        expected["log_loss"] = m.log_loss(truth, np.clip(score, 1e-15, 1 - 1e-15), labels=[0, 1])
    assert out == {k: float(v) for k, v in expected.items()}


def test_labels_outside_two_classes_still_go_to_sklearn() -> None:
    with pytest.raises(ValueError, match="multiclass"):
        compute_metrics("binary_classification", [0, 1, 2], [0, 1, 1], [0.1, 0.9, 0.8])
