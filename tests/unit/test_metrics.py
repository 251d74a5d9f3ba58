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
