"""Calibration and ranking metrics against scikit-learn and hand computation."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, ndcg_score

from opsloop.monitor.scores import calibration_summary, ndcg_at_k, precision_at_k


def sample(n: int, seed: int, decimals: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    score = rng.random(n)
    if decimals is not None:
        score = np.round(score, decimals)
    return (rng.random(n) < score).astype(int), score


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("bins", [5, 10, 20])
def test_calibration_matches_sklearn(seed: int, bins: int) -> None:
    truth, score = sample(700, seed, decimals=2)  # values on the bin edges included
    out = calibration_summary(truth, score, bins)
    prob_true, prob_pred = calibration_curve(truth, score, n_bins=bins)
    assert [b["positive_rate"] for b in out["bins"]] == pytest.approx(list(prob_true))
    assert [b["mean_score"] for b in out["bins"]] == pytest.approx(list(prob_pred))
    assert out["brier"] == pytest.approx(brier_score_loss(truth, score))
    counts = np.array([b["n"] for b in out["bins"]])
    assert counts.sum() == 700
    assert out["ece"] == pytest.approx(float(np.sum(counts / 700 * np.abs(prob_true - prob_pred))))


def test_perfectly_calibrated_bins_have_zero_ece() -> None:
    score = np.array([0.25] * 4 + [0.75] * 4)
    truth = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    assert calibration_summary(truth, score, 2)["ece"] == pytest.approx(0.0)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [1, 10, 100, 1000])
def test_ndcg_matches_sklearn(seed: int, k: int) -> None:
    truth, score = sample(300, seed, decimals=2 if seed % 2 else None)  # ties on odd seeds
    assert ndcg_at_k(truth, score, k) == pytest.approx(ndcg_score([truth], [score], k=k))


def test_precision_at_k_by_hand() -> None:
    truth, score = sample(500, 9)
    for k in (1, 7, 50, 500, 900):
        top = np.argsort(-score)[:k]
        assert precision_at_k(truth, score, k) == pytest.approx(truth[top].mean())
    # ties at the boundary count in proportion: 2 of the 3 tied rows fit in k = 3
    assert precision_at_k([1, 1, 0, 0], [0.9, 0.5, 0.5, 0.5], 3) == pytest.approx(
        (1 + 2 / 3 * 1) / 3
    )
    assert precision_at_k([], [], 5) == 0.0
