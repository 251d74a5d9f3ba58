"""Drift of a window's profile against the reference profile, per feature.

Both profiles are on the reference's layout, so every statistic is a function of counts
(`opsloop.monitor.stats`). For each feature all distances are reported (PSI, Jensen–Shannon
base 2, Hellinger, L∞ on the reference histogram or categories; normalised Wasserstein-1 and
binned KS on the sketch for numeric features); one *method* gives the verdict.

`auto` (the default), by kind and by the window's non-null rows n:

| kind | n ≤ `test_max_rows` (100,000) | n > `test_max_rows` |
|---|---|---|
| numeric | binned two-sample KS, p < `p_value` | Wasserstein-1 / ref. std ≥ 0.1 |
| categorical, boolean | chi-square homogeneity (2 × k), p < `p_value`; | Jensen–Shannon |
|  | two categories: two-proportion z-test | (base 2) ≥ 0.12 |

(0.12 in base 2 ≈ Evidently's 0.1 in nats; thresholds: `wasserstein_threshold`,
`jensenshannon_threshold`), and in `auto` a feature also drifts when PSI ≥ `psi_threshold`
(0.2): PSI does not grow with n, so it catches material shifts in small windows. Tests alarm
on ever smaller, immaterial shifts as n grows; above `test_max_rows` the distances take
over, as Evidently switches at 1,000 reference rows. Per-feature overrides:
`drift.features.<name>.method/threshold/thresholds`.

With `drift.thresholds: learned` a distance's threshold (the method's verdict, whether chosen
by `auto` or set) is the one learned from the reference's chunks and scaled to the window
(`opsloop.monitor.thresholds`); tests keep `p_value`, and `auto`'s PSI rule keeps
`psi_threshold`.

**Exact KS on small windows**: when KS gives the verdict, the window has at most
`drift.exact_max_rows` (5,000) non-null values of the feature and the reference profile
keeps a sample of its values, KS runs on raw values (`stats.ks_exact`, scipy's `ks_2samp`:
the reference's stored sample against the window's values, read from the engine) instead
of on the sketch; the feature's `test` is then `ks_exact`. The binned KS is conservative
(its D is never above the exact one), so small windows gain power at the nominal
false-alarm rate.

**Materiality.** The rules above say whether a change is statistically *detectable*; a
feature *drifts* only when the change is also material: its effect size — a distance,
named in `effect` — is at least that distance's floor (`drift.materiality`, per feature
`drift.features.<name>.floor`). The effect is the method's own distance when the method is
one, else (a test) Wasserstein-1 / reference std for numbers and Jensen–Shannon (base 2)
for categories (override: `drift.features.<name>.effect`). Defaults 0.1 for every
distance: PSI's 0.1 ("no significant change" below it; 0.25 "significant"), Evidently's
0.1 for Wasserstein / std and Jensen–Shannon, ≈ 0.1 Jensen–Shannon for Hellinger and a
tenth of the rows for L∞ (docs/monitoring.md#materiality). A detectable change below
its floor is `immaterial`: reported, not counted. Tests alarm on ever smaller shifts as n
grows (a 0.01 KS D at 40,000 rows), and learned thresholds flag whatever exceeds the
reference's own noise; the floor keeps both to changes that matter.

Per feature the status is `drifted` (material drift), `immaterial`, `ok` or
`insufficient_data` (fewer than `drift.min_rows` non-null rows in the window; not
counted), and the verdict the same in words: `drift`, `immaterial`, `no drift`, `not
judged`. `drifted` is true for material drift only. Dataset drift: share of drifted
features ≥ `drift.share`. The model's score is checked the same way and reported as
prediction drift, not counted in the share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from opsloop.config import DriftConfig, EffectSize
from opsloop.core.profile import FeatureProfile, Profile
from opsloop.core.summaries import DriftStatus, FeatureVerdict, feature_verdict
from opsloop.data.features import FeatureSpec
from opsloop.monitor import stats
from opsloop.monitor.distances import distances
from opsloop.monitor.stats import chi2_two_sample, psi
from opsloop.monitor.thresholds import LearnedThresholds

__all__ = [
    "DriftResult",
    "FeatureDrift",
    "chi2_two_sample",
    "detect_drift",
    "exact_features",
    "psi",
]

Values = Mapping[str, Sequence[float]]

TESTS = ("ks", "chi2", "chi2_gof", "z")
EFFECTS: tuple[EffectSize, ...] = ("psi", "jensenshannon", "hellinger", "linf", "wasserstein")


@dataclass
class FeatureDrift:
    name: str
    kind: str
    test: str  # the method that gave the verdict (auto resolved)
    statistic: float | None
    p_value: float | None
    psi: float | None
    drifted: bool  # material drift only
    status: DriftStatus  # ok | drifted | immaterial | insufficient_data
    n: int
    missing_rate_reference: float
    missing_rate_current: float
    unseen: int = 0
    threshold: float | None = None
    threshold_source: str = "fixed"  # fixed | learned (monitor.drift.thresholds)
    # reference categories beyond the profile's top `TOP_CATEGORIES` pooled into one bin:
    # the distances may read low
    pooled: bool = False
    distances: dict[str, float] = field(default_factory=dict)
    reference_counts: list[int] = field(default_factory=list)
    current_counts: list[int] = field(default_factory=list)
    effect: EffectSize | None = None  # the distance measuring the effect size
    effect_size: float | None = None
    floor: float | None = None  # its materiality floor

    @property
    def verdict(self) -> FeatureVerdict:
        return feature_verdict(self.status)

    @property
    def detectable(self) -> bool:
        """Statistically detectable, material or not."""
        return self.status in ("drifted", "immaterial")

    def to_dict(self) -> dict[str, Any]:
        """The fields (containers copied, as `dataclasses.asdict`, without its recursion
        into every count: a backfill calls this for every feature of every window)."""
        out = {name: getattr(self, name) for name in _FIELDS}
        out["distances"] = dict(self.distances)
        out["reference_counts"] = list(self.reference_counts)
        out["current_counts"] = list(self.current_counts)
        out["verdict"] = self.verdict
        return out


_FIELDS = tuple(f.name for f in fields(FeatureDrift))


@dataclass
class DriftResult:
    features: list[FeatureDrift]
    share: float
    detected: bool
    tested: int
    prediction: FeatureDrift | None = None

    @property
    def drifted_features(self) -> list[str]:
        """Features with material drift (the ones counted)."""
        return [f.name for f in self.features if f.drifted]

    @property
    def immaterial_features(self) -> list[str]:
        """Features with a detectable change below their materiality floor."""
        return [f.name for f in self.features if f.status == "immaterial"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": [f.to_dict() for f in self.features],
            "share": self.share,
            "detected": self.detected,
            "tested": self.tested,
            "drifted_features": self.drifted_features,
            "immaterial_features": self.immaterial_features,
            "prediction": None if self.prediction is None else self.prediction.to_dict(),
        }


def learned_mode(name: str, cfg: DriftConfig) -> bool:
    """Whether the feature's distance thresholds are learned (`drift.thresholds`, or the
    feature's own `thresholds`; an explicit per-feature `threshold` stays fixed)."""
    override = cfg.features.get(name)
    if override is not None and override.threshold is not None:
        return False
    mode = override.thresholds if override is not None and override.thresholds else cfg.thresholds
    return mode == "learned"


def resolve(
    ref: FeatureProfile,
    cur: FeatureProfile,
    cfg: DriftConfig,
    learned: LearnedThresholds | None = None,
) -> tuple[str, float]:
    """(method, threshold) for a feature: its override, else the global method; `auto` by
    kind and the window's size (module docstring). A distance's threshold is the learned
    one, scaled to the window, when the feature's thresholds are learned and `learned` has
    it (`opsloop.monitor.thresholds`)."""
    override = cfg.features.get(ref.name)
    method = override.method if override is not None and override.method != "auto" else cfg.method
    if method == "auto":
        large = cur.non_null > cfg.test_max_rows
        if ref.kind == "numeric":
            method = "wasserstein" if large else "ks"
        elif large:
            method = "jensenshannon"
        else:
            seen = [r + c for r, c in zip(ref.counts, cur.counts, strict=True) if r + c > 0]
            method = "z" if len(seen) == 2 else "chi2"
    if override is not None and override.threshold is not None:
        return method, override.threshold
    if method in TESTS:
        return method, cfg.p_value
    if learned is not None and learned_mode(ref.name, cfg):
        value = learned.threshold(ref.name, _measured(method, ref), cur.non_null)
        if value is not None:
            return method, value
    return method, getattr(cfg, f"{method}_threshold")


def wants_exact(ref: FeatureProfile, cur: FeatureProfile, cfg: DriftConfig) -> bool:
    """Whether the feature's verdict is a KS test that runs on raw values (module docstring)."""
    return (
        ref.kind == "numeric"
        and bool(ref.sample)
        and 0 < cur.non_null <= cfg.exact_max_rows
        and resolve(ref, cur, cfg)[0] == "ks"
    )


def exact_features(reference: Profile, current: Profile, cfg: DriftConfig) -> list[str]:
    """The numeric features (and the score) whose raw window values the exact KS needs."""
    return [
        name
        for name, ref in reference.features.items()
        if name in current.features and wants_exact(ref, current.features[name], cfg)
    ]


def _measured(method: str, ref: FeatureProfile) -> str:
    """The distance a method's verdict uses (Wasserstein falls back to Jensen–Shannon for
    categories, as in `_verdict`)."""
    return "jensenshannon" if method == "wasserstein" and ref.kind != "numeric" else method


def effect_of(method: str, kind: str, dist: Mapping[str, float]) -> EffectSize:
    """The distance that measures a feature's effect size (module docstring): the
    override, the method's own distance, else Wasserstein for numbers, Jensen–Shannon
    for categories (and wherever Wasserstein is not computed)."""
    effect = next((e for e in EFFECTS if e == method), None)
    if effect is None:
        effect = "wasserstein" if kind == "numeric" else "jensenshannon"
    return "jensenshannon" if effect == "wasserstein" and "wasserstein" not in dist else effect


def materiality(
    name: str, method: str, kind: str, dist: Mapping[str, float], cfg: DriftConfig
) -> tuple[EffectSize, float, float]:
    """(effect, effect size, floor) of a judged feature."""
    override = cfg.features.get(name)
    effect = override.effect if override is not None and override.effect else None
    if effect is None or effect not in dist:
        effect = effect_of(method, kind, dist)
    floor = override.floor if override is not None and override.floor is not None else None
    return effect, dist[effect], cfg.materiality.floor(effect) if floor is None else floor


def _verdict(
    method: str, ref: FeatureProfile, cur: FeatureProfile, dist: dict[str, float]
) -> tuple[float, float | None]:
    """(statistic, p-value or None) of the method."""
    if method == "ks":
        if ref.kind != "numeric":
            method = "chi2"
        else:
            return stats.ks_binned(ref.sketch, cur.sketch)
    if method == "chi2":
        return chi2_two_sample(ref.counts, cur.counts)
    if method == "chi2_gof":
        return stats.chi2_gof(ref.counts, cur.counts)
    if method == "z":
        pairs = [(r, c) for r, c in zip(ref.counts, cur.counts, strict=True) if r + c > 0]
        if len(pairs) != 2:
            return chi2_two_sample(ref.counts, cur.counts)
        z, p = stats.z_proportions([r for r, _ in pairs], [c for _, c in pairs])
        return abs(z), p
    if method == "wasserstein" and "wasserstein" not in dist:
        method = "jensenshannon"
    return dist[method], None


def feature_drift(
    ref: FeatureProfile,
    cur: FeatureProfile,
    cfg: DriftConfig,
    values: Sequence[float] | None = None,
    *,
    learned: LearnedThresholds | None = None,
) -> FeatureDrift:
    """`values`: the window's raw values of the feature, for the exact KS (`exact_features`);
    `learned`: the version's learned thresholds (used where `drift.thresholds` says so)."""
    common = dict(
        name=ref.name,
        kind=ref.kind,
        n=cur.count,
        missing_rate_reference=ref.null_count / ref.count if ref.count else 0.0,
        missing_rate_current=cur.null_count / cur.count if cur.count else 0.0,
        unseen=cur.unseen,
        pooled=ref.pooled,
        reference_counts=list(ref.counts),
        current_counts=list(cur.counts),
    )
    method, threshold = resolve(ref, cur, cfg, learned)
    source = "fixed"
    if (
        learned is not None
        and learned_mode(ref.name, cfg)
        and method not in TESTS
        and learned.threshold(ref.name, _measured(method, ref), cur.non_null) is not None
    ):
        source = "learned"
    if cur.non_null < cfg.min_rows or ref.non_null == 0:
        return FeatureDrift(
            test=method,
            statistic=None,
            p_value=None,
            psi=None,
            drifted=False,
            status="insufficient_data",
            threshold=threshold,
            threshold_source=source,
            **common,  # type: ignore[arg-type]
        )
    dist = distances(ref, cur)
    p: float | None
    if values is not None and len(values) and wants_exact(ref, cur, cfg):
        method = "ks_exact"
        statistic, p = stats.ks_exact(ref.sample or [], values)
    else:
        statistic, p = _verdict(method, ref, cur, dist)
    detectable = p < threshold if p is not None else statistic >= threshold
    if cfg.method == "auto" and (
        ref.name not in cfg.features or cfg.features[ref.name].method == "auto"
    ):
        detectable = detectable or dist["psi"] >= cfg.psi_threshold
    effect, size, floor = materiality(ref.name, method, ref.kind, dist, cfg)
    drifted = detectable and size >= floor
    status: DriftStatus = "drifted" if drifted else "immaterial" if detectable else "ok"
    return FeatureDrift(
        test=method,
        statistic=statistic,
        p_value=p,
        psi=dist["psi"],
        drifted=drifted,
        status=status,
        threshold=threshold,
        threshold_source=source,
        distances=dist,
        effect=effect,
        effect_size=size,
        floor=floor,
        **common,  # type: ignore[arg-type]
    )


def detect_drift(
    reference: Profile,
    current: Profile,
    features: Sequence[FeatureSpec],
    cfg: DriftConfig,
    values: Values | None = None,
    *,
    learned: LearnedThresholds | None = None,
) -> DriftResult:
    """Drift of `current` (a profile on `reference`'s layout) per feature and overall.
    `values`: raw window values per feature for the exact KS (`exact_features`), if read;
    `learned`: the version's learned thresholds (used where `drift.thresholds` says so)."""
    values = values or {}
    results = [
        feature_drift(
            reference.features[f.name],
            current.features[f.name],
            cfg,
            values.get(f.name),
            learned=learned,
        )
        for f in features
        if f.name in reference.features and f.name in current.features
    ]
    tested = [r for r in results if r.status != "insufficient_data"]
    share = sum(r.drifted for r in tested) / len(tested) if tested else 0.0
    prediction = None
    if "score" in reference.features and "score" in current.features:
        prediction = feature_drift(
            reference.features["score"],
            current.features["score"],
            cfg,
            values.get("score"),
            learned=learned,
        )
    return DriftResult(
        features=results,
        share=share,
        detected=bool(tested) and share >= cfg.share,
        tested=len(tested),
        prediction=prediction,
    )
