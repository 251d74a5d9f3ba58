"""High-cardinality categories: every category up to `TOP_CATEGORIES` is kept, so the
Jensen–Shannon distance is the one on all categories; beyond the cap the rarest are pooled
and the summary and the HTML report say so."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from opsloop.config import DriftConfig, MonitorConfig
from opsloop.core.profile import TOP_CATEGORIES, compute_profile, profile_frame
from opsloop.core.summaries import FeatureDriftSummary
from opsloop.data.features import FeatureSpec
from opsloop.monitor import stats
from opsloop.monitor.drift import detect_drift
from opsloop.monitor.report import render_html
from opsloop.monitor.run import run_monitor

DEST = FeatureSpec("dest", "categorical", "string")
END = datetime(2026, 5, 1, tzinfo=UTC)
TOLERANCE = 1e-9  # distances on profiles equal the exact ones up to rounding


def _destinations(n_categories: int, n: int, *, tail: bool, seed: int) -> pd.DataFrame:
    """A Zipf-like distribution over destinations; `tail` reverses the weights of all but
    the 50 most frequent (a change among the rare destinations, as when routes move)."""
    rng = np.random.default_rng(seed)
    weight = np.arange(1, n_categories + 1) ** -0.5
    if tail:
        weight[50:] = weight[50:][::-1]
    names = np.array([f"d{i:04d}" for i in range(n_categories)])
    return pd.DataFrame({"dest": rng.choice(names, n, p=weight / weight.sum())})


def _exact_js(ref: pd.DataFrame, cur: pd.DataFrame) -> float:
    cats = sorted(set(ref["dest"]) | set(cur["dest"]))
    r = ref["dest"].value_counts().reindex(cats, fill_value=0).to_numpy()
    c = cur["dest"].value_counts().reindex(cats, fill_value=0).to_numpy()
    return stats.jensenshannon(r, c)


def test_104_destinations_give_the_exact_distance() -> None:
    ref = _destinations(104, 20_000, tail=False, seed=0)
    cur = _destinations(104, 20_000, tail=True, seed=1)
    reference = compute_profile(ref, [DEST])
    assert len(reference.features["dest"].categories) == 104
    assert not reference.features["dest"].pooled
    result = detect_drift(reference, profile_frame(cur, reference), [DEST], DriftConfig())
    feature = result.features[0]
    exact = _exact_js(ref, cur)
    assert feature.distances["jensenshannon"] == pytest.approx(exact, abs=TOLERANCE)
    # what the former top-50 profile read: noticeably lower
    top50 = compute_profile(ref, [DEST], top_k=50)
    assert top50.features["dest"].pooled
    low = detect_drift(top50, profile_frame(cur, top50), [DEST], DriftConfig()).features[0]
    assert low.distances["jensenshannon"] < exact - 0.01
    assert feature.pooled is False and low.pooled is True


def test_pooled_flag_shows_beyond_the_cap() -> None:
    n = TOP_CATEGORIES + 200
    ref = pd.DataFrame({"dest": [f"d{i}" for i in range(n)] * 3})
    reference = compute_profile(ref, [DEST])
    fp = reference.features["dest"]
    assert len(fp.categories) == TOP_CATEGORIES and fp.pooled
    cur = ref.sample(frac=0.5, random_state=0)
    result = detect_drift(reference, profile_frame(cur, reference), [DEST], DriftConfig())
    summary = FeatureDriftSummary.model_validate(result.features[0].to_dict())
    assert summary.pooled is True
    assert result.to_dict()["features"][0]["pooled"] is True


def test_report_says_when_categories_were_pooled() -> None:
    ref = pd.DataFrame({"dest": [f"d{i}" for i in range(TOP_CATEGORIES + 200)] * 3})
    for n_categories, shown in ((TOP_CATEGORIES + 200, True), (104, False)):
        reference = compute_profile(ref.iloc[: n_categories * 3], [DEST])
        window = ref.iloc[: n_categories * 3].sample(frac=0.5, random_state=0)
        report = run_monitor(
            reference=reference,
            current=profile_frame(window, reference),
            labelled=window.iloc[:0],
            features=[DEST],
            task="binary_classification",
            cfg=MonitorConfig(),
            window_start=END,
            window_end=END,
        )
        html = render_html(report, reference, title="t")
        assert ("categories pooled" in html) is shown
