"""Task metrics shared by training, the gate and monitoring (scikit-learn's implementations).

A metric that is undefined on the data (ROC AUC with one class present, log loss without
scores) is omitted rather than reported as NaN.

Binary classification on plain two-class data takes a NumPy path (`_binary`) that computes
scikit-learn's own arithmetic without its input validation — the validation costs ~80 ms
per call, which a backfill pays on every labelled window. Its values equal scikit-learn's
exactly (`tests/unit/test_metrics.py` compares them with `==`); anything else (nulls, more
than two classes, non-integral float labels, non-finite scores) goes to scikit-learn, which
computes or raises as before.
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
    fast = _binary(y_true, y_pred, y_score) if task == "binary_classification" else None
    if fast is not None:
        return fast
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


def _plain_binary(y_true: np.ndarray, y_pred: np.ndarray) -> bool:
    """Numbers, integral, finite, of two or fewer classes: what scikit-learn's target checks
    accept as binary without a warning or an error."""
    if y_true.ndim != 1 or y_pred.shape != y_true.shape:
        return False
    kind = y_true.dtype.kind
    if kind in "biu":
        pass
    elif kind == "f":
        both = np.concatenate([y_true, y_pred])
        if not np.isfinite(both).all() or (both != np.round(both)).any():
            return False
    else:  # text, objects, datetimes, …: the general path decides
        return False
    return len(np.unique(np.concatenate([y_true, y_pred]))) <= 2


def _binary(y_true: np.ndarray, y_pred: np.ndarray, y_score: Any) -> dict[str, float] | None:
    """scikit-learn's binary metrics (accuracy, precision/recall/F1 of the largest label
    with `zero_division=0`, ROC AUC and log loss of the scores) as its own arithmetic in
    NumPy; None when the data is not plain two-class data (`_plain_binary`)."""
    if not _plain_binary(y_true, y_pred):
        return None
    score = None
    if y_score is not None:
        score = np.asarray(y_score, dtype=float)
        if score.shape != y_true.shape or not np.isfinite(score).all():
            return None
    positive = _positive(y_true)
    truth = y_true == positive
    predicted = y_pred == positive
    tp = int(np.count_nonzero(truth & predicted))
    true_sum, pred_sum = int(np.count_nonzero(truth)), int(np.count_nonzero(predicted))
    out = {
        "accuracy": float(np.average(y_true == y_pred)),
        "precision": tp / pred_sum if pred_sum else 0.0,
        "recall": tp / true_sum if true_sum else 0.0,
        "f1": 2.0 * tp / (true_sum + pred_sum) if true_sum + pred_sum else 0.0,
    }
    if score is not None and 0 < true_sum < len(truth):
        out["roc_auc"] = _roc_auc(truth, score)
        out["log_loss"] = _log_loss(truth, score)
    return out


def _roc_auc(truth: np.ndarray, score: np.ndarray) -> float:
    """`roc_auc_score` of 0/1 `truth` (both present): the trapezoid under the ROC curve at
    the distinct scores, collinear points dropped (`roc_curve(drop_intermediate=True)`)."""
    order = np.argsort(score, kind="stable")[::-1]
    ranked = score[order]
    ends = np.r_[np.nonzero(np.diff(ranked))[0], len(ranked) - 1]
    tps = np.cumsum(truth[order].astype(float))[ends]
    fps = 1 + ends.astype(float) - tps
    if len(fps) > 2:
        keep = np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True]
        tps, fps = tps[keep], fps[keep]
    tps, fps = np.r_[0.0, tps], np.r_[0.0, fps]
    return float(np.trapezoid(tps / tps[-1], fps / fps[-1]))


def _log_loss(truth: np.ndarray, score: np.ndarray) -> float:
    """`log_loss(truth, clip(score, 1e-15, 1 − 1e-15), labels=[0, 1])`: the scores as the
    positive class's probability, clipped again at float64's machine epsilon."""
    p = np.clip(score, 1e-15, 1 - 1e-15)
    eps = np.finfo(float).eps
    chosen = np.where(truth, np.clip(p, eps, 1 - eps), np.clip(1 - p, eps, 1 - eps))
    return float(np.average(-np.log(chosen)))


def metric_value(
    task: str, metric: str, y_true: Any, y_pred: Any, y_score: Any = None
) -> float | None:
    return compute_metrics(task, y_true, y_pred, y_score).get(metric)
