"""The ranking gate's error rates, checked by simulation (runs in CI, a few seconds).

(a) Two equally good rankers (the same noise around the same true affinities) on the same
    users: the superiority gate (δ = 0) on NDCG@k promotes the challenger at most at the
    nominal rate (1 − confidence) / 2 = 2.5% — over 500 simulations the count must stay
    below the binomial bound a correct test exceeds with probability 1%.
(b) A clearly better ranker (half the noise) is promoted.

Users are the unit of the paired bootstrap; 400 resamples and ~300 users per simulation keep
it fast (the percentile interval's error at 2.5% with 400 resamples is small next to the
binomial error of 500 simulations).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from opsloop.config import MetricRule
from opsloop.gate.ranking import evaluate_ranking_rule
from ranking_sim import ranker, world

SIMS = 500
RULE = MetricRule(metric="ndcg_at_k", policy="superiority", margin=0.0)


def promoted(sims: int, noise_a: float, seed: int, users: int = 400) -> int:
    rng = np.random.default_rng(seed)
    count = 0
    for i in range(sims):
        w = world(users, rng, size=40)
        a, k = ranker(w, rng, noise_a), ranker(w, rng, 1.0)
        row = evaluate_ranking_rule(RULE, a, k, confidence=0.95, resamples=400, seed=i)
        count += row["passed"]
    return count


def test_equal_rankers_are_promoted_at_most_at_the_nominal_rate() -> None:
    count = promoted(SIMS, 1.0, seed=20261207)
    nominal = (1 - 0.95) / 2
    bound = int(stats.binom.ppf(0.99, SIMS, nominal))
    assert count <= bound, f"{count}/{SIMS} equal rankers promoted; nominal {nominal:.1%}"
    assert count >= 1  # not vacuous: the test does fire at about its nominal rate


def test_a_clearly_better_ranker_is_promoted() -> None:
    assert promoted(40, 0.5, seed=3) >= 38
