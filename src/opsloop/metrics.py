"""Task metrics shared by training, the gate and monitoring (scikit-learn's implementations).

A metric that is undefined on the data (ROC AUC with one class present, log loss without
scores) is omitted rather than reported as NaN.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np


def _positive(y_true: np.ndarray, classes: np.ndarray | None = None) -> Any:
    values = np.unique(y_true[~_isnull(y_true)]) if classes is None else classes
    return values.max() if len(values) else 1


def _isnull(values: np.ndarray) -> np.ndarray:
    import pandas as pd

    return np.asarray(pd.isna(values))


def align_labels(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Labels and predictions in one comparable dtype (e.g. ints vs floats, or as text)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.dtype != y_pred.dtype:
        try:
            y_pred = y_pred.astype(y_true.dtype)
        except (TypeError, ValueError):
            y_true, y_pred = y_true.astype(str), y_pred.astype(str)
    return y_true, y_pred


def positive_truth(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """1 where the label is the positive class: the largest class among labels and
    predictions (scikit-learn's classes_[1] of a binary classifier), else 0."""
    both = np.concatenate([y_true, y_pred])
    positive = _positive(both)
    truth: np.ndarray = (y_true == positive).astype(int)
    return truth


def compute_metrics(task: str, y_true: Any, y_pred: Any, y_score: Any = None) -> dict[str, float]:
    from sklearn import metrics as m

    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    out: dict[str, float] = {}
    if len(y_true) == 0:
        return out
    if task == "regression":
        yt, yp = y_true.astype(float), y_pred.astype(float)
        out["rmse"] = float(np.sqrt(m.mean_squared_error(yt, yp)))
        out["mae"] = float(m.mean_absolute_error(yt, yp))
        if len(yt) > 1:
            out["r2"] = float(m.r2_score(yt, yp))
        return out
    y_true, y_pred = align_labels(y_true, y_pred)
    out["accuracy"] = float(m.accuracy_score(y_true, y_pred))
    if task == "multiclass_classification":
        out["f1_macro"] = float(m.f1_score(y_true, y_pred, average="macro", zero_division=0))
        if y_score is not None and np.ndim(y_score) == 2:
            with contextlib.suppress(ValueError):
                out["log_loss"] = float(m.log_loss(y_true, y_score))
        return out
    positive = _positive(y_true)
    for name, fn in (
        ("precision", m.precision_score),
        ("recall", m.recall_score),
        ("f1", m.f1_score),
    ):
        out[name] = float(fn(y_true, y_pred, pos_label=positive, zero_division=0))
    if y_score is not None:
        score = np.asarray(y_score, dtype=float)
        truth = (y_true == positive).astype(int)
        if len(np.unique(truth)) == 2:
            out["roc_auc"] = float(m.roc_auc_score(truth, score))
            out["log_loss"] = float(
                m.log_loss(truth, np.clip(score, 1e-15, 1 - 1e-15), labels=[0, 1])
            )
    return out


def metric_value(
    task: str, metric: str, y_true: Any, y_pred: Any, y_score: Any = None
) -> float | None:
    return compute_metrics(task, y_true, y_pred, y_score).get(metric)
