"""What a binary classifier's scores say on a window's labelled rows: calibration
(expected calibration error, Brier score, reliability bins) and ranking (precision@k,
NDCG@k). Checked against scikit-learn in tests/unit/monitor/test_scores.py."""

from __future__ import annotations

from typing import Any

import numpy as np


def calibration_summary(truth: Any, score: Any, bins: int = 10) -> dict[str, Any]:
    """ECE and Brier score of P(positive) against 0/1 labels, with the reliability bins:
    `bins` equal-width bins on [0, 1] as `sklearn.calibration.calibration_curve`
    (strategy "uniform"); ECE = Σ (n_b / n) |mean score_b − positive rate_b| over the
    non-empty bins."""
    t = np.asarray(truth, dtype=float)
    s = np.clip(np.asarray(score, dtype=float), 0.0, 1.0)
    edges = np.linspace(0.0, 1.0, bins + 1)
    ids = np.searchsorted(edges[1:-1], s)
    total = np.bincount(ids, minlength=bins)
    sums = np.bincount(ids, weights=s, minlength=bins)
    positives = np.bincount(ids, weights=t, minlength=bins)
    out_bins = []
    ece = 0.0
    for b in np.flatnonzero(total):
        mean_score, rate = sums[b] / total[b], positives[b] / total[b]
        ece += total[b] / len(s) * abs(mean_score - rate)
        out_bins.append(
            {
                "lower": float(edges[b]),
                "upper": float(edges[b + 1]),
                "n": int(total[b]),
                "mean_score": float(mean_score),
                "positive_rate": float(rate),
            }
        )
    return {"ece": float(ece), "brier": float(np.mean((s - t) ** 2)), "n": len(s), "bins": out_bins}


def precision_at_k(truth: Any, score: Any, k: int) -> float:
    """Share of positives among the k highest scores (k capped at the row count); rows tied
    with the k-th score count in proportion, as under a random tie-break."""
    t = np.asarray(truth, dtype=float)
    s = np.asarray(score, dtype=float)
    k = min(k, len(s))
    if k == 0:
        return 0.0
    kth = np.sort(s)[::-1][k - 1]
    above = s > kth
    tied = s == kth
    share = (k - above.sum()) / tied.sum()
    return float((t[above].sum() + share * t[tied].sum()) / k)


def ndcg_at_k(truth: Any, score: Any, k: int) -> float:
    """NDCG@k with binary relevance, gain / log2(rank + 1); tied scores share their
    positions' discounts evenly (scikit-learn's `ndcg_score` with ignore_ties=False)."""
    t = np.asarray(truth, dtype=float)
    s = np.asarray(score, dtype=float)
    discount = 1.0 / np.log2(np.arange(len(s)) + 2.0)
    discount[k:] = 0.0
    ideal = float(np.sort(t)[::-1] @ discount)
    if ideal == 0.0:
        return 0.0
    values, inverse, counts = np.unique(-s, return_inverse=True, return_counts=True)
    gains = np.bincount(inverse, weights=t) / counts
    ends = np.cumsum(counts)
    cum = np.r_[0.0, np.cumsum(discount)]
    group_discount = cum[ends] - cum[ends - counts]
    return float(gains @ group_discount / ideal) if len(values) else 0.0


def score_extras(
    truth: Any, score: Any, *, k: int, bins: int
) -> tuple[dict[str, float], dict[str, Any]]:
    """(ranking metrics for the performance dict, the `calibration` summary key)."""
    ranking = {
        f"precision@{k}": precision_at_k(truth, score, k),
        f"ndcg@{k}": ndcg_at_k(truth, score, k),
    }
    return ranking, calibration_summary(truth, score, bins)
