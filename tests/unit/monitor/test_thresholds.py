"""Thresholds learned from reference chunks: chunk against the rest, the rescaling to the
window's size, the JSON round trip and how `drift.thresholds` selects them."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from opsloop.config import DriftConfig, FeatureDriftConfig, MaterialityConfig
from opsloop.core.profile import compute_profile, merge_all, profile_frame
from opsloop.data.features import FeatureSpec
from opsloop.errors import InvalidInputError
from opsloop.monitor.distances import distances
from opsloop.monitor.drift import detect_drift
from opsloop.monitor.thresholds import LearnedThresholds, learn_thresholds, n_eff

FEATURES = [FeatureSpec("x", "numeric", "float64"), FeatureSpec("c", "categorical", "string")]


def sample(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": rng.normal(shift, 1.0, n),
            "c": np.array(["a", "b", "c"], dtype=object)[rng.choice(3, n)],
        }
    )


def test_chunks_are_compared_with_the_rest_of_the_reference() -> None:
    df = sample(np.random.default_rng(1), 2000)
    ref = compute_profile(df, FEATURES)
    learned = learn_thresholds(df, ref, FEATURES, chunks=4, sigma=3.0)
    assert learned is not None and learned.chunk_rows == 500
    parts = [profile_frame(df.iloc[i * 500 : (i + 1) * 500], ref) for i in range(4)]
    js = [
        distances(merge_all(ref, parts[:i] + parts[i + 1 :]).features["x"], parts[i].features["x"])[
            "jensenshannon"
        ]
        for i in range(4)
    ]
    psi = [
        distances(merge_all(ref, parts[:i] + parts[i + 1 :]).features["c"], parts[i].features["c"])[
            "psi"
        ]
        for i in range(4)
    ]
    got = learned.features["x"]["jensenshannon"]
    assert got.mean == pytest.approx(np.mean(js)) and got.sd == pytest.approx(np.std(js, ddof=1))
    assert learned.features["c"]["psi"].mean == pytest.approx(np.mean(np.sqrt(psi)))
    assert set(learned.features["x"]) >= {"psi", "jensenshannon", "wasserstein", "ks"}


def test_threshold_scales_with_the_effective_sample_size() -> None:
    df = sample(np.random.default_rng(2), 4000)
    learned = learn_thresholds(df, compute_profile(df, FEATURES), FEATURES, chunks=20)
    assert learned is not None
    chunk = n_eff(200, 3800)
    at_chunk = learned.threshold("x", "wasserstein", 200)
    big = learned.threshold("x", "wasserstein", 100_000)
    assert at_chunk is not None and big is not None
    w = learned.features["x"]["wasserstein"]
    assert at_chunk == pytest.approx((w.mean + 3 * w.sd) * math.sqrt(chunk / n_eff(200, 4000)))
    # windows beyond the reference's size are scaled as if they had its size
    assert big == pytest.approx(at_chunk * math.sqrt(n_eff(200, 4000) / n_eff(4000, 4000)))
    p = learned.features["x"]["psi"]
    assert learned.threshold("x", "psi", 1000) == pytest.approx(
        ((p.mean + 3 * p.sd) * math.sqrt(chunk / n_eff(1000, 4000))) ** 2
    )
    assert learned.threshold("nope", "psi", 10) is None
    assert LearnedThresholds.from_json(learned.to_json()) == learned
    with pytest.raises(InvalidInputError, match="retrain"):
        LearnedThresholds.from_json('{"format": 0}')
    assert learn_thresholds(df.head(10), compute_profile(df, FEATURES), FEATURES) is None


def test_learned_mode_selects_thresholds_per_feature() -> None:
    rng = np.random.default_rng(3)
    df = sample(rng, 5000)
    ref = compute_profile(df, FEATURES)
    learned = learn_thresholds(df, ref, FEATURES)
    cur = profile_frame(sample(rng, 2000, shift=0.08), ref)
    fixed = detect_drift(ref, cur, FEATURES, DriftConfig(method="wasserstein"), learned=learned)
    x = fixed.features[0]
    assert x.threshold_source == "fixed" and x.threshold == 0.1 and not x.drifted
    cfg = DriftConfig(method="wasserstein", thresholds="learned")
    res = detect_drift(ref, cur, FEATURES, cfg, learned=learned)
    x = res.features[0]
    assert x.threshold_source == "learned" and x.threshold is not None and x.threshold < 0.1
    # 0.08 σ in 2,000 rows is beyond the reference's own noise, but below the
    # materiality floor (Wasserstein / std 0.1): detectable, immaterial
    assert x.status == "immaterial" and not x.drifted and x.effect_size == x.statistic
    unfloored = cfg.model_copy(update={"materiality": MaterialityConfig(wasserstein=0.0)})
    assert detect_drift(ref, cur, FEATURES, unfloored, learned=learned).features[0].drifted
    # a feature's own `threshold` stays fixed; its `thresholds` overrides the global mode
    cfg = DriftConfig(
        method="wasserstein",
        thresholds="learned",
        features={"x": FeatureDriftConfig(threshold=0.5)},
    )
    assert detect_drift(ref, cur, FEATURES, cfg, learned=learned).features[0].threshold == 0.5
    cfg = DriftConfig(
        method="wasserstein", features={"x": FeatureDriftConfig(thresholds="learned")}
    )
    got = detect_drift(ref, cur, FEATURES, cfg, learned=learned).features
    assert got[0].threshold_source == "learned" and got[1].threshold_source == "fixed"
    # tests keep their p-value; without learned thresholds (older versions) fixed ones apply
    cfg = DriftConfig(thresholds="learned")
    got = detect_drift(ref, cur, FEATURES, cfg, learned=learned).features
    assert got[0].threshold == cfg.p_value
    assert (
        detect_drift(
            ref, cur, FEATURES, DriftConfig(method="psi", thresholds="learned"), learned=None
        )
        .features[0]
        .threshold
        == 0.2
    )
