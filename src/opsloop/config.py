"""opsloop.yaml as pydantic models.

`load_config(path)` reads and validates the file; any wrong key or value becomes one
`ConfigError` naming the field, what was expected and what came. Settings are built once
at the edge (CLI, server) and passed down; core code never reads ``os.environ``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)

from opsloop.errors import ConfigError

CONFIG_FILE = "opsloop.yaml"

Task = Literal["binary_classification", "multiclass_classification", "regression"]

# Metrics per task; "higher is better" unless listed in LOWER_IS_BETTER.
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "binary_classification": ("roc_auc", "accuracy", "f1", "precision", "recall", "log_loss"),
    "multiclass_classification": ("accuracy", "f1_macro", "log_loss"),
    "regression": ("rmse", "mae", "r2"),
}
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNITS = {"ms": "milliseconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days",
          "w": "weeks"}


def parse_duration(value: object) -> timedelta:
    """Parse ``"2ms"``, ``"90s"``, ``"15m"``, ``"1h"``, ``"30d"``, ``"2w"`` (or seconds as a
    number)."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=float(value))
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    raise ValueError(
        f"expected a duration such as '2ms', '90s', '15m', '1h', '30d' or '2w', got {value!r}"
    )


def format_duration(value: timedelta) -> str:
    """Text that `parse_duration` reads back as `value`."""
    micros = value // timedelta(microseconds=1)
    if micros % 1000:
        return f"{micros / 1_000_000:.6f}".rstrip("0") + "s"
    if micros % 1_000_000:
        return f"{micros // 1000}ms"
    seconds = micros // 1_000_000
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


Duration = Annotated[
    timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QualityConfig(_Model):
    """Preconditions on training data, checked before fitting (with the pandera contract)."""

    min_rows: int = Field(default=100, ge=1, description="Fewest rows worth training on.")
    max_missing: float = Field(default=0.5, ge=0.0, le=1.0, description="Largest share of "
                               "missing values in any feature.")
    min_class_rows: int = Field(default=5, ge=0, description="Fewest rows of each class "
                                "(classification).")


class InboxConfig(_Model):
    """A folder the agent watches for label files: each tick ingests the new CSV/Parquet
    files matching `path` once (like `opsloop labels add`) and moves them to `processed`;
    a file it cannot ingest goes to `rejected` with a `labels_rejected` event."""

    path: str = Field(min_length=1, description="Glob relative to the project, e.g. "
                      "'inbox/*.csv'. Write files under another name and rename them in: "
                      "names starting with '.' or ending in '.tmp' are skipped.")
    processed: str = Field(default=".opsloop/inbox/processed", description="Folder "
                           "(relative to the project) ingested files are moved to.")
    rejected: str = Field(default=".opsloop/inbox/rejected", description="Folder (relative "
                          "to the project) files that cannot be ingested are moved to.")


class DataConfig(_Model):
    """Where ground truth comes from besides `opsloop labels add`; training data quality."""

    labels: str | None = Field(
        default=None,
        description="Glob of Parquet files (relative to the project) with id column + target.",
    )
    inbox: InboxConfig | None = Field(default=None, description="Label files the agent "
                                      "ingests on each tick.")
    quality: QualityConfig = QualityConfig()


class SplitConfig(_Model):
    holdout: float = Field(
        default=0.2, gt=0.0, lt=0.9, description="Share of the most recent rows held out."
    )


_RULE_KEYS = ("metric", "policy", "margin", "floor", "direction", "test")


class MetricRule(_Model):
    """One gate criterion: challenger vs champion on `metric`, decided on the CI."""

    metric: str = "roc_auc"
    policy: Literal["non_inferiority", "superiority"] = "non_inferiority"
    margin: float = Field(default=0.005, description="δ ≥ 0: allowed loss or required gain.")
    floor: float | None = Field(default=None, description="Absolute minimum (maximum when "
                                "lower is better) on the point value.")
    direction: Literal["higher", "lower"] | None = Field(
        default=None, description="Which way is better; defaults to the metric's own.")
    test: Literal["auto", "delong", "mcnemar", "bootstrap"] = "auto"

    @field_validator("margin")
    @classmethod
    def _margin(cls, value: float) -> float:
        if value < 0:
            raise ValueError(
                "the margin δ is a size and must be >= 0; the policy gives its sign "
                "(non_inferiority allows a loss of up to δ, superiority demands a gain of "
                "more than δ)"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MetricRule:
        natural = "lower" if self.metric in LOWER_IS_BETTER else "higher"
        if self.direction is not None and self.direction != natural:
            raise ValueError(
                f"direction: {self.metric} is {natural}-is-better; direction "
                f"{self.direction!r} contradicts it (leave direction out)"
            )
        if self.test == "delong" and self.metric != "roc_auc":
            raise ValueError(f"test: delong compares ROC AUCs, not {self.metric}; "
                             "use bootstrap or auto")
        if self.test == "mcnemar" and self.metric != "accuracy":
            raise ValueError(f"test: mcnemar compares accuracies, not {self.metric}; "
                             "use bootstrap or auto")
        return self

    @property
    def lower_is_better(self) -> bool:
        return self.metric in LOWER_IS_BETTER

    @property
    def method(self) -> str:
        """The statistical test used (see opsloop.gate.stats for why)."""
        if self.test != "auto":
            return self.test
        return {"roc_auc": "delong", "accuracy": "mcnemar"}.get(self.metric, "bootstrap")


class SliceConfig(_Model):
    """A named segment the challenger must not regress on: one slice per value of
    `column`, or the rows matching `query` (a SQL boolean expression, run by DuckDB)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    column: str | None = None
    query: str | None = None
    min_rows: int = Field(default=100, ge=1, description="Smaller slices are reported, "
                          "not tested.")
    margin: float | None = Field(default=None, ge=0.0, description="Regression allowed "
                                 "before it counts (default: the first metric's margin).")

    @model_validator(mode="after")
    def _one_source(self) -> SliceConfig:
        if (self.column is None) == (self.query is None):
            raise ValueError(f"slice {self.name!r}: give exactly one of column or query")
        return self


class RegressionSetConfig(_Model):
    """Golden examples every candidate must get right."""

    path: str = Field(description="CSV or Parquet file, relative to the project.")
    expected: str | None = Field(default=None, description="Column with the expected "
                                 "output (default: the target column).")
    tolerance: float = Field(default=0.0, ge=0.0, description="Allowed absolute error "
                             "(regression).")
    min_pass: float = Field(default=1.0, gt=0.0, le=1.0, description="Share of rows that "
                            "must pass.")


class BudgetConfig(_Model):
    """Operational budgets: size is always measured; latency when a latency limit is set."""

    batch_rows: int = Field(default=50, ge=5, le=10_000, description="Single-row "
                            "predictions timed per model.")
    max_latency_p99_ms: float | None = Field(default=None, gt=0.0)
    max_latency_p99_ratio: float | None = Field(default=None, gt=0.0, description="vs "
                                                "the champion's p99.")
    max_size_mb: float | None = Field(default=None, gt=0.0)
    max_size_ratio: float | None = Field(default=None, gt=0.0)


class GateConfig(_Model):
    metrics: tuple[MetricRule, ...] = (MetricRule(),)
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0, description="Two-sided CI level; "
                              "each one-sided decision errs with (1 - confidence) / 2.")
    resamples: int = Field(default=1000, ge=100, le=100_000)
    seed: int = 0
    slices: tuple[SliceConfig, ...] = ()
    regression_set: RegressionSetConfig | None = None
    budgets: BudgetConfig = BudgetConfig()
    approval: Literal["auto", "manual"] = "auto"
    approval_expiry: Duration | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        """`gate: {metric: roc_auc, margin: 0.01}` is shorthand for a one-rule `metrics:`."""
        if not isinstance(data, dict):
            return data
        flat = {k: data[k] for k in _RULE_KEYS if k in data}
        if not flat:
            return data
        if "metrics" in data:
            raise ValueError(f"give either metrics: [...] or the shorthand keys "
                             f"{sorted(flat)}, not both")
        rest = {k: v for k, v in data.items() if k not in _RULE_KEYS}
        return {**rest, "metrics": [flat]}

    @model_validator(mode="after")
    def _unique(self) -> GateConfig:
        names = [r.metric for r in self.metrics]
        if not names:
            raise ValueError("metrics: give at least one rule, e.g. [{metric: roc_auc}]")
        if len(set(names)) != len(names):
            raise ValueError(f"metrics: each metric at most once (got {names})")
        slices = [s.name for s in self.slices]
        if len(set(slices)) != len(slices):
            raise ValueError(f"slices: names must be unique (got {slices})")
        return self

    @property
    def primary(self) -> MetricRule:
        return self.metrics[0]


class AnalysisConfig(_Model):
    """What a rollout step must show before it advances; a breach rolls back at once."""

    interval: Duration = Field(default=timedelta(seconds=10), description="How often the "
                               "controller analyses a running step.")
    min_requests: int = Field(default=50, ge=1, description="Candidate requests needed "
                              "before a step can pass.")
    max_error_rate: float = Field(default=0.01, ge=0.0, le=1.0, description="Largest share "
                                  "of candidate requests that may fail.")
    max_p99_ratio: float | None = Field(default=2.0, gt=0.0, description="Largest candidate "
                                        "p99 prediction latency as a multiple of stable's.")
    max_p99: Duration | None = Field(default=None, description="Largest candidate p99 "
                                     "prediction latency (absolute).")
    latency_min_requests: int = Field(default=200, ge=1, description="Requests of each "
                                      "version before a p99 is judged (below ~100 a p99 is "
                                      "the single slowest request).")
    max_divergence: float | None = Field(default=0.2, gt=0.0, le=1.0, description=(
        "Largest Jensen-Shannon distance (base 2) between the candidate's and stable's "
        "prediction distributions over the step."))
    performance_margin: float | None = Field(default=0.02, ge=0.0, description=(
        "With labels, the candidate's monitor.performance.metric may trail stable's by at "
        "most this much."))
    min_labels: int = Field(default=50, ge=1, description="Labelled rows per version needed "
                            "before live performance is judged.")


class DeployConfig(_Model):
    strategy: Literal["blue_green", "canary", "shadow"] = "blue_green"
    steps: tuple[float, ...] = Field(default=(10.0, 50.0, 100.0), description="Canary: "
                                     "percent of traffic on the candidate at each step.")
    bake: Duration = Field(default=timedelta(minutes=5), description="Time each canary step "
                           "(or the shadow phase) runs before it can pass.")
    shadow_share: float = Field(default=100.0, gt=0.0, le=100.0, description="Shadow: "
                                "percent of requests mirrored to the candidate.")
    rollback_window: Duration = Field(default=timedelta(minutes=10), description=(
        "How long a server keeps the previous version loaded after a switch, so a rollback "
        "needs no load."))
    sticky_header: str | None = Field(default=None, description="Header whose value assigns "
                                      "a request to stable or candidate (default: the "
                                      "request id, else the first prediction id).")
    analysis: AnalysisConfig = AnalysisConfig()

    @field_validator("steps")
    @classmethod
    def _steps(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        return check_canary_steps(value)


def check_canary_steps(value: tuple[float, ...]) -> tuple[float, ...]:
    """Canary steps: increasing percentages above 0 that end at 100."""
    import itertools

    if not value or value[0] <= 0 or value[-1] != 100 \
            or any(b <= a for a, b in itertools.pairwise(value)):
        raise ValueError("expected increasing percentages above 0 ending at 100, e.g. "
                         f"[10, 50, 100]; got {[f'{v:g}' for v in value]}")
    return value


DriftMethod = Literal["auto", "ks", "chi2", "chi2_gof", "z", "psi", "jensenshannon",
                      "hellinger", "linf", "wasserstein"]


class FeatureDriftConfig(_Model):
    """Per-feature override of the drift method and its threshold (a p-value for the tests
    ks, chi2, chi2_gof, z; a distance for the others)."""

    method: DriftMethod = "auto"
    threshold: float | None = Field(default=None, gt=0.0)
    thresholds: Literal["fixed", "learned"] | None = Field(default=None, description=(
        "Override of drift.thresholds for this feature (an explicit `threshold` always "
        "wins)."))


class MultivariateConfig(_Model):
    """Multivariate drift by PCA reconstruction error (as NannyML), fitted at training."""

    enabled: bool = True
    variance: float = Field(default=0.65, gt=0.0, lt=1.0, description=(
        "Share of the standardised reference variance the kept components explain."))
    sigma: float = Field(default=3.0, gt=0.0, description=(
        "Band half-width in standard deviations of the reference chunks' mean error."))
    counts_as_drift: bool = Field(default=True, description=(
        "A window outside the band sets the result's drift flag (event drift_detected, "
        "retrain.on: drift)."))


class DriftConfig(_Model):
    method: DriftMethod = "auto"
    psi_threshold: float = Field(default=0.2, gt=0.0)
    p_value: float = Field(default=0.01, gt=0.0, lt=1.0)
    share: float = Field(
        default=0.3, gt=0.0, le=1.0, description="Share of drifted features that means drift."
    )
    min_rows: int = Field(default=100, ge=1)
    test_max_rows: int = Field(
        default=100_000, ge=1,
        description="auto: windows with more non-null rows use distances instead of tests.",
    )
    exact_max_rows: int = Field(
        default=5000, ge=0, le=100_000,
        description="KS on windows with at most this many non-null values of a numeric "
        "feature uses the raw values (scipy's ks_2samp against the reference's stored sample) "
        "instead of the binned KS; 0 turns it off.",
    )
    wasserstein_threshold: float = Field(default=0.1, gt=0.0)
    jensenshannon_threshold: float = Field(default=0.12, gt=0.0, le=1.0)
    hellinger_threshold: float = Field(default=0.1, gt=0.0, le=1.0)
    linf_threshold: float = Field(default=0.1, gt=0.0, le=1.0)
    features: dict[str, FeatureDriftConfig] = Field(default_factory=dict)
    thresholds: Literal["fixed", "learned"] = Field(default="fixed", description=(
        "fixed: the *_threshold values; learned: each distance's threshold from the "
        "variability between reference chunks, scaled to the window's size."))
    chunks: int = Field(default=20, ge=4, le=1000, description=(
        "Reference chunks (at training time) for learned thresholds and the multivariate "
        "band."))
    sigma: float = Field(default=3.0, gt=0.0, description=(
        "Learned threshold = mean + sigma x std of the chunks' distances."))
    multivariate: MultivariateConfig = MultivariateConfig()


class PerformanceConfig(_Model):
    metric: str = "roc_auc"
    floor: float | None = None
    min_labels: int = Field(default=100, ge=1)
    k: int = Field(default=100, ge=1, description="Classifiers: precision@k and NDCG@k over "
                   "the window's labelled rows ranked by score.")
    calibration_bins: int = Field(default=10, ge=2, le=100, description="Classifiers: "
                                  "equal-width score bins of the reliability diagram and ECE.")


ESTIMATED_METRICS = ("roc_auc", "accuracy", "precision", "recall", "f1")


class EstimatedPerformanceConfig(_Model):
    """Performance estimated without labels (CBPE) for binary classifiers with scores."""

    enabled: bool = True
    metric: Literal["roc_auc", "accuracy", "precision", "recall", "f1"] = Field(
        default="roc_auc", description="The estimate judged against the band and the floor.")
    floor: float | None = Field(default=None, ge=0.0, le=1.0, description="Degraded when "
                                "the estimate falls below it (besides the band).")
    band: bool = Field(default=True, description="Degraded when the estimate falls below "
                       "the alert band (mean - 3 sd over the reference chunks).")
    chunks: int = Field(default=10, ge=2, le=1000, description="Training: the holdout is "
                        "cut into this many chunks to learn the alert band.")
    min_rows: int = Field(default=100, ge=1, description="Fewest scored rows in the window "
                          "for an estimate.")


class FeatureQualityConfig(_Model):
    """Per-feature overrides of the window's data-quality limits."""

    missing_tolerance: float | None = Field(default=None, ge=0.0, le=1.0)
    max_out_of_range: float | None = Field(default=None, ge=0.0, le=1.0)
    max_unseen: float | None = Field(default=None, ge=0.0, le=1.0)
    max_type_errors: float | None = Field(default=None, ge=0.0, le=1.0)


class VolumeConfig(_Model):
    """Rows expected in a monitoring window: configured bounds, else learned from the
    reference's rows per hour (its time column's span) times the window's hours."""

    min_rows: int | None = Field(default=None, ge=0, description="Fewest rows expected "
                                 "(replaces the learned lower bound).")
    max_rows: int | None = Field(default=None, ge=1, description="Most rows expected "
                                 "(replaces the learned upper bound).")
    learned_low: float | None = Field(default=0.1, gt=0.0, description="Learned lower bound "
                                      "= this × the reference's rate × window hours "
                                      "(null: none).")
    learned_high: float | None = Field(default=None, gt=0.0, description="Learned upper "
                                       "bound = this × the reference's rate × window hours "
                                       "(null: none).")


class MonitorQualityConfig(_Model):
    """Data quality of a monitoring window against expectations learned from the reference
    (docs/monitoring.md#data-quality). A share limit is breached when the one-sided
    Clopper-Pearson lower bound of the window's share (at `confidence`) exceeds it, so a few
    rows in a small window do not raise false alarms."""

    enabled: bool = True
    schema_: bool = Field(default=True, alias="schema", description="Check the pandera "
                          "contract stored with the version (columns, nullability, ranges).")
    confidence: float = Field(default=0.99, gt=0.5, lt=1.0)
    missing_tolerance: float = Field(default=0.05, ge=0.0, le=1.0, description="Allowed "
                                     "increase of a feature's missing rate over the "
                                     "reference's (absolute).")
    max_out_of_range: float = Field(default=0.01, ge=0.0, le=1.0, description="Largest share "
                                    "of a numeric feature's values below the reference "
                                    "minimum or above its maximum.")
    max_unseen: float = Field(default=0.01, ge=0.0, le=1.0, description="Largest share of "
                              "rows with categories never seen in the reference, on top of "
                              "the reference's own rate of new categories (Good-Turing).")
    max_type_errors: float = Field(default=0.0, ge=0.0, le=1.0, description="Largest share "
                                   "of values of the wrong type (0: any is a breach).")
    volume: VolumeConfig = VolumeConfig()
    max_age: Duration | None = Field(default=None, description="Freshness: the newest "
                                     "prediction may be at most this old at the window's end "
                                     "(null: not checked).")
    features: dict[str, FeatureQualityConfig] = Field(default_factory=dict)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def limit(self, feature: str, name: str) -> float:
        override = self.features.get(feature)
        value = getattr(override, name) if override is not None else None
        return float(getattr(self, name) if value is None else value)


class MonitorConfig(_Model):
    schedule: str = "*/15 * * * *"
    window: Duration = timedelta(hours=1)
    drift: DriftConfig = DriftConfig()
    performance: PerformanceConfig = PerformanceConfig()
    estimated_performance: EstimatedPerformanceConfig = EstimatedPerformanceConfig()
    quality: MonitorQualityConfig = MonitorQualityConfig()

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        return _check_cron(value)


class NewDataConfig(_Model):
    """New-data events from NATS JetStream: each message is JSON saying how many new rows
    arrived (`{"rows": 250}`); when the rows since the last training reach `min_rows`, the
    `new_data` trigger fires."""

    nats: str = Field(default="nats://127.0.0.1:4222", description="NATS server URL(s), "
                      "comma-separated.")
    subject: str = Field(min_length=1, description="Subject the producers publish to.")
    stream: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$", description=(
        "JetStream stream holding the subject; created if no stream binds the subject "
        "(default OPSLOOP_<MODEL>_NEW_DATA)."))
    durable: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$", description=(
        "Durable consumer name (default opsloop-<model>): the broker keeps its position "
        "while the agent is down."))
    min_rows: int = Field(default=1000, ge=1, description="New rows since the last "
                          "training that fire the trigger.")
    batch: int = Field(default=500, ge=1, le=10_000, description="Most messages read per "
                       "tick.")


class LabelsTriggerConfig(_Model):
    """The `labels` trigger: fires when this many labelled rows arrived (agent inbox or
    `opsloop labels add`) since the last training started."""

    min_rows: int = Field(default=1000, ge=1, description="New labels since the last "
                          "training that fire the trigger.")


class RetrainConfig(_Model):
    on: tuple[Literal["drift", "performance", "estimated_performance", "schedule",
                      "new_data", "labels", "quality"], ...] = ("drift", "performance")
    schedule: str | None = None
    training_window: Duration = timedelta(days=30)
    cooldown: Duration = timedelta(hours=1)
    retries: int = Field(default=2, ge=0, le=10, description="Extra attempts of the load "
                         "stage when the user's load() raises (transient I/O errors).")
    backoff: Duration = Field(default=timedelta(seconds=5), description="Wait before the "
                              "first retry; doubled for each further one.")
    new_data: NewDataConfig | None = None
    labels: LabelsTriggerConfig = LabelsTriggerConfig()

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else _check_cron(value)

    @model_validator(mode="after")
    def _new_data(self) -> RetrainConfig:
        if "new_data" in self.on and self.new_data is None:
            raise ValueError("on: new_data needs a new_data: {subject: ..., min_rows: ...} "
                             "section")
        return self


class AgentConfig(_Model):
    """The agent's lease (one acting agent per model and ops store) and crash detection."""

    lease_ttl: Duration = Field(default=timedelta(seconds=60), description=(
        "How long the agent's lease lasts without renewal; a dead agent's lease is taken "
        "over after it expires."))
    heartbeat_interval: Duration = Field(default=timedelta(seconds=10), description=(
        "How often a running pipeline stage records a heartbeat."))
    heartbeat_timeout: Duration = Field(default=timedelta(minutes=2), description=(
        "A running pipeline whose heartbeat is older than this is marked failed (crashed)."))
    resume_crashed: bool = Field(default=True, description="Re-run a crashed training "
                                 "pipeline once, on the same data window.")

    @model_validator(mode="after")
    def _timeouts(self) -> AgentConfig:
        if self.heartbeat_timeout < 2 * self.heartbeat_interval:
            raise ValueError("heartbeat_timeout must be at least twice heartbeat_interval "
                             "(a single late beat must not declare a run crashed)")
        return self


class WebhookConfig(_Model):
    url: str = Field(pattern=r"^https?://", description="Slack-compatible incoming webhook.")
    events: tuple[str, ...] = Field(
        default=("drift_detected", "performance_degraded", "performance_estimated_degraded",
                 "quality_failed", "rolled_back", "approval_pending", "promoted",
                 "training_failed"),
        description="Event kinds posted to this webhook.")
    timeout: Duration = timedelta(seconds=10)


class NotifyConfig(_Model):
    webhooks: tuple[WebhookConfig, ...] = ()
    retries: int = Field(default=3, ge=0, le=20, description="Extra attempts of a failed "
                         "delivery.")
    backoff: Duration = Field(default=timedelta(seconds=2), description="Wait before the "
                              "first retry; doubled for each further one.")


class BatchingConfig(_Model):
    """Adaptive micro-batching: concurrent requests to the same model are coalesced into one
    predict call (serve/batching.py)."""

    enabled: bool = False
    max_batch_size: int = Field(default=64, ge=1, le=100_000, description="Most rows in "
                                "one predict call (a larger request is never split).")
    max_wait: Duration = Field(default=timedelta(milliseconds=2), description="Longest a "
                               "request waits for others to join its batch; only while "
                               "requests arrive concurrently.")

    @field_validator("max_wait")
    @classmethod
    def _wait(cls, value: timedelta) -> timedelta:
        if not timedelta(0) <= value <= timedelta(seconds=1):
            raise ValueError("max_wait must be between 0ms and 1s (e.g. '2ms')")
        return value


class ServeConfig(_Model):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64, description="Server processes; each loads "
                         "the model and follows the ops store itself.")
    model_threads: int = Field(default=1, ge=0, le=256, description="Native threads "
                               "(OpenMP/BLAS) a predict call may use; 0 keeps the "
                               "libraries' default (one per core).")
    batching: BatchingConfig = BatchingConfig()
    reload_interval: Duration = timedelta(seconds=2)
    log_flush_interval: Duration = timedelta(seconds=2)
    log_max_queue: int = Field(default=100_000, ge=1)
    controller: bool = Field(default=True, description="Each server also analyses and "
                             "advances running rollouts (safe with any number of replicas).")
    admin_token_env: str = Field(default="OPSLOOP_ADMIN_TOKEN", description="Environment "
                                 "variable holding the bearer token of the admin API.")


class StackConfig(_Model):
    """Where things live. Empty fields take the embedded default under `.opsloop/`."""

    tracking_uri: str | None = None
    registry_uri: str | None = None
    artifact_location: str | None = None
    ops_store: str | None = None
    prediction_log: str | None = None
    engine: Literal["duckdb"] = "duckdb"
    orchestrator: Literal["local"] = "local"


class ProjectConfig(_Model):
    model: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
    task: Task = "binary_classification"
    target: str
    id_column: str
    time_column: str
    code: str = "model.py"
    features: tuple[str, ...] | None = None
    data: DataConfig = DataConfig()
    split: SplitConfig = SplitConfig()
    gate: GateConfig = GateConfig()
    deploy: DeployConfig = DeployConfig()
    monitor: MonitorConfig = MonitorConfig()
    retrain: RetrainConfig = RetrainConfig()
    agent: AgentConfig = AgentConfig()
    notify: NotifyConfig = NotifyConfig()
    serve: ServeConfig = ServeConfig()
    stack: str = "local"
    stacks: dict[str, StackConfig] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> ProjectConfig:
        allowed = TASK_METRICS[self.task]
        checks = [(f"gate.metrics[{i}].metric", r.metric) for i, r in enumerate(self.gate.metrics)]
        checks.append(("monitor.performance.metric", self.monitor.performance.metric))
        for where, metric in checks:
            if metric not in allowed:
                raise ValueError(
                    f"{where}: {metric!r} is not a {self.task} metric; "
                    f"expected one of {', '.join(allowed)}"
                )
        special = {self.target, self.id_column, self.time_column}
        if len(special) != 3:
            raise ValueError("target, id_column and time_column must be three different columns")
        if self.features is not None and special & set(self.features):
            raise ValueError("features must not include the target, id_column or time_column")
        if self.stack != "local" and self.stack not in self.stacks:
            raise ValueError(
                f"stack: {self.stack!r} is not defined; expected 'local' or one of "
                f"{sorted(self.stacks) or 'the names under stacks:'}"
            )
        return self

    @property
    def active_stack(self) -> StackConfig:
        return self.stacks.get(self.stack, StackConfig())


def _check_cron(value: str) -> str:
    from croniter import croniter  # small, but only needed when a schedule is given

    if not croniter.is_valid(value):
        raise ValueError(
            f"expected a 5-field cron expression such as '*/15 * * * *', got {value!r}"
        )
    return value


def _format_validation_error(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
        loc = loc.lstrip(".") or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key; check the spelling against docs/configuration.md"
        elif err["type"] == "missing":
            msg = "required key is missing"
        got = err.get("input")
        got_text = "" if err["type"] == "missing" or isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"{loc}: {msg}{got_text}")
    return f"{source}: " + "; ".join(lines)


def parse_config(data: Any, *, source: str = CONFIG_FILE) -> ProjectConfig:
    """Validate a mapping as a project configuration."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source} is not a mapping",
            expected="YAML keys such as 'model:', 'target:', 'id_column:'",
            got=type(data).__name__,
            fix="start from `opsloop init PATH --example churn`",
        )
    try:
        return ProjectConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            _format_validation_error(exc, source),
            fix="correct the field(s) named above in opsloop.yaml",
        ) from None


def _yaml_loader() -> Any:
    """A SafeLoader with YAML 1.2 booleans: only true/false, so `on:` stays a key (YAML 1.1
    would read `retrain: {on: [drift]}` as `{True: [drift]}`)."""
    import re as _re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    resolvers = {
        first: [(tag, regexp) for tag, regexp in entries if tag != "tag:yaml.org,2002:bool"]
        for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.yaml_implicit_resolvers = resolvers
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", _re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
        list("tTfF"),
    )
    return Loader


def load_config(path: Path) -> ProjectConfig:
    """Read and validate ``opsloop.yaml``."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = yaml.load(text, Loader=_yaml_loader())
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"{path} is not valid YAML: {exc}", fix="fix the YAML syntax at the line shown"
        ) from None
    return parse_config(data, source=str(path))
