"""Drift verdicts from profiles: auto selection, overrides, missing data, unseen categories."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from opsloop.config import DriftConfig, FeatureDriftConfig
from opsloop.core.profile import compute_profile, profile_frame
from opsloop.data.features import FeatureSpec
from opsloop.monitor.drift import detect_drift

NUM = FeatureSpec("x", "numeric", "float64")
CAT = FeatureSpec("c", "categorical", "string")
FLAG = FeatureSpec("b", "boolean", "bool")


def frame(
    n: int,
    *,
    shift: float = 0.0,
    p: tuple[float, ...] = (0.5, 0.3, 0.2),
    seed: int = 0,
    flag: float = 0.3,
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(shift, 1.0, n),
            "c": rng.choice(["a", "b", "c"], n, p=list(p)),
            "b": rng.random(n) < flag,
        }
    )


def drift(
    ref_frame: pd.DataFrame,
    cur: pd.DataFrame,
    cfg: DriftConfig | None = None,
    specs: list[FeatureSpec] | None = None,
):
    specs = specs or [NUM, CAT, FLAG]
    ref = compute_profile(ref_frame, specs)
    return detect_drift(ref, profile_frame(cur, ref), specs, cfg or DriftConfig())


def test_no_drift_not_flagged_and_shifts_are() -> None:
    calm = drift(frame(5000), frame(2000, seed=1))
    assert not calm.detected and calm.drifted_features == []
    assert [f.test for f in calm.features] == ["ks", "chi2", "z"]
    moved = drift(frame(5000), frame(2000, shift=0.5, p=(0.2, 0.3, 0.5), seed=2, flag=0.5))
    assert moved.detected and moved.drifted_features == ["x", "c", "b"]
    x = moved.features[0]
    assert x.psi is not None and x.psi > 0.1 and x.p_value is not None and x.p_value < 1e-6
    assert set(x.distances) == {"psi", "jensenshannon", "hellinger", "linf", "wasserstein", "ks"}
    assert x.distances["wasserstein"] == pytest.approx(0.5, abs=0.06)


def test_auto_uses_distances_above_test_max_rows() -> None:
    cfg = DriftConfig(test_max_rows=1000)
    tiny = drift(frame(5000), frame(3000, shift=0.06, seed=3), cfg)  # real but immaterial
    assert [f.test for f in tiny.features] == ["wasserstein", "jensenshannon", "jensenshannon"]
    assert not tiny.features[0].drifted and tiny.features[0].p_value is None
    tested = drift(frame(5000), frame(3000, shift=0.06, seed=3))
    assert tested.features[0].test == "ks"


def test_per_feature_override_and_validation() -> None:
    cfg = DriftConfig(features={"x": FeatureDriftConfig(method="psi", threshold=0.5)})
    result = drift(frame(5000), frame(2000, shift=0.5, seed=4), cfg)
    x = result.features[0]
    assert (x.test, x.threshold, x.drifted) == ("psi", 0.5, False)  # PSI ~0.25 < 0.5
    with pytest.raises(ValidationError):
        DriftConfig(features={"x": {"method": "magic"}})  # type: ignore[dict-item]
    with pytest.raises(ValidationError):
        DriftConfig(unknown=1)  # type: ignore[call-arg]


def test_insufficient_data_and_missing_rates() -> None:
    small = drift(frame(1000), frame(20, seed=3), DriftConfig(min_rows=100))
    assert {f.status for f in small.features} == {"insufficient_data"}
    assert small.tested == 0 and not small.detected
    gappy = frame(500, seed=4)
    gappy.loc[:99, "x"] = np.nan
    f = drift(frame(1000), gappy).features[0]
    assert f.missing_rate_current == pytest.approx(0.2) and f.missing_rate_reference == 0.0


def test_unseen_categories_counted() -> None:
    cur = frame(300, seed=5)
    cur.loc[:49, "c"] = "brand-new"
    f = drift(frame(1000), cur).features[1]
    assert f.unseen == 50 and f.current_counts[-1] == 50  # counted in __other__


def test_small_windows_use_exact_ks_on_raw_values() -> None:
    from scipy import stats

    from opsloop.monitor.drift import exact_features

    ref = compute_profile(frame(8000), [NUM, CAT, FLAG])
    cur_frame = frame(300, shift=0.1, seed=3)
    cur = profile_frame(cur_frame, ref)
    cfg = DriftConfig()
    assert exact_features(ref, cur, cfg) == ["x"]
    values = {"x": cur_frame["x"].tolist()}
    result = detect_drift(ref, cur, [NUM, CAT, FLAG], cfg, values)
    x = result.features[0]
    expected = stats.ks_2samp(ref.features["x"].sample, cur_frame["x"], method="auto")
    assert x.test == "ks_exact"
    assert x.statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert x.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    # binned D never above the exact D of the same samples
    assert x.distances["ks"] <= stats.ks_2samp(frame(8000)["x"], cur_frame["x"]).statistic + 1e-12
    # without raw values, over the limit, or turned off: the binned KS
    assert detect_drift(ref, cur, [NUM], cfg).features[0].test == "ks"
    assert exact_features(ref, cur, DriftConfig(exact_max_rows=299)) == []
    assert exact_features(ref, cur, DriftConfig(exact_max_rows=0)) == []
    assert exact_features(ref, cur, DriftConfig(method="wasserstein")) == []
