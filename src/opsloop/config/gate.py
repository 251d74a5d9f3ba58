"""`gate:` — the challenger-vs-champion rules, slices, regression set and budgets."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from opsloop.config.base import LOWER_IS_BETTER, ConfigModel, Duration

_RULE_KEYS = ("metric", "policy", "margin", "floor", "direction", "test")


class MetricRule(ConfigModel):
    """One gate criterion: challenger vs champion on `metric`, decided on the CI."""

    metric: str = "roc_auc"
    policy: Literal["non_inferiority", "superiority"] = "non_inferiority"
    margin: float = Field(default=0.005, description="δ ≥ 0: allowed loss or required gain.")
    floor: float | None = Field(
        default=None,
        description="Absolute minimum (maximum when lower is better) on the point value.",
    )
    direction: Literal["higher", "lower"] | None = Field(
        default=None, description="Which way is better; defaults to the metric's own."
    )
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
            raise ValueError(
                f"test: delong compares ROC AUCs, not {self.metric}; use bootstrap or auto"
            )
        if self.test == "mcnemar" and self.metric != "accuracy":
            raise ValueError(
                f"test: mcnemar compares accuracies, not {self.metric}; use bootstrap or auto"
            )
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


class SliceConfig(ConfigModel):
    """A named segment the challenger must not regress on: one slice per value of
    `column`, or the rows matching `query` (a SQL boolean expression, run by DuckDB)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    column: str | None = None
    query: str | None = None
    min_rows: int = Field(default=100, ge=1, description="Smaller slices are reported, not tested.")
    margin: float | None = Field(
        default=None,
        ge=0.0,
        description="Regression allowed before it counts (default: the first metric's margin).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> SliceConfig:
        if (self.column is None) == (self.query is None):
            raise ValueError(f"slice {self.name!r}: give exactly one of column or query")
        return self


class RegressionSetConfig(ConfigModel):
    """Golden examples every candidate must get right."""

    path: str = Field(description="CSV or Parquet file, relative to the project.")
    expected: str | None = Field(
        default=None, description="Column with the expected output (default: the target column)."
    )
    tolerance: float = Field(
        default=0.0, ge=0.0, description="Allowed absolute error (regression)."
    )
    min_pass: float = Field(
        default=1.0, gt=0.0, le=1.0, description="Share of rows that must pass."
    )


class BudgetConfig(ConfigModel):
    """Operational budgets: size is always measured; latency when a latency limit is set."""

    batch_rows: int = Field(
        default=50, ge=5, le=10_000, description="Single-row predictions timed per model."
    )
    max_latency_p99_ms: float | None = Field(default=None, gt=0.0)
    max_latency_p99_ratio: float | None = Field(
        default=None, gt=0.0, description="vs the champion's p99."
    )
    max_size_mb: float | None = Field(default=None, gt=0.0)
    max_size_ratio: float | None = Field(default=None, gt=0.0)


class GateConfig(ConfigModel):
    metrics: tuple[MetricRule, ...] = (MetricRule(),)
    confidence: float = Field(
        default=0.95,
        gt=0.5,
        lt=1.0,
        description="Two-sided CI level; each one-sided decision errs with (1 - confidence) / 2.",
    )
    resamples: int = Field(default=1000, ge=100, le=100_000)
    holdout_min_rows: int = Field(
        default=100,
        ge=0,
        description="A holdout with fewer rows gets a `holdout_too_small` warning: the "
        "gate's intervals are too wide to mean much (a warning, not a failure).",
    )
    holdout_min_class_rows: int = Field(
        default=30,
        ge=0,
        description="Classification: a holdout whose rarest class has fewer rows gets a "
        "`holdout_too_small` warning (DeLong and McNemar rest on both classes).",
    )
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
            raise ValueError(
                f"give either metrics: [...] or the shorthand keys {sorted(flat)}, not both"
            )
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
