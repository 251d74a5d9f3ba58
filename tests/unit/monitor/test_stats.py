"""Statistics from profiles against scipy's reference implementations.

The binned statistics are exact functions of the counts; where scipy works on raw data,
the tolerance is what the binning can change (stated per test)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance

from opsloop.core.sketch import SketchLayout, aligned, count_indices
from opsloop.monitor import stats as ops

REF, CUR = [500, 300, 150, 50], [380, 320, 200, 100]


def test_distances_on_counts_equal_scipy() -> None:
    """Same counts in, same number out (no binning difference: both see the histogram)."""
    p, q = np.array(REF) / sum(REF), np.array(CUR) / sum(CUR)
    assert ops.jensenshannon(REF, CUR) == pytest.approx(distance.jensenshannon(p, q, base=2))
    assert ops.hellinger(REF, CUR) == pytest.approx(
        distance.euclidean(np.sqrt(p), np.sqrt(q)) / np.sqrt(2)
    )
    assert ops.linf(REF, CUR) == pytest.approx(distance.chebyshev(p, q))
    assert ops.psi(REF, CUR) == pytest.approx(float(np.sum((q - p) * np.log(q / p))))
    assert ops.jensenshannon(REF, REF) == 0.0 and ops.hellinger(REF, REF) == pytest.approx(0.0)
    assert np.isfinite(ops.psi([10, 0], [0, 10]))  # empty cells get epsilon mass


def test_chi_square_tests_equal_scipy() -> None:
    stat, p = ops.chi2_gof(REF, CUR)
    expected = stats.chisquare(CUR, np.array(REF) / sum(REF) * sum(CUR))
    assert (stat, p) == pytest.approx((expected.statistic, expected.pvalue))
    stat, p = ops.chi2_two_sample(REF, CUR)
    expected2 = stats.chi2_contingency(np.array([REF, CUR]), correction=False)
    assert (stat, p) == pytest.approx((expected2.statistic, expected2.pvalue))
    # sparse categories (expected < 5) are pooled before the test
    stat, p = ops.chi2_two_sample([500, 300, 2, 1], [250, 150, 0, 3])
    pooled = stats.chi2_contingency(np.array([[500, 300, 3], [250, 150, 3]]), correction=False)
    assert (stat, p) == pytest.approx((pooled.statistic, pooled.pvalue))


def test_chi_square_of_homogeneity_equals_scipy_to_the_last_bit() -> None:
    """The 2 × k test without scipy's argument handling: the same numbers, bit for bit, on
    random tables (small and large counts, 2 to 60 columns, ties, fractional counts)."""
    rng = np.random.default_rng(5)
    for case in range(400):
        k = int(rng.integers(2, 61))
        scale = [5, 50, 5_000, 1_000_000][case % 4]
        table = rng.integers(1, scale + 1, size=(2, k)).astype(float)
        if case % 5 == 0:
            table[1] = table[0]  # no difference at all: statistic 0, p-value 1
        if case % 7 == 0:
            table *= rng.uniform(0.5, 1.5)  # weighted counts
        expected = stats.chi2_contingency(table, correction=False)
        got = ops._chi2_homogeneity(table)
        assert got == (float(expected.statistic), float(expected.pvalue)), (case, table)


def test_z_test_squares_to_the_2x2_chi_square() -> None:
    """scipy has no two-proportion z-test; z² is the uncorrected 2 × 2 chi-square."""
    z, p = ops.z_proportions([700, 300], [330, 170])
    expected = stats.chi2_contingency(np.array([[700, 300], [330, 170]]), correction=False)
    assert z * z == pytest.approx(expected.statistic) and p == pytest.approx(expected.pvalue)
    assert z < 0  # the first category's share fell


def sketches(ref: np.ndarray, cur: np.ndarray) -> tuple[SketchLayout, dict, dict]:
    layout = SketchLayout.from_values(ref)
    return layout, count_indices(layout.index(ref)), count_indices(layout.index(cur))


@pytest.mark.parametrize("shift", [0.0, 0.05, 0.3])
def test_binned_ks_against_ks_2samp(shift: float) -> None:
    """D at bucket edges is never above the exact D and below it by at most the largest
    bucket's share in either sample (within a bucket both ECDFs move by at most that)."""
    rng = np.random.default_rng(1)
    ref, cur = rng.normal(0, 1, 50_000), rng.normal(shift, 1, 20_000)
    _, a, b = sketches(ref, cur)
    d, p = ops.ks_binned(a, b)
    exact = stats.ks_2samp(ref, cur, method="asymp")
    _, ca, cb = aligned(a, b)
    resolution = max(ca.max() / ca.sum(), cb.max() / cb.sum())
    assert exact.statistic - resolution - 1e-12 <= d <= exact.statistic + 1e-12
    assert p >= exact.pvalue - 1e-12  # a smaller D: never more alarming than the exact test


@pytest.mark.parametrize("scale", [1.0, 1.5])
def test_wasserstein_against_scipy(scale: float) -> None:
    """Each value is represented by its bucket's midpoint, so each distribution moves by at
    most Σ width/2 · share: W differs from scipy's by at most the sum of both."""
    rng = np.random.default_rng(2)
    ref, cur = rng.lognormal(0, 0.7, 40_000), rng.lognormal(0.2, 0.7 * scale, 30_000)
    layout, a, b = sketches(ref, cur)
    w = ops.wasserstein(layout, a, b)
    exact = stats.wasserstein_distance(ref, cur)
    keys, ca, cb = aligned(a, b)
    lo, hi = layout.bounds(keys)
    bound = float(np.sum((hi - lo) / 2 * (ca / ca.sum() + cb / cb.sum())))
    assert abs(w - exact) <= bound
    assert bound < 0.02 * np.std(ref)  # a fifth of the 0.1 std drift threshold or finer
    normed = ops.wasserstein(layout, a, b, float(np.std(ref)))
    assert normed == pytest.approx(w / np.std(ref))
