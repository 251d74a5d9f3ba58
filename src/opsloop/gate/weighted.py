"""Row-weighted versions of the task metrics, vectorised over many weight vectors.

`weighted_metric(metric, task, y_true, y_pred, y_score)` returns a function mapping a
(k, n) weight matrix to k metric values; with all weights 1 it equals
`opsloop.metrics.compute_metrics` (checked in tests). The paired bootstrap draws
multinomial weights, so one matrix product per resample block replaces k resampled frames.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from opsloop.gate.stats import WeightedMetric
from opsloop.metrics import _positive, align_labels


def positive_class(y_true: np.ndarray) -> Any:
    """The class scored by P(positive): the largest label (as in opsloop.metrics)."""
    return _positive(np.asarray(y_true))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    return _ratio(2 * tp, 2 * tp + fp + fn)


def _weighted_auc(truth: np.ndarray, score: np.ndarray) -> WeightedMetric:
    order = np.argsort(score, kind="mergesort")
    s, t = score[order], truth[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # groups of tied scores

    def fn(w: np.ndarray) -> np.ndarray:
        ws = w[:, order]
        pos = np.add.reduceat(ws * t, starts, axis=1)
        neg = np.add.reduceat(ws * ~t, starts, axis=1)
        below = np.cumsum(neg, axis=1) - neg
        num = (pos * (below + 0.5 * neg)).sum(axis=1)
        den = pos.sum(axis=1) * neg.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)

    return fn


def weighted_metric(
    metric: str, task: str, y_true: Any, y_pred: Any, y_score: Any = None
) -> WeightedMetric:
    """A weighted metric function for `metric`; raises ValueError if it cannot be computed."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if task == "regression":
        yt, yp = y_true.astype(float), y_pred.astype(float)
        sq, ab = (yt - yp) ** 2, np.abs(yt - yp)
        if metric == "rmse":
            return lambda w: np.sqrt((w @ sq) / w.sum(axis=1))
        if metric == "mae":
            return lambda w: (w @ ab) / w.sum(axis=1)
        if metric == "r2":

            def r2(w: np.ndarray) -> np.ndarray:
                total = w.sum(axis=1)
                mean = (w @ yt) / total
                ss_tot = (w @ yt**2) - total * mean**2
                return 1 - _ratio(w @ sq, ss_tot)

            return r2
        raise ValueError(f"{metric!r} is not a regression metric")

    y_true, y_pred = align_labels(y_true, y_pred)
    correct = (y_true == y_pred).astype(float)
    if metric == "accuracy":
        return lambda w: (w @ correct) / w.sum(axis=1)
    if metric == "f1_macro":
        classes = np.unique(np.concatenate([y_true, y_pred]))
        parts = [
            (
                (y_pred == c) & (y_true == c),
                (y_pred == c) & (y_true != c),
                (y_pred != c) & (y_true == c),
            )
            for c in classes
        ]

        def f1_macro(w: np.ndarray) -> np.ndarray:
            scores = [
                _f1(w @ tp.astype(float), w @ fp.astype(float), w @ fn.astype(float))
                for tp, fp, fn in parts
            ]
            mean: np.ndarray = np.mean(scores, axis=0)
            return mean

        return f1_macro

    positive = positive_class(y_true)
    truth = y_true == positive
    said = y_pred == positive
    tp, fp, fn = (
        (said & truth).astype(float),
        (said & ~truth).astype(float),
        (~said & truth).astype(float),
    )
    if metric == "precision":
        return lambda w: _ratio(w @ tp, w @ tp + w @ fp)
    if metric == "recall":
        return lambda w: _ratio(w @ tp, w @ tp + w @ fn)
    if metric == "f1":
        return lambda w: _f1(w @ tp, w @ fp, w @ fn)
    if metric in ("roc_auc", "log_loss"):
        if y_score is None:
            raise ValueError(f"{metric} needs scores (predict_proba) from both models")
        score = np.asarray(y_score, dtype=float)
        if metric == "roc_auc":
            return _weighted_auc(truth, score)
        p = np.clip(score, 1e-15, 1 - 1e-15)
        loss = -(truth * np.log(p) + (~truth) * np.log(1 - p))
        return lambda w: (w @ loss) / w.sum(axis=1)
    raise ValueError(f"{metric!r} is not a {task} metric")
