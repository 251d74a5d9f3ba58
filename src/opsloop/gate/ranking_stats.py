"""Challenger vs champion on one ranking metric, users as the unit of resampling.

Per-user metrics (precision, recall, NDCG, MAP at k, novelty, popularity bias, cold-start
NDCG) are means over the users that have a value: the paired bootstrap
(`gate.stats.paired_bootstrap`) draws weights over users, shared by both models, and
recomputes each as a weighted mean (a ratio estimator). Coverage is a property of the whole
set of lists: compared on its point value (``method: point``).
"""

from __future__ import annotations

import numpy as np

from opsloop.config.base import LOWER_IS_BETTER
from opsloop.gate.stats import Comparison, WeightedMetric, paired_bootstrap
from opsloop.ranking.metrics import PerUser, metric_value


def user_mean(values: np.ndarray) -> WeightedMetric:
    """Weights over users (k, n) → the k weighted means over the users with a value."""
    has = ~np.isnan(values)
    filled, counted = np.where(has, values, 0.0), has.astype(float)

    def fn(w: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            out: np.ndarray = (w @ filled) / (w @ counted)
        return out

    return fn


def point_comparison(
    metric: str, challenger: float, champion: float, *, sign: float, n: int, confidence: float
) -> Comparison:
    """A comparison without sampling error: the interval is the observed difference."""
    diff = sign * (challenger - champion)
    return Comparison(
        metric,
        "point",
        challenger,
        champion,
        diff,
        diff,
        diff,
        confidence,
        n,
        lambda thr: 0.0 if diff > thr else 1.0,
        lambda thr: 0.0 if diff < thr else 1.0,
        {"unit": "catalogue"},
    )


def compare_ranking(
    metric: str,
    a: PerUser,
    k: PerUser,
    *,
    cold_start: np.ndarray | None,
    confidence: float,
    resamples: int,
    seed: int,
) -> Comparison:
    """Challenger ``a`` vs champion ``k`` on the same users; ValueError when not computable."""
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    if metric == "coverage":
        ca, ck = metric_value("coverage", a), metric_value("coverage", k)
        if ca is None or ck is None:
            raise ValueError("coverage needs a non-empty catalogue")
        return point_comparison("coverage", ca, ck, sign=sign, n=len(a), confidence=confidence)
    va, vk = a.values(metric, cold_start), k.values(metric, cold_start)
    used = ~np.isnan(va) | ~np.isnan(vk)
    n = int(used.sum())
    if n == 0:
        raise ValueError(f"no user has a value of {metric} (e.g. no relevant items)")
    comp = paired_bootstrap(
        metric,
        user_mean(va[used]),
        user_mean(vk[used]),
        n,
        sign=sign,
        confidence=confidence,
        resamples=resamples,
        seed=seed,
    )
    comp.detail["unit"] = "user"
    return comp
