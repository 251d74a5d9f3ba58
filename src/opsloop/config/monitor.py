"""`monitor:` — drift (methods, thresholds, multivariate), performance (realised and
estimated), data quality."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, field_validator, model_validator

from opsloop.config.base import (
    ConfigModel,
    Duration,
    check_cron,
    format_duration,
    parse_duration,
)

DriftMethod = Literal[
    "auto",
    "ks",
    "chi2",
    "chi2_gof",
    "z",
    "psi",
    "jensenshannon",
    "hellinger",
    "linf",
    "wasserstein",
]

EffectSize = Literal["psi", "jensenshannon", "hellinger", "linf", "wasserstein"]
"""The distances a drift's materiality is measured with (`monitor.drift.materiality`)."""

Clock = Literal["event", "answered"]
"""Which time a prediction-log row's window is chosen by: its event time (the request
record's `time_column` value, else the answer time) or the time it was answered."""


ReferenceKind = Literal["training", "rolling", "cycle"]


@dataclass(frozen=True)
class DriftReference:
    """A drift reference, parsed: `training` (the version's reference profile, fitted at
    register time), `rolling` (the `length` of prediction log just before the monitored
    window) or `cycle` (the monitored window moved back by `length`: the same period one
    cycle earlier)."""

    kind: ReferenceKind
    length: timedelta | None = None

    @classmethod
    def parse(cls, text: str) -> DriftReference:
        kind, sep, rest = text.strip().partition(":")
        if kind == "training" and not sep:
            return cls("training")
        if kind in ("rolling", "cycle") and sep:
            try:
                length = parse_duration(rest.strip())
            except ValueError:
                length = None
            if length is not None and length > timedelta(0):
                return cls(kind, length)  # type: ignore[arg-type]
        raise ValueError(
            "expected a drift reference: 'training', 'rolling:<duration>' (the period just "
            "before the window, e.g. 'rolling:28d') or 'cycle:<duration>' (the same period one "
            f"cycle earlier, e.g. 'cycle:7d' or 'cycle:365d'), got {text!r}"
        )

    def __str__(self) -> str:
        if self.length is None:
            return self.kind
        return f"{self.kind}:{format_duration(self.length)}"


def _check_reference(value: str) -> str:
    """The reference text, checked, without spaces (its duration as the user spelled it)."""
    DriftReference.parse(value)
    return "".join(value.split())


ReferenceText = Annotated[str, AfterValidator(_check_reference)]
"""A drift reference as written in opsloop.yaml, checked and normalised (`DriftReference`)."""


class FeatureDriftConfig(ConfigModel):
    """Per-feature override of the drift method and its threshold (a p-value for the tests
    ks, chi2, chi2_gof, z; a distance for the others)."""

    method: DriftMethod = "auto"
    threshold: float | None = Field(default=None, gt=0.0)
    thresholds: Literal["fixed", "learned"] | None = Field(
        default=None,
        description=(
            "Override of drift.thresholds for this feature (an explicit `threshold` always wins)."
        ),
    )
    reference: ReferenceText | None = Field(
        default=None,
        description="Override of monitor.reference for this feature: `training`, "
        "`rolling:<duration>` or `cycle:<duration>`.",
    )
    effect: EffectSize | None = Field(
        default=None,
        description=(
            "The distance that measures this feature's effect size (default: the method's "
            "own distance; for a test, wasserstein on numbers, jensenshannon on categories)."
        ),
    )
    floor: float | None = Field(
        default=None,
        ge=0.0,
        description="This feature's materiality floor (default: drift.materiality.<effect>).",
    )


class MaterialityConfig(ConfigModel):
    """Effect-size floors: a statistically detectable change whose effect size is below its
    statistic's floor is `immaterial`, not drift (docs/monitoring.md#materiality). 0 turns
    a floor off (every detectable change is drift)."""

    psi: float = Field(
        default=0.1, ge=0.0, description="PSI: below 0.1 'no significant change' (0.1/0.25)."
    )
    wasserstein: float = Field(
        default=0.1, ge=0.0, description="Wasserstein-1 / reference std (Evidently's 0.1)."
    )
    jensenshannon: float = Field(
        default=0.1, ge=0.0, le=1.0, description="Jensen–Shannon distance, base 2."
    )
    hellinger: float = Field(default=0.1, ge=0.0, le=1.0, description="Hellinger distance.")
    linf: float = Field(
        default=0.1, ge=0.0, le=1.0, description="Largest change of a bin's share (L∞)."
    )

    def floor(self, effect: EffectSize) -> float:
        return float(getattr(self, effect))


class MultivariateConfig(ConfigModel):
    """Multivariate drift by PCA reconstruction error (as NannyML), fitted at training."""

    enabled: bool = True
    variance: float = Field(
        default=0.65,
        gt=0.0,
        lt=1.0,
        description=("Share of the standardised reference variance the kept components explain."),
    )
    sigma: float = Field(
        default=3.0,
        gt=0.0,
        description=("Band half-width in standard deviations of the reference chunks' mean error."),
    )
    counts_as_drift: bool = Field(
        default=True,
        description=(
            "A window outside the band sets the result's drift flag (event drift_detected, "
            "retrain.on: drift)."
        ),
    )


class DriftConfig(ConfigModel):
    method: DriftMethod = "auto"
    psi_threshold: float = Field(default=0.2, gt=0.0)
    p_value: float = Field(default=0.01, gt=0.0, lt=1.0)
    share: float = Field(
        default=0.3, gt=0.0, le=1.0, description="Share of drifted features that means drift."
    )
    min_rows: int = Field(default=100, ge=1)
    test_max_rows: int = Field(
        default=100_000,
        ge=1,
        description="auto: windows with more non-null rows use distances instead of tests.",
    )
    exact_max_rows: int = Field(
        default=5000,
        ge=0,
        le=100_000,
        description="KS on windows with at most this many non-null values of a numeric "
        "feature uses the raw values (scipy's ks_2samp against the reference's stored sample) "
        "instead of the binned KS; 0 turns it off.",
    )
    wasserstein_threshold: float = Field(default=0.1, gt=0.0)
    jensenshannon_threshold: float = Field(default=0.12, gt=0.0, le=1.0)
    hellinger_threshold: float = Field(default=0.1, gt=0.0, le=1.0)
    linf_threshold: float = Field(default=0.1, gt=0.0, le=1.0)
    features: dict[str, FeatureDriftConfig] = Field(default_factory=dict)
    thresholds: Literal["fixed", "learned"] = Field(
        default="fixed",
        description=(
            "fixed: the *_threshold values; learned: each distance's threshold from the "
            "variability between reference chunks, scaled to the window's size."
        ),
    )
    chunks: int = Field(
        default=20,
        ge=4,
        le=1000,
        description=(
            "Reference chunks (at training time) for learned thresholds and the multivariate band."
        ),
    )
    sigma: float = Field(
        default=3.0,
        gt=0.0,
        description=("Learned threshold = mean + sigma x std of the chunks' distances."),
    )
    materiality: MaterialityConfig = MaterialityConfig()
    multivariate: MultivariateConfig = MultivariateConfig()


class PerformanceConfig(ConfigModel):
    metric: str = "roc_auc"
    floor: float | None = None
    min_labels: int = Field(default=100, ge=1)
    k: int = Field(
        default=100,
        ge=1,
        description="Classifiers: precision@k and NDCG@k over "
        "the window's labelled rows ranked by score.",
    )
    calibration_bins: int = Field(
        default=10,
        ge=2,
        le=100,
        description="Classifiers: equal-width score bins of the reliability diagram and ECE.",
    )


ESTIMATED_METRICS = ("roc_auc", "accuracy", "precision", "recall", "f1")


class EstimatedPerformanceConfig(ConfigModel):
    """Performance estimated without labels (CBPE) for binary classifiers with scores."""

    enabled: bool = True
    metric: Literal["roc_auc", "accuracy", "precision", "recall", "f1"] = Field(
        default="roc_auc", description="The estimate judged against the band and the floor."
    )
    floor: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Degraded when the estimate falls below it (besides the band).",
    )
    band: bool = Field(
        default=True,
        description="Degraded when the estimate falls below "
        "the alert band (mean - 3 sd over the reference chunks).",
    )
    chunks: int = Field(
        default=10,
        ge=2,
        le=1000,
        description="Training: the holdout is cut into this many chunks to learn the alert band.",
    )
    min_rows: int = Field(
        default=100, ge=1, description="Fewest scored rows in the window for an estimate."
    )


class FeatureQualityConfig(ConfigModel):
    """Per-feature overrides of the window's data-quality limits."""

    missing_tolerance: float | None = Field(default=None, ge=0.0, le=1.0)
    max_out_of_range: float | None = Field(default=None, ge=0.0, le=1.0)
    max_unseen: float | None = Field(default=None, ge=0.0, le=1.0)
    max_type_errors: float | None = Field(default=None, ge=0.0, le=1.0)


class VolumeConfig(ConfigModel):
    """Rows expected in a monitoring window: configured bounds, else learned from the
    reference's rows per hour (its time column's span) times the window's hours."""

    min_rows: int | None = Field(
        default=None, ge=0, description="Fewest rows expected (replaces the learned lower bound)."
    )
    max_rows: int | None = Field(
        default=None, ge=1, description="Most rows expected (replaces the learned upper bound)."
    )
    learned_low: float | None = Field(
        default=0.1,
        gt=0.0,
        description="Learned lower bound "
        "= this × the reference's rate × window hours "
        "(null: none).",
    )
    learned_high: float | None = Field(
        default=None,
        gt=0.0,
        description="Learned upper "
        "bound = this × the reference's rate × window hours "
        "(null: none).",
    )


class MonitorQualityConfig(ConfigModel):
    """Data quality of a monitoring window against expectations learned from the reference
    (docs/monitoring.md#data-quality). A share limit is breached when the one-sided
    Clopper-Pearson lower bound of the window's share (at `confidence`) exceeds it, so a few
    rows in a small window do not raise false alarms."""

    enabled: bool = True
    schema_: bool = Field(
        default=True,
        alias="schema",
        description="Check the pandera "
        "contract stored with the version (columns, nullability, ranges).",
    )
    confidence: float = Field(default=0.99, gt=0.5, lt=1.0)
    missing_tolerance: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="Allowed increase of a feature's missing rate over the reference's (absolute).",
    )
    max_out_of_range: float = Field(
        default=0.01,
        ge=0.0,
        le=1.0,
        description="Largest share "
        "of a numeric feature's values below the reference "
        "minimum or above its maximum.",
    )
    max_unseen: float = Field(
        default=0.01,
        ge=0.0,
        le=1.0,
        description="Largest share of "
        "rows with categories never seen in the reference, on top of "
        "the reference's own rate of new categories (Good-Turing).",
    )
    max_type_errors: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Largest share of values of the wrong type (0: any is a breach).",
    )
    volume: VolumeConfig = VolumeConfig()
    max_age: Duration | None = Field(
        default=None,
        description="Freshness: the newest "
        "prediction may be at most this old at the window's end "
        "(null: not checked).",
    )
    features: dict[str, FeatureQualityConfig] = Field(default_factory=dict)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def limit(self, feature: str, name: str) -> float:
        override = self.features.get(feature)
        value = getattr(override, name) if override is not None else None
        return float(getattr(self, name) if value is None else value)


class RankingMonitorConfig(ConfigModel):
    """`monitor.ranking:` — the checks of a recommender's window (`task: ranking`,
    `opsloop.monitor.ranking`) beyond feature and score drift (`monitor.drift`) and the
    realised metric (`monitor.performance`)."""

    popularity_floor: float = Field(
        default=0.1,
        gt=0.0,
        le=1.0,
        description="Item-popularity shift (of visits, of recommendations) is material when "
        "the Jensen-Shannon distance (base 2) between the window's and the reference's item "
        "shares, corrected for sampling noise, reaches this; it is detectable when fewer "
        "than `drift.p_value` of the draws under no change (random splits of the pooled "
        "visits into a reference and a window of their sizes) reach the observed distance.",
    )
    popularity_draws: int = Field(
        default=500,
        ge=50,
        le=10_000,
        description="Draws of the no-change distribution of the popularity distance.",
    )
    coverage_drop: float = Field(
        default=0.5,
        gt=0.0,
        lt=1.0,
        description="Coverage breach: the window's lists cover less than (1 - this) of the "
        "reference's catalogue coverage.",
    )
    max_fallback_share: float = Field(
        default=0.2,
        ge=0.0,
        le=1.0,
        description="Fallback breach: more than this share of the window's visiting users "
        "had no list of their own at a visit.",
    )
    lookback: Duration = Field(
        default=timedelta(days=2),
        description="How far before the window lists are read: a visit is judged against "
        "the user's newest list served before it, and a list older than this at the "
        "window's start is not seen (longer than the interval between list runs).",
    )

    @field_validator("lookback")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError(f"lookback must be a positive duration such as 2d, got {value}")
        return value


class MonitorConfig(ConfigModel):
    schedule: str = "*/15 * * * *"
    window: Duration = timedelta(hours=1)
    clock: Clock = Field(
        default="event",
        description=(
            "Which time puts a logged prediction in a window: `event` (the record's "
            "time_column value, else the answer time) or `answered` (when it was answered)."
        ),
    )
    reference: ReferenceText = Field(
        default="training",
        description=(
            "What a window's drift is judged against: `training` (the reference profile "
            "fitted at register time), `rolling:<duration>` (the logged predictions of that "
            "long just before the window) or `cycle:<duration>` (the window one cycle "
            "earlier, e.g. `cycle:7d`, `cycle:365d`); per feature: "
            "`drift.features.<name>.reference`."
        ),
    )
    drift: DriftConfig = DriftConfig()
    performance: PerformanceConfig = PerformanceConfig()
    estimated_performance: EstimatedPerformanceConfig = EstimatedPerformanceConfig()
    quality: MonitorQualityConfig = MonitorQualityConfig()
    ranking: RankingMonitorConfig = RankingMonitorConfig()

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)

    @model_validator(mode="after")
    def _cycles_span_the_window(self) -> MonitorConfig:
        """A cycle shorter than the window would compare the window with part of itself."""
        named = [("monitor.reference", self.reference)] + [
            (f"monitor.drift.features.{name}.reference", f.reference)
            for name, f in self.drift.features.items()
            if f.reference is not None
        ]
        for where, text in named:
            ref = DriftReference.parse(text)
            if ref.kind == "cycle" and ref.length is not None and ref.length < self.window:
                raise ValueError(
                    f"{where} is {text!r}, shorter than monitor.window "
                    f"({format_duration(self.window)}): expected a cycle at least as long as "
                    "the window (e.g. 'cycle:7d' for a weekly pattern)"
                )
        return self

    def reference_text(self, feature: str) -> str:
        """The reference `feature`'s drift is judged against, as written: its
        `drift.features.<name>.reference`, else `monitor.reference`."""
        override = self.drift.features.get(feature)
        text = override.reference if override is not None and override.reference else None
        return text or self.reference

    def drift_reference(self, feature: str) -> DriftReference:
        """`reference_text(feature)`, parsed."""
        return DriftReference.parse(self.reference_text(feature))
