"""Gate evidence and rollout analyses as typed, frozen models read from their stored JSON.

- `GateEvidence`: a gate decision's evidence (`gate_decisions.evidence`): the whole gate
  report (`GateReportData`, what `gate.evaluate.GateReport.to_dict` writes) and the links
  of its MLflow artifacts.
- `RolloutAnalysis`: a rollout step's analysis (`rollouts.analysis`, and the ``analysis``
  of rollout events); `{}` until the first analysis, so every field is optional.

Like the monitor summary (`opsloop.core.summaries`), unknown keys are kept and `to_json()`
returns the JSON that was read, key for key.
"""

from __future__ import annotations

from typing import Any

from opsloop.core._base import Model, Num

__all__ = [
    "BudgetCheck",
    "GateBudgets",
    "GateEvidence",
    "GateMetric",
    "GateReportData",
    "GateSlice",
    "ModelBudget",
    "RegressionFailure",
    "RegressionSetResult",
    "RolloutAnalysis",
    "RolloutCheck",
]


# --- gate -------------------------------------------------------------------------------


class GateMetric(Model):
    """One metric rule's verdict (a row of the report's ``metrics``)."""

    metric: str | None = None
    policy: str | None = None
    margin: Num | None = None
    floor: Num | None = None
    direction: str | None = None  # higher | lower (is better)
    method: str | None = None  # delong | mcnemar | bootstrap; None without a champion
    challenger: Num | None = None
    champion: Num | None = None
    improvement: Num | None = None
    ci_low: Num | None = None
    ci_high: Num | None = None
    confidence: Num | None = None
    n: int | None = None
    p_value: Num | None = None
    threshold: Num | None = None
    passed: bool | None = None
    reasons: list[str] = []


class GateSlice(Model):
    """One slice of the holdout: the primary metric's regression test on it."""

    slice: str | None = None
    rows: int | None = None
    metric: str | None = None
    margin: Num | None = None
    status: str | None = None  # ok | regressed | skipped
    challenger: Num | None = None
    champion: Num | None = None
    improvement: Num | None = None
    ci_low: Num | None = None
    ci_high: Num | None = None
    method: str | None = None
    p_regression: Num | None = None
    p_holm: Num | None = None
    note: str | None = None


class RegressionFailure(Model):
    id: str | None = None
    expected: Any = None
    got: Any = None


class RegressionSetResult(Model):
    """The golden examples' check (``regression_set``)."""

    path: str | None = None
    rows: int | None = None
    passed_rows: int | None = None
    share: Num | None = None
    min_pass: Num | None = None
    tolerance: Num | None = None
    passed: bool | None = None
    failures: list[RegressionFailure] = []


class ModelBudget(Model):
    p50_ms: Num | None = None
    p99_ms: Num | None = None
    rows: int | None = None
    size_mb: Num | None = None


class BudgetCheck(Model):
    budget: str | None = None
    value: Num | None = None
    limit: Num | None = None
    passed: bool | None = None


class GateBudgets(Model):
    """The operational budget (``budgets``): latency and size of each model, the checks."""

    challenger: ModelBudget | None = None
    champion: ModelBudget | None = None
    limits: dict[str, Any] = {}
    checks: list[BudgetCheck] = []
    passed: bool | None = None


class GateReportData(Model):
    """The gate report as stored (`GateReport.to_dict`)."""

    model: str | None = None
    version: str | None = None
    champion_version: str | None = None
    passed: bool | None = None
    reasons: list[str] = []
    holdout_rows: int | None = None
    confidence: Num | None = None
    metrics: list[GateMetric] = []
    slices: list[GateSlice] = []
    regression_set: RegressionSetResult | None = None
    budgets: GateBudgets | None = None
    window: str | None = None  # the training window
    holdout_start: str | None = None  # first event time of the holdout rows
    holdout_end: str | None = None  # last event time of the holdout rows
    warnings: list[str] = []  # the holdout is too small for the tests to mean much
    created: str | None = None

    @property
    def primary(self) -> GateMetric:
        """The primary metric's verdict (an empty one in a report without metrics)."""
        return self.metrics[0] if self.metrics else GateMetric()

    @property
    def regressed_slices(self) -> list[str]:
        return [s.slice for s in self.slices if s.status == "regressed" and s.slice is not None]


class GateEvidence(Model):
    """A gate decision's evidence: the report and its artifacts (name → URI)."""

    report: GateReportData | None = None
    artifacts: dict[str, str] = {}


# --- rollouts ---------------------------------------------------------------------------


class RolloutCheck(Model):
    """One check of a rollout step (error_rate, p99_ratio, p99, divergence, performance)."""

    name: str | None = None
    status: str | None = None  # pass | fail | pending
    value: Num | None = None
    limit: Num | None = None
    detail: str | None = None


class RolloutAnalysis(Model):
    """A rollout step's analysis (`deploy.analysis.Analysis.to_dict`)."""

    verdict: str | None = None  # pass | fail | wait
    checks: list[RolloutCheck] = []
    candidate_requests: int | None = None
    stable_requests: int | None = None
    baked: Num | None = None  # seconds the step has run
    bake: Num | None = None
    since: str | None = None
    reasons: list[str] = []
