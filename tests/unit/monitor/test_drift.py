"""Drift statistics checked against scipy's reference implementations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from opsloop.config import DriftConfig
from opsloop.data.features import FeatureSpec
from opsloop.monitor.drift import chi2_two_sample, detect_drift, ks_from_sketch, psi
from opsloop.monitor.profile import compute_profile

NUM = FeatureSpec("x", "numeric", "float64")
CAT = FeatureSpec("c", "categorical", "string")


def frame(n: int, *, shift: float = 0.0, p: tuple[float, ...] = (0.5, 0.3, 0.2), seed: int = 0
          ) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(shift, 1.0, n),
                         "c": rng.choice(["a", "b", "c"], n, p=list(p))})


def test_psi_matches_hand_computation() -> None:
    ref, cur = [50, 30, 20], [30, 30, 40]
    p, q = np.array([0.5, 0.3, 0.2]), np.array([0.3, 0.3, 0.4])
    assert psi(ref, cur) == pytest.approx(float(np.sum((q - p) * np.log(q / p))))
    assert psi(ref, ref) == 0.0
    assert np.isfinite(psi([10, 0], [0, 10]))  # empty cells get epsilon mass


def test_ks_from_sketch_close_to_scipy() -> None:
    rng = np.random.default_rng(1)
    reference = rng.normal(0, 1, 50_000)
    current = rng.normal(0.1, 1, 3_000)
    sketch = np.quantile(reference, np.linspace(0, 1, 1000))
    d, p = ks_from_sketch(sketch, len(reference), current)
    exact = stats.ks_2samp(reference, current)
    # the sketch resolves the reference ECDF to 1/999: D differs by at most that
    assert abs(d - exact.statistic) <= 1 / 999 + 1e-9
    # reference counted as 1,000 points: the p-value is conservative (never smaller)
    assert p >= exact.pvalue
    same = ks_from_sketch(sketch, len(reference), rng.normal(0, 1, 3_000))
    assert same[1] > 0.01


def test_chi2_two_sample_equals_scipy_contingency() -> None:
    ref, cur = [500, 300, 200], [280, 190, 130]
    stat, p = chi2_two_sample(ref, cur)
    expected = stats.chi2_contingency(np.array([ref, cur]), correction=False)
    assert stat == pytest.approx(expected.statistic) and p == pytest.approx(expected.pvalue)


def test_chi2_pools_sparse_categories() -> None:
    stat, p = chi2_two_sample([500, 300, 2, 1], [250, 150, 0, 3])
    pooled = stats.chi2_contingency(np.array([[500, 300, 3], [250, 150, 3]]), correction=False)
    assert stat == pytest.approx(pooled.statistic) and p == pytest.approx(pooled.pvalue)


def test_no_drift_not_flagged_and_shifts_are() -> None:
    ref = compute_profile(frame(5000), [NUM, CAT])
    cfg = DriftConfig()
    calm = detect_drift(ref, frame(2000, seed=1), [NUM, CAT], cfg)
    assert not calm.detected and calm.drifted_features == []
    moved = detect_drift(ref, frame(2000, shift=0.5, p=(0.2, 0.3, 0.5), seed=2), [NUM, CAT], cfg)
    assert moved.detected and moved.drifted_features == ["x", "c"]
    x = moved.features[0]
    assert x.test == "ks" and x.psi is not None and x.psi > 0.1 and x.p_value < 1e-6
    assert moved.features[1].test == "chi2"


def test_insufficient_data_and_missing_rates() -> None:
    ref = compute_profile(frame(1000), [NUM, CAT])
    small = frame(20, seed=3)
    result = detect_drift(ref, small, [NUM, CAT], DriftConfig(min_rows=100))
    assert [f.status for f in result.features] == ["insufficient_data"] * 2
    assert result.tested == 0 and not result.detected
    gappy = frame(500, seed=4)
    gappy.loc[:99, "x"] = np.nan
    f = detect_drift(ref, gappy, [NUM], DriftConfig()).features[0]
    assert f.missing_rate_current == pytest.approx(0.2) and f.missing_rate_reference == 0.0


def test_unseen_categories_counted() -> None:
    ref = compute_profile(frame(1000), [CAT])
    cur = frame(300, seed=5)
    cur.loc[:49, "c"] = "brand-new"
    f = detect_drift(ref, cur, [CAT], DriftConfig()).features[0]
    assert f.unseen == 50 and f.current_counts[-1] == 50  # counted in __other__
