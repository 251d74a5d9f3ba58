"""Simulated false-alarm rate and power of the default drift rule (DESIGN: 'statistics you
can defend'). Reference 5,000 rows, windows of 2,000 rows, same distribution unless shifted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from opsloop.config import DriftConfig
from opsloop.data.features import FeatureSpec
from opsloop.monitor.drift import detect_drift
from opsloop.monitor.profile import compute_profile

FEATURES = [FeatureSpec("x", "numeric", "float64"), FeatureSpec("c", "categorical", "string")]
SIMULATIONS = 300
CATS = ["a", "b", "c", "d"]
PROBS = [0.4, 0.3, 0.2, 0.1]


def sample(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame({"x": rng.normal(shift, 1.0, n), "c": rng.choice(CATS, n, p=PROBS)})


def lower_bound(alarms: int, n: int, confidence: float = 0.999) -> float:
    """One-sided Clopper-Pearson lower bound of the alarm rate: above the nominal rate only
    if the simulation gives strong evidence that the rule alarms too often."""
    return 0.0 if alarms == 0 else float(stats.beta.ppf(1 - confidence, alarms, n - alarms + 1))


def test_false_alarm_rate_at_most_nominal() -> None:
    rng = np.random.default_rng(20261124)
    cfg = DriftConfig()  # p < 0.01 or PSI >= 0.2
    reference = compute_profile(sample(rng, 5000), FEATURES)
    alarms = {"x": 0, "c": 0}
    datasets = 0
    for _ in range(SIMULATIONS):
        result = detect_drift(reference, sample(rng, 2000), FEATURES, cfg)
        for f in result.features:
            alarms[f.name] += f.drifted
        datasets += result.detected
    for name, count in alarms.items():
        # the rule's nominal per-feature rate is the test's alpha (PSI >= 0.2 is far in the tail)
        assert lower_bound(count, SIMULATIONS) <= cfg.p_value, \
            f"{name}: {count}/{SIMULATIONS} false alarms, nominal {cfg.p_value}"
    assert lower_bound(datasets, SIMULATIONS) <= 0.05


def test_small_shifts_are_detected() -> None:
    rng = np.random.default_rng(7)
    cfg = DriftConfig()
    reference = compute_profile(sample(rng, 5000), FEATURES)
    detected = sum(detect_drift(reference, sample(rng, 2000, shift=0.3), FEATURES, cfg)
                   .features[0].drifted for _ in range(100))
    assert detected >= 95
