"""Material drift (`monitor.drift.materiality`): a feature drifts only when its change is
detectable and its effect size reaches its floor; detectable changes below it read
`immaterial`; the share, dataset drift and prediction drift count material drift only."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from monitor_fixtures import feature
from monitor_fixtures import summary as window_summary
from opsloop.config import DriftConfig, FeatureDriftConfig, MaterialityConfig
from opsloop.core.profile import Profile, compute_profile, profile_frame
from opsloop.core.summaries import DriftSummary, FeatureDriftSummary, feature_verdict
from opsloop.data.features import FeatureSpec
from opsloop.monitor.drift import DriftResult, detect_drift

NUM = FeatureSpec("x", "numeric", "float64")
CAT = FeatureSpec("c", "categorical", "string")
SPECS = [NUM, CAT]
CATS = np.array(["a", "b", "c", "d"], dtype=object)


def frame(n: int, *, shift: float = 0.0, p: tuple[float, ...] = (0.4, 0.3, 0.2, 0.1), seed: int):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(shift, 1.0, n), "c": CATS[rng.choice(4, n, p=list(p))]})


@pytest.fixture(scope="module")
def reference() -> Profile:
    return compute_profile(frame(200_000, seed=1), SPECS)


def judge(reference: Profile, cur: pd.DataFrame, cfg: DriftConfig | None = None) -> DriftResult:
    return detect_drift(reference, profile_frame(cur, reference), SPECS, cfg or DriftConfig())


def test_a_detectable_but_small_change_is_immaterial(reference: Profile) -> None:
    # 50,000 rows against 200,000: a 0.05 σ shift and two points of category mix are far
    # beyond the tests' noise (p ≈ 0), and far below the floors
    result = judge(reference, frame(50_000, shift=0.05, p=(0.42, 0.29, 0.19, 0.1), seed=2))
    x, c = result.features
    assert (x.test, c.test) == ("ks", "chi2")
    assert x.p_value is not None and x.p_value < 1e-6 and c.p_value is not None
    assert c.p_value < 1e-6
    assert [f.status for f in result.features] == ["immaterial", "immaterial"]
    assert [f.verdict for f in result.features] == ["immaterial", "immaterial"]
    assert not x.drifted and not c.drifted and x.detectable and c.detectable
    assert (x.effect, c.effect) == ("wasserstein", "jensenshannon")
    assert x.effect_size is not None and x.effect_size == pytest.approx(0.05, abs=0.02)
    assert x.floor == 0.1 and c.floor == 0.1
    assert c.effect_size is not None and c.effect_size < 0.05
    assert result.share == 0.0 and not result.detected and result.tested == 2
    assert result.drifted_features == [] and result.immaterial_features == ["x", "c"]


def test_a_material_change_drifts_and_a_calm_window_does_not(reference: Profile) -> None:
    moved = judge(reference, frame(50_000, shift=0.3, p=(0.25, 0.25, 0.2, 0.3), seed=3))
    assert [f.verdict for f in moved.features] == ["drift", "drift"]
    assert all(f.drifted and f.status == "drifted" for f in moved.features)
    assert moved.detected and moved.share == 1.0 and moved.immaterial_features == []
    calm = judge(reference, frame(50_000, seed=4))
    assert [f.verdict for f in calm.features] == ["no drift", "no drift"]
    assert all(f.effect_size is not None and f.floor == 0.1 for f in calm.features)


def test_too_few_rows_are_not_judged(reference: Profile) -> None:
    small = judge(reference, frame(50, shift=3.0, seed=5))
    assert [f.verdict for f in small.features] == ["not judged", "not judged"]
    assert all(f.effect is None and f.effect_size is None for f in small.features)
    assert small.tested == 0 and not small.detected


def test_floors_and_effects_are_configurable(reference: Profile) -> None:
    cur = frame(50_000, shift=0.05, p=(0.42, 0.29, 0.19, 0.1), seed=2)
    # a floor of 0 restores "every detectable change drifts"
    off = DriftConfig(materiality=MaterialityConfig(wasserstein=0.0, jensenshannon=0.0))
    assert [f.verdict for f in judge(reference, cur, off).features] == ["drift", "drift"]
    # per feature: another effect statistic and its own floor
    cfg = DriftConfig(
        features={
            "x": FeatureDriftConfig(floor=0.01),
            "c": FeatureDriftConfig(effect="psi", floor=0.001),
        }
    )
    x, c = judge(reference, cur, cfg).features
    assert (x.effect, x.floor, x.verdict) == ("wasserstein", 0.01, "drift")
    assert (c.effect, c.floor, c.verdict) == ("psi", 0.001, "drift")
    assert c.effect_size == c.psi
    with pytest.raises(ValidationError):
        MaterialityConfig(psi=-0.1)
    with pytest.raises(ValidationError):
        FeatureDriftConfig(effect="ks")  # type: ignore[arg-type]


def test_a_distance_method_is_its_own_effect(
    reference: Profile,
) -> None:
    """A distance's verdict is measured by that distance: with the fixed thresholds (at or
    above the floors) nothing changes; a threshold below the floor is overruled by it."""
    cur = frame(50_000, shift=0.07, seed=6)
    cfg = DriftConfig(method="wasserstein", features={"x": FeatureDriftConfig(threshold=0.05)})
    x, c = judge(reference, cur, cfg).features
    assert x.effect == "wasserstein" and x.effect_size == x.statistic
    assert x.statistic is not None and 0.05 <= x.statistic < 0.1 and x.verdict == "immaterial"
    # categories have no Wasserstein: measured (and judged) by Jensen–Shannon
    assert c.test == "wasserstein" and c.effect == "jensenshannon"
    psi = DriftConfig(method="psi", psi_threshold=0.2)
    assert {f.effect for f in judge(reference, cur, psi).features} == {"psi"}


def test_prediction_drift_is_judged_the_same_way() -> None:
    spec = [NUM, FeatureSpec("score", "numeric", "float64")]
    rng = np.random.default_rng(7)
    ref_df = pd.DataFrame({"x": rng.normal(0, 1, 200_000), "score": rng.normal(0, 1, 200_000)})
    ref = compute_profile(ref_df, spec)
    cur = pd.DataFrame({"x": rng.normal(0, 1, 50_000), "score": rng.normal(0.05, 1, 50_000)})
    result = detect_drift(ref, profile_frame(cur, ref), [NUM], DriftConfig())
    assert result.prediction is not None and result.prediction.verdict == "immaterial"
    cur["score"] = rng.normal(0.5, 1, 50_000)
    result = detect_drift(ref, profile_frame(cur, ref), [NUM], DriftConfig())
    assert result.prediction is not None and result.prediction.verdict == "drift"
    assert result.share == 0.0  # prediction drift is not counted in the share


def test_the_summary_carries_the_verdict_and_older_summaries_derive_it(
    reference: Profile,
) -> None:
    result = judge(reference, frame(50_000, shift=0.05, p=(0.42, 0.29, 0.19, 0.1), seed=2))
    data = json.loads(json.dumps(result.to_dict()))
    s = DriftSummary.parse(data)
    assert s.immaterial_features == ["x", "c"] and s.to_json() == data
    x = s.features[0]
    assert (x.verdict, x.outcome, x.effect, x.floor) == (
        "immaterial",
        "immaterial",
        "wasserstein",
        0.1,
    )
    # stored before materiality: no verdict, effect or floor; the status says it
    old = FeatureDriftSummary.parse({"name": "x", "status": "drifted", "drifted": True})
    assert old.outcome == "drift" and old.verdict is None and old.effect_size is None
    assert old.to_json() == {"name": "x", "status": "drifted", "drifted": True}
    assert FeatureDriftSummary.parse({"status": "insufficient_data"}).outcome == "not judged"
    assert FeatureDriftSummary.parse({"drifted": False}).outcome == "no drift"
    assert feature_verdict("immaterial") == "immaterial" and feature_verdict("ok") == "no drift"


def test_the_html_report_shows_verdicts_and_effects_against_their_floors(
    reference: Profile,
) -> None:
    from opsloop.monitor.report import render_html

    result = judge(reference, frame(50_000, shift=0.3, p=(0.42, 0.29, 0.19, 0.1), seed=8))
    summary = window_summary(0, [], drift=result.to_dict())
    html = render_html(summary, reference, title="t")
    assert [f.verdict for f in result.features] == ["drift", "immaterial"]
    x, c = result.features
    assert f"wasserstein {x.effect_size:.4g} ≥ 0.1" in html
    assert f"jensenshannon {c.effect_size:.4g} &lt; 0.1" in html
    assert '<td class="bad">drift</td>' in html and '<td class="warn">immaterial</td>' in html
    assert "1 detectable but immaterial</span>\n(c)" in html
    # the drift row comes first; an older summary (no verdict) reads its status
    assert html.index(">drift</td>") < html.index(">immaterial</td>")
    old_x = feature("x", 0.3, drifted=True)  # as stored before materiality
    old_drift = {"features": [old_x], "share": 1.0, "detected": True, "tested": 1}
    old = render_html({**summary, "drift": old_drift}, None, title="t")
    assert '<td class="bad">drift</td>' in old and "<td>—</td>" in old
