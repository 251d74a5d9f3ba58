"""Simulated behaviour of the multivariate check (PCA reconstruction error, band learned from
20 reference chunks at ± 3σ, scaled to the window) and of learned univariate thresholds.

- no drift: the multivariate false-alarm rate is near the nominal two-sided 3σ rate (0.27%):
  not above 1% (one-sided Clopper–Pearson bound at 99.9%) for windows of 1,000 to 100,000
  rows against a 5,000-row reference, each simulation with its own reference;
- the classic NannyML case: two features whose correlation flips (0.8 → −0.8) or vanishes while
  each marginal stays N(0, 1): the univariate rule does not see it, the multivariate check does;
- learned thresholds (mean + 3σ of 20 chunks' distances, rescaled to the window): no-drift
  false alarms per feature not above 2% for windows smaller and larger than the chunks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from opsloop.config import DriftConfig
from opsloop.core.profile import compute_profile, profile_frame
from opsloop.core.transform import frame_error
from opsloop.data.features import FeatureSpec
from opsloop.monitor.drift import detect_drift
from opsloop.monitor.multivariate import fit_transform, judge
from opsloop.monitor.thresholds import learn_thresholds

FEATURES = [
    *(FeatureSpec(n, "numeric", "float64") for n in "abcd"),
    FeatureSpec("cat", "categorical", "string"),
]
CATS = np.array(["x", "y", "z"], dtype=object)


def sample(rng: np.random.Generator, n: int, rho: float = 0.8) -> pd.DataFrame:
    a = rng.normal(0, 1, n)
    b = rho * a + np.sqrt(1 - rho**2) * rng.normal(0, 1, n)
    return pd.DataFrame(
        {
            "a": a,
            "b": b,
            "c": rng.normal(0, 1, n),
            "d": rng.normal(0, 1, n),
            "cat": CATS[rng.choice(3, n, p=[0.5, 0.3, 0.2])],
        }
    )


def lower_bound(alarms: int, n: int, confidence: float = 0.999) -> float:
    return 0.0 if alarms == 0 else float(stats.beta.ppf(1 - confidence, alarms, n - alarms + 1))


@pytest.mark.parametrize(
    ("n", "references", "windows"), [(1_000, 30, 20), (20_000, 20, 10), (100_000, 8, 5)]
)
def test_multivariate_false_alarm_near_nominal(n: int, references: int, windows: int) -> None:
    rng = np.random.default_rng(20261125 + n)
    alarms = sims = 0
    for _ in range(references):
        transform = fit_transform(sample(rng, 5000), FEATURES)
        assert transform is not None
        for _ in range(windows):
            rows, value = frame_error(sample(rng, n), transform)
            alarms += judge(transform, rows, value).drifted
            sims += 1
    assert lower_bound(alarms, sims) <= 0.01, f"{alarms}/{sims} false alarms at n={n}"


@pytest.mark.parametrize("rho", [-0.8, 0.0])
def test_correlation_change_missed_by_univariate_is_detected(rho: float) -> None:
    rng = np.random.default_rng(7)
    reference = sample(rng, 5000)
    profile = compute_profile(reference, FEATURES)
    transform = fit_transform(reference, FEATURES)
    assert transform is not None
    univariate = multivariate = 0
    simulations = 40
    for _ in range(simulations):
        window = sample(rng, 2000, rho=rho)
        univariate += detect_drift(
            profile, profile_frame(window, profile), FEATURES, DriftConfig()
        ).detected
        multivariate += judge(transform, *frame_error(window, transform)).drifted
    assert univariate <= 2, f"univariate drift flagged {univariate}/{simulations} windows"
    assert multivariate == simulations


@pytest.mark.parametrize(
    ("method", "n"),
    [
        ("jensenshannon", 1_000),
        ("wasserstein", 1_000),
        ("psi", 1_000),
        ("jensenshannon", 50_000),
        ("wasserstein", 50_000),
        ("psi", 50_000),
    ],
)
def test_learned_thresholds_false_alarm(method: str, n: int) -> None:
    rng = np.random.default_rng([n, len(method), ord(method[0])])
    cfg = DriftConfig(method=method, thresholds="learned")  # type: ignore[arg-type]
    alarms: dict[str, int] = {}
    sims = 0
    for _ in range(15 if n < 10_000 else 6):
        reference = sample(rng, 5000)
        profile = compute_profile(reference, FEATURES)
        learned = learn_thresholds(reference, profile, FEATURES)
        for _ in range(20 if n < 10_000 else 8):
            result = detect_drift(
                profile, profile_frame(sample(rng, n), profile), FEATURES, cfg, learned=learned
            )
            for f in result.features:
                assert f.threshold_source == "learned"
                # the learned threshold's own rate (detectable, material or not): the
                # materiality floor would hide a miscalibrated threshold
                alarms[f.name] = alarms.get(f.name, 0) + f.detectable
            sims += 1
    for name, count in alarms.items():
        assert lower_bound(count, sims) <= 0.02, (
            f"{name}: {count}/{sims} false alarms with learned {method} at n={n}"
        )
