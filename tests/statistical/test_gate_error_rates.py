"""The gate's error rates, checked by simulation (runs in CI).

(a) A challenger identical in distribution to the champion is promoted under
    `superiority` (δ = 0) at most at the nominal rate (1 − confidence) / 2 = 2.5%: the
    count over 500 simulations must stay below the binomial bound that a correct test
    exceeds with probability 0.1%.
(b) A real improvement of a stated size is promoted with the power the normal theory
    predicts (from the true AUC difference and the standard error), within binomial error.
(c) A challenger better overall but worse on one slice is rejected.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from opsloop.config import parse_config
from opsloop.gate.evaluate import Scored, evaluate_rule, evaluate_slices

BASE = {"model": "m", "target": "y", "id_column": "id", "time_column": "t"}
SIMS = 500


def simulate(
    n: int,
    rng: np.random.Generator,
    lift: float = 0.0,
    penalty: float = 0.0,
    segment: np.ndarray | None = None,
) -> tuple[np.ndarray, Scored, Scored]:
    """Two correlated scorers; the challenger's signal is `lift` stronger (and `penalty`
    weaker where `segment` is 'c')."""
    y = (rng.random(n) < 0.4).astype(int)
    shared = rng.normal(0, 1, n)
    strength = 1.0 + lift - (0.0 if segment is None else np.where(segment == "c", penalty, 0))
    a = 1 / (1 + np.exp(-(y * strength + shared + rng.normal(0, 0.8, n) - 0.5)))
    k = 1 / (1 + np.exp(-(y * 1.0 + shared + rng.normal(0, 0.8, n) - 0.5)))
    return y, Scored("2", (a >= 0.5).astype(int), a), Scored("1", (k >= 0.5).astype(int), k)


def bound(trials: int, p: float) -> int:
    """Promotions a test with error rate `p` exceeds with probability 0.1%."""
    return int(stats.binom.ppf(0.999, trials, p))


@pytest.mark.parametrize(
    ("metric", "method", "resamples"),
    [
        ("roc_auc", "delong", 1000),
        ("accuracy", "mcnemar", 1000),
        ("f1", "bootstrap", 400),
    ],
)
def test_equal_challengers_are_promoted_at_most_at_the_nominal_rate(
    metric: str,
    method: str,
    resamples: int,
) -> None:
    cfg = parse_config({**BASE, "gate": {"metric": metric, "policy": "superiority", "margin": 0.0}})
    rule = cfg.gate.primary
    assert rule.method == method
    rng = np.random.default_rng(20261124)
    promoted = 0
    for i in range(SIMS):
        y, a, k = simulate(800, rng)
        row = evaluate_rule(rule, cfg.task, y, a, k, confidence=0.95, resamples=resamples, seed=i)
        promoted += row["passed"]
    nominal = (1 - 0.95) / 2
    assert promoted <= bound(SIMS, nominal), (
        f"{method}: {promoted}/{SIMS} equal challengers promoted; nominal {nominal:.1%}"
    )
    assert promoted >= 1  # not vacuous: the test does fire at about its nominal rate


def test_a_real_improvement_is_promoted_with_the_expected_power() -> None:
    cfg = parse_config(
        {**BASE, "gate": {"metric": "roc_auc", "policy": "superiority", "margin": 0.0}}
    )
    rule = cfg.gate.primary
    rng = np.random.default_rng(7)
    lift, n = 0.18, 1500
    y, a, k = simulate(400_000, rng, lift=lift)  # the true AUC difference, near exactly
    from sklearn.metrics import roc_auc_score

    true_diff = roc_auc_score(y, a.score) - roc_auc_score(y, k.score)
    promoted, ses = 0, []
    for i in range(SIMS):
        y, a, k = simulate(n, rng, lift=lift)
        row = evaluate_rule(rule, cfg.task, y, a, k, confidence=0.95, resamples=1000, seed=i)
        promoted += row["passed"]
        ses.append(row["se"])
    expected = stats.norm.sf(stats.norm.ppf(0.975) - true_diff / float(np.mean(ses)))
    lo = stats.binom.ppf(0.0005, SIMS, expected) / SIMS
    hi = stats.binom.ppf(0.9995, SIMS, expected) / SIMS
    assert 0.5 < expected < 0.95  # a meaningful power, neither trivial nor certain
    assert lo - 0.03 <= promoted / SIMS <= hi + 0.03, (
        f"power {promoted / SIMS:.3f}, expected {expected:.3f} (true ΔAUC {true_diff:.4f})"
    )


def test_better_overall_but_worse_on_a_slice_is_rejected() -> None:
    import pandas as pd

    cfg = parse_config(
        {
            **BASE,
            "gate": {
                "metric": "roc_auc",
                "slices": [{"name": "segment", "column": "segment", "min_rows": 200}],
            },
        }
    )
    rng = np.random.default_rng(11)
    sims, rejected, better_overall = 200, 0, 0
    for _ in range(sims):
        segment = rng.choice(["a", "b", "c"], 5000, p=[0.4, 0.4, 0.2])
        y, a, k = simulate(5000, rng, lift=0.4, penalty=1.2, segment=segment)
        overall = evaluate_rule(
            cfg.gate.primary, cfg.task, y, a, k, confidence=0.95, resamples=1000, seed=0
        )
        better_overall += overall["improvement"] > 0
        rows, _, ok = evaluate_slices(cfg, pd.DataFrame({"segment": segment}), y, a, k)
        rejected += not ok
        assert {r["slice"] for r in rows} == {"segment=a", "segment=b", "segment=c"}
    assert better_overall == sims
    assert rejected >= 0.95 * sims, f"only {rejected}/{sims} rejected"
