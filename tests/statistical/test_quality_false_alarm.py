"""Simulated false-alarm rate of the window quality checks at default settings: clean
windows (the reference's distribution: 10% missing values, a long tail of categories so
that new ones keep appearing) of 100 to 5,000 rows, a new 5,000-row reference every ten
windows. Share limits are judged on a Clopper–Pearson lower bound at 99%, and the unseen
check allows the reference's own Good–Turing rate of new categories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from opsloop.config import MonitorQualityConfig
from opsloop.core.profile import compute_profile, profile_frame
from opsloop.data.features import FeatureSpec
from opsloop.monitor.quality import check_window, learn_expectations

FEATURES = [FeatureSpec("x", "numeric", "float64"), FeatureSpec("c", "categorical", "string")]
K = 2000
ZIPF = 1 / np.arange(1, K + 1) ** 1.4
ZIPF /= ZIPF.sum()
END = datetime(2026, 1, 1, tzinfo=UTC)


def sample(rng: np.random.Generator, n: int, missing: float = 0.1) -> pd.DataFrame:
    x = rng.normal(size=n)
    x[rng.random(n) < missing] = np.nan
    return pd.DataFrame({"x": x, "c": [f"k{i}" for i in rng.choice(K, n, p=ZIPF)]})


def run(
    rng: np.random.Generator,
    n: int,
    simulations: int,
    *,
    learned: bool = True,
    missing: float = 0.1,
) -> dict[tuple[str, str | None], int]:
    breaches: dict[tuple[str, str | None], int] = {}
    for i in range(simulations):
        if i % 10 == 0:
            frame = sample(rng, 5000)
            reference = compute_profile(frame, FEATURES)
            expectations = learn_expectations(frame, FEATURES, None) if learned else None
        report = check_window(
            reference,
            profile_frame(sample(rng, n, missing), reference),
            FEATURES,
            MonitorQualityConfig(),
            window_start=END - timedelta(hours=1),
            window_end=END,
            expectations=expectations,
        )
        for c in report.breaches:
            breaches[(c.check, c.feature)] = breaches.get((c.check, c.feature), 0) + 1
    return breaches


@pytest.mark.parametrize("n", [100, 1_000, 5_000])
def test_clean_windows_do_not_breach(n: int) -> None:
    simulations = 200
    breaches = run(np.random.default_rng(n), n, simulations)
    assert sum(breaches.values()) <= 0.01 * simulations, breaches


def test_new_categories_need_the_references_own_rate() -> None:
    """~5% of rows bring a category the reference never saw: without the Good–Turing
    allowance (versions trained before it was stored) the unseen check would alarm on
    clean 5,000-row windows; a missing rate rising from 10% to 20% is caught."""
    rng = np.random.default_rng(1)
    assert run(rng, 5000, 20, learned=False).get(("unseen", "c"), 0) >= 18
    assert run(rng, 1000, 50, missing=0.2).get(("missing_rate", "x"), 0) >= 48
