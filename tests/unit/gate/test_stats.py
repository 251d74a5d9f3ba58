"""The gate's statistics against scipy/scikit-learn reference implementations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from sklearn import metrics as skm

from opsloop.gate.stats import delong, holm, mcnemar, mcnemar_test, paired_bootstrap
from opsloop.gate.weighted import weighted_metric
from opsloop.metrics import compute_metrics


def _scores(n: int, seed: int, lift: float = 0.0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.35).astype(int)
    shared = rng.normal(0, 1, n)
    a = y * (1.0 + lift) + shared + rng.normal(0, 1, n)
    k = y * 1.0 + shared + rng.normal(0, 1, n)
    return y, a, k


def test_delong_aucs_match_sklearn_and_its_se_matches_the_bootstrap() -> None:
    y, a, k = _scores(3000, 1, lift=0.1)
    a = np.round(a, 1)  # ties are handled by mid-ranks
    d = delong(y, a, k)
    assert d.challenger == pytest.approx(skm.roc_auc_score(y, a))
    assert d.champion == pytest.approx(skm.roc_auc_score(y, k))
    b = paired_bootstrap(
        "roc_auc",
        weighted_metric("roc_auc", "binary_classification", y, a > 0.5, a),
        weighted_metric("roc_auc", "binary_classification", y, k > 0.5, k),
        len(y),
        resamples=2000,
        seed=3,
    )
    assert b.improvement == pytest.approx(d.improvement)
    assert b.detail["bootstrap_se"] == pytest.approx(d.detail["se"], rel=0.1)
    assert d.ci_low < d.improvement < d.ci_high
    assert d.p_above(d.ci_low) == pytest.approx(0.025, abs=1e-9)
    assert d.p_below(d.ci_high) == pytest.approx(0.025, abs=1e-9)


def test_delong_needs_both_classes() -> None:
    with pytest.raises(ValueError, match="2 rows of each class"):
        delong(np.ones(10), np.arange(10.0), np.arange(10.0))


@pytest.mark.parametrize(("b", "c"), [(3, 9), (0, 5), (12, 12), (40, 20)])
def test_mcnemar_test_matches_the_binomial_and_chi_square(b: int, c: int) -> None:
    stat, p, exact = mcnemar_test(b, c)
    if b + c < 25:
        assert exact and p == pytest.approx(min(1.0, sps.binomtest(b, b + c, 0.5).pvalue))
    else:
        assert not exact and stat == pytest.approx((abs(b - c) - 1) ** 2 / (b + c))
        assert p == pytest.approx(sps.chi2.sf(stat, 1))


def test_mcnemar_interval_is_clopper_pearson_on_the_discordant_share() -> None:
    rng = np.random.default_rng(0)
    a = rng.random(500) < 0.8
    k = rng.random(500) < 0.75
    comp = mcnemar(a, k)
    b, c = int((a & ~k).sum()), int((~a & k).sum())
    ci = sps.binomtest(b, b + c).proportion_ci(0.95, method="exact")
    m, n = b + c, 500
    assert comp.improvement == pytest.approx(a.mean() - k.mean())
    assert comp.ci_low == pytest.approx(m / n * (2 * ci.low - 1))
    assert comp.ci_high == pytest.approx(m / n * (2 * ci.high - 1))
    # with δ = 0 the decision is the exact one-sided McNemar test
    assert comp.p_above(0.0) == pytest.approx(sps.binomtest(b, m, 0.5, "greater").pvalue)
    assert comp.p_below(0.0) == pytest.approx(sps.binomtest(b, m, 0.5, "less").pvalue)


def test_mcnemar_without_discordant_rows() -> None:
    same = np.array([True, False, True])
    comp = mcnemar(same, same)
    assert comp.improvement == 0 and comp.ci_low == comp.ci_high == 0
    assert comp.p_above(-0.01) == 0.0 and comp.p_above(0.0) == 1.0


def _unit_and_sample_weighted(task: str, metric: str, y, pred, score, w) -> None:
    fn = weighted_metric(metric, task, y, pred, score)
    assert fn(np.ones((1, len(y))))[0] == pytest.approx(
        compute_metrics(task, y, pred, score)[metric]
    )
    reference = {
        "roc_auc": lambda: skm.roc_auc_score(y, score, sample_weight=w),
        "f1": lambda: skm.f1_score(y, pred, sample_weight=w),
        "precision": lambda: skm.precision_score(y, pred, sample_weight=w),
        "recall": lambda: skm.recall_score(y, pred, sample_weight=w),
        "accuracy": lambda: skm.accuracy_score(y, pred, sample_weight=w),
        "log_loss": lambda: skm.log_loss(y, score, sample_weight=w),
        "rmse": lambda: np.sqrt(skm.mean_squared_error(y, pred, sample_weight=w)),
        "mae": lambda: skm.mean_absolute_error(y, pred, sample_weight=w),
        "r2": lambda: skm.r2_score(y, pred, sample_weight=w),
        "f1_macro": lambda: skm.f1_score(y, pred, average="macro", sample_weight=w),
    }[metric]()
    assert fn(w[None, :].astype(float))[0] == pytest.approx(reference)


@pytest.mark.parametrize("metric", ["roc_auc", "f1", "precision", "recall", "accuracy", "log_loss"])
def test_weighted_binary_metrics_equal_sklearn(metric: str) -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 400)
    score = np.clip(np.round(y * 0.3 + rng.random(400) * 0.7, 2), 0.01, 0.99)
    pred = (score > 0.5).astype(int)
    w = rng.integers(0, 4, 400)
    _unit_and_sample_weighted("binary_classification", metric, y, pred, score, w)


@pytest.mark.parametrize("metric", ["rmse", "mae", "r2"])
def test_weighted_regression_metrics_equal_sklearn(metric: str) -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(0, 1, 300)
    pred = y + rng.normal(0, 0.5, 300)
    _unit_and_sample_weighted("regression", metric, y, pred, None, rng.integers(0, 4, 300))


def test_weighted_macro_f1_equals_sklearn() -> None:
    rng = np.random.default_rng(4)
    y = rng.choice(["a", "b", "c"], 300)
    pred = np.where(rng.random(300) < 0.6, y, rng.choice(["a", "b", "c"], 300))
    _unit_and_sample_weighted(
        "multiclass_classification", "f1_macro", y, pred, None, rng.integers(1, 4, 300)
    )


def test_bootstrap_is_seeded_and_lower_is_better_flips_the_sign() -> None:
    y, a, k = _scores(800, 5, lift=0.3)
    pa, pk = 1 / (1 + np.exp(-a)), 1 / (1 + np.exp(-k))
    fa = weighted_metric("log_loss", "binary_classification", y, pa > 0.5, pa)
    fk = weighted_metric("log_loss", "binary_classification", y, pk > 0.5, pk)
    one = paired_bootstrap("log_loss", fa, fk, len(y), sign=-1.0, seed=7)
    two = paired_bootstrap("log_loss", fa, fk, len(y), sign=-1.0, seed=7)
    other = paired_bootstrap("log_loss", fa, fk, len(y), sign=-1.0, seed=8)
    assert (one.ci_low, one.ci_high) == (two.ci_low, two.ci_high)
    assert (one.ci_low, one.ci_high) != (other.ci_low, other.ci_high)
    # the challenger has the lower log loss, so the improvement is positive
    assert one.challenger < one.champion and one.improvement > 0


def test_holm_matches_the_textbook_example() -> None:
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([]) == []


def test_resample_weights_are_multinomial_counts() -> None:
    from opsloop.gate.stats import resample_weights

    w = resample_weights(np.random.default_rng(1), 40, 20_000)
    assert w.shape == (20_000, 40) and (w.sum(axis=1) == 40).all()
    # Multinomial(n, 1/n): each count has mean 1 and variance 1 − 1/n, counts of two rows
    # covary by −1/n
    assert w.mean() == pytest.approx(1.0, abs=0.01)
    assert w.var(axis=0).mean() == pytest.approx(1 - 1 / 40, rel=0.03)
    assert np.cov(w[:, 0], w[:, 1])[0, 1] == pytest.approx(-1 / 40, abs=0.01)
    same = resample_weights(np.random.default_rng(1), 40, 20_000)
    assert (same == w).all()
