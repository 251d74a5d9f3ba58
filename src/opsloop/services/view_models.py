"""The typed shapes of the read-only views (`views.build_status`, `views.build_monitoring`):
what `opsloop status --json`, `opsloop monitoring --json`, `GET /api/status`,
`GET /api/models/{m}/monitoring` and the dashboard show. `model_dump(mode="json")` is the stable
JSON documented in docs/cli.md: add fields, never rename or remove them. Fields are in the
order of that JSON."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from opsloop.core.summaries import Num

__all__ = [
    "AgentView",
    "ApprovalView",
    "AsOfRolloutView",
    "AsOfView",
    "DayView",
    "DeploymentView",
    "EstimatedBandView",
    "FeatureWindowView",
    "GateView",
    "LastMonitorView",
    "LastTriggerView",
    "LeaseView",
    "LineageView",
    "MonitoringDaysView",
    "MonitoringView",
    "MultivariateBandView",
    "PendingApprovalView",
    "QualityBreachView",
    "RolloutCheckView",
    "RolloutView",
    "RunView",
    "ScheduleView",
    "StatusView",
    "TrafficShareView",
    "TrainingView",
    "VersionView",
    "WindowPreviousView",
    "WindowView",
]


class View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_json(self) -> dict[str, Any]:
        """The stable JSON of this view."""
        return self.model_dump(mode="json")


class GateView(View):
    passed: bool
    metric: str | None
    challenger_value: Num | None
    champion_value: Num | None
    champion_version: str | None
    reasons: list[str]
    ts: str | None
    # the primary metric's test, from the stored report
    method: str | None
    improvement: Num | None
    ci_low: Num | None
    ci_high: Num | None
    confidence: Num | None
    slices_regressed: list[str]
    report: str | None  # the HTML report's artifact URI


class ApprovalView(View):
    status: str
    actor: str | None
    comment: str | None
    ts: str | None


class TrainingView(View):
    """What a version was trained on, from its `trained` event: the window (start/end
    key), how it was chosen (asked | now | data), what was asked (--from/--to/--as-of),
    the rows and their actual event-time span (absent for versions trained before)."""

    window: str | None
    anchor: str | None
    requested: dict[str, str]
    rows: int | None
    event_start: str | None
    event_end: str | None


class InferenceView(View):
    """How the version may be served, as verified at registration on its holdout
    (opsloop.inference): `compiled` or `plain`, and why."""

    path: str
    reason: str
    rows: int | None = None
    max_score_diff: Num | None = None


class VersionView(View):
    version: str
    gate: GateView | None
    approval: ApprovalView | None
    training: TrainingView | None = None
    inference: InferenceView | None = None  # None: registered before the check existed


class DeploymentView(View):
    version: str | None
    revision: int
    previous_version: str | None
    strategy: str | None
    reason: str | None
    actor: str | None
    ts: str | None


class BatchRunView(View):
    run_id: str
    status: str
    version: str | None
    rows: int
    seconds: Num
    rows_per_second: Num
    finished: str | None
    output: str | None
    error: str | None


class LineageView(View):
    """One version's lineage: training window and data fingerprint → MLflow run → version →
    the deployment revisions it served → the batch outputs it wrote (`views.build_lineage`)."""

    version: str
    training: TrainingView | None
    fingerprint: str | None
    code_digest: str | None
    git_sha: str | None
    run_id: str | None
    source: str | None
    trigger: str | None
    pipeline_run: int | None
    metrics: dict[str, Num]
    registered: str | None
    deployments: list[DeploymentView]
    batch_runs: list[BatchRunView]  # its succeeded batch outputs among the model's newest runs


class RolloutCheckView(View):
    name: str | None
    status: str | None
    value: Num | None
    limit: Num | None


class RolloutView(View):
    id: int
    strategy: str
    status: str
    stable_version: str | None
    candidate_version: str
    steps: list[Num]
    step: int
    share: Num
    started: str | None
    step_started: str | None
    finished: str | None
    actor: str | None
    reason: str | None
    analysed: str | None
    verdict: str | None
    analysis_reasons: list[str]
    checks: list[RolloutCheckView]


class QualityBreachView(View):
    check: str | None
    feature: str | None
    value: Num | None
    expected: str | None
    detail: str | None


class LastMonitorView(View):
    ts: str | None
    version: str | None
    window_start: str | None
    window_end: str | None
    n_rows: int
    n_labelled: int
    drift_detected: bool
    drift_judged: bool  # false: no feature had enough rows (the verdict is "not judged")
    drift_share: Num
    drifted_features: list[str]
    multivariate: dict[str, Any] | None  # the summary's key as stored
    performance_metric: str | None
    performance_value: Num | None
    performance_degraded: bool
    estimated_performance: dict[str, Any] | None  # the summary's key as stored
    quality_passed: bool | None
    quality_breaches: list[QualityBreachView]
    report_path: str | None
    newly_drifted: list[str]
    recovered: list[str]


class PendingApprovalView(View):
    version: str
    since: str | None
    comment: str | None
    expires: str | None


class LastTriggerView(View):
    trigger: str
    key: str
    ts: str | None


class ScheduleView(View):
    monitor: str | None
    monitor_next: str | None
    retrain: str | None
    retrain_on: list[str]
    last_trigger: LastTriggerView | None
    cooldown_until: str | None
    triggers: list[dict[str, Any]]  # orchestrate.outlook.trigger_outlook


class RunView(View):
    id: int
    pipeline: str
    status: str
    trigger: str | None
    started: str | None
    finished: str | None
    error: str | None
    heartbeat: str | None
    stages: list[str]  # "name:status"


class LeaseView(View):
    holder: str
    token: int
    acquired: str | None
    renewed: str | None
    expires: str | None
    live: bool


class AgentView(View):
    lease: LeaseView | None
    lease_ttl: Num
    heartbeat_timeout: Num


class PredictionLogView(View):
    """What sits beside the prediction log (`opsloop.data.predlog.log_health`)."""

    quarantine: str
    quarantined_batches: int
    quarantined_rows: int
    journal_segments: int


class ServerView(View):
    """What one live server replica serves on one route (its newest `serve_stats` row)."""

    replica: str
    route: str
    version: str
    last_seen: str | None
    # how the replica predicts with it (its `server_loaded` event): array, compiled or frame
    path: str | None = None


class LoadFailureView(View):
    """A replica that cannot load the current deployment (a `model_load_failed` event not
    followed by that replica serving it)."""

    replica: str | None
    revision: int | None
    versions: list[str]
    serving: str | None
    error: str | None
    ts: str | None


class BatchView(View):
    """Batch prediction: the newest run, the published output and the schedule."""

    last_run: BatchRunView | None
    current_run_id: str | None
    current_revision: int | None
    published: str | None
    schedule: str | None


class StatusView(View):
    """`opsloop status`: one model's whole state, from the ops store (and the names of the
    files beside the prediction log)."""

    model: str
    task: str
    stack: str
    champion: VersionView | None
    challenger: VersionView | None
    deployment: DeploymentView | None
    rollout: RolloutView | None
    last_monitor: LastMonitorView | None
    pending_approvals: list[PendingApprovalView]
    versions: list[str]
    schedule: ScheduleView
    retrain_requests: list[dict[str, Any]]  # orchestrate.manual.RetrainRequest.to_dict
    runs: list[RunView]
    running: list[RunView]
    agent: AgentView
    prediction_log: PredictionLogView | None = None
    # replicas that answered within SERVING_WINDOW, and the current deployment's load failures
    servers: list[ServerView] = []
    load_failures: list[LoadFailureView] = []
    batch: BatchView


# --- monitoring history -----------------------------------------------------------------


class FeatureWindowView(View):
    test: str | None
    statistic: Num | None
    p_value: Num | None
    threshold: Num | None
    drifted: bool | None  # material drift only
    status: str | None
    verdict: str  # drift | immaterial | no drift | not judged (derived for older windows)
    effect: str | None = None  # the distance measuring the effect size
    effect_size: Num | None = None
    floor: Num | None = None  # its materiality floor


class EstimatedBandView(View):
    value: Num | None
    lower: Num | None
    upper: Num | None
    degraded: bool | None


class MultivariateBandView(View):
    value: Num | None
    lower: Num | None
    upper: Num | None
    drifted: bool | None


class WindowPreviousView(View):
    id: int | None
    newly_drifted: list[str]
    recovered: list[str]
    drift_share_change: Num | None
    performance_change: Num | None


class WindowView(View):
    """One monitored window, compact: what a chart over time needs. Keys of summaries
    written by older opsloops are null."""

    id: int
    ts: str | None
    version: str | None
    window_start: str | None
    window_end: str | None
    n_rows: int
    n_labelled: int
    drift_detected: bool
    drift_judged: bool  # false: no feature had enough rows (the verdict is "not judged")
    drift_share: Num
    drifted_features: list[str]
    features: dict[str, FeatureWindowView]
    performance_metric: str | None
    performance_value: Num | None
    performance_degraded: bool
    estimated_performance: EstimatedBandView | None
    multivariate: MultivariateBandView | None
    quality_passed: bool | None
    previous: WindowPreviousView | None
    report_path: str | None


class MonitoringView(View):
    """The latest monitored windows of a model (of one version, or all), oldest first."""

    model: str
    version: str | None
    windows: list[WindowView]


class DayView(View):
    """One UTC day of monitored windows, aggregated in SQL (`store.history.MonitorDay`):
    window counts, mean and extreme values, the widest bands, and per feature the number
    of windows of each drift status."""

    day: str
    windows: int
    first_start: str | None
    last_end: str | None
    drifted: int
    drift_share_mean: Num
    drift_share_max: Num
    n_rows: int
    n_labelled: int
    performance_metric: str | None
    performance_mean: Num | None
    performance_min: Num | None
    degraded: int
    estimated_mean: Num | None
    estimated_lower: Num | None
    estimated_upper: Num | None
    estimated_degraded: int
    multivariate_mean: Num | None
    multivariate_lower: Num | None
    multivariate_upper: Num | None
    multivariate_drifted: int
    features: dict[str, dict[str, int]]


class MonitoringDaysView(View):
    """The latest `limit` monitored windows of a model (of one version, or all) per UTC
    day, oldest day first: what a chart of weeks or a year of hourly windows shows."""

    model: str
    version: str | None
    limit: int
    windows: int  # how many windows the days hold (≤ limit)
    days: list[DayView]


class TrafficShareView(View):
    """One version's part of the traffic at an instant: `share` percent of requests
    (a shadow sees a mirror of its share and answers none: `answers` false)."""

    version: str
    role: str  # stable | candidate | shadow
    share: Num
    answers: bool


class AsOfRolloutView(View):
    """The rollout running at the instant, at the step it was on then."""

    id: int
    strategy: str
    stable_version: str
    candidate_version: str
    steps: list[Num]
    step: int
    share: Num
    started: str | None
    step_started: str | None
    finished: str | None  # when it ended (after the instant), null if it still runs
    outcome: str  # its status now: running | promoted | rolled_back | aborted


class AsOfView(View):
    """Which version answered at an instant, and the traffic split then
    (`opsloop status --at`, `GET /api/status?at=`), from the deployment and rollout
    history."""

    model: str
    at: str
    version: str | None  # the stable version (null: nothing was deployed yet)
    deployment: DeploymentView | None
    rollout: AsOfRolloutView | None
    traffic: list[TrafficShareView]
