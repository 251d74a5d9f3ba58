"""Plain records read from and written to the ops store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where parsed: reading events needs no pydantic models
    from opsloop.core.evidence import GateEvidence, RolloutAnalysis
    from opsloop.core.summaries import MonitorSummary

Evidence = dict[str, Any]

# Event kinds written by opsloop. Stable: `opsloop events --json` exposes them.
EVENT_KINDS = (
    "trained",
    "registered",
    "training_failed",
    "data_invalid",
    "gate_passed",
    "gate_failed",
    "approval_pending",
    "approved",
    "rejected",
    "promoted",
    "rolled_back",
    "monitored",
    "drift_detected",
    "performance_degraded",
    "performance_estimated_degraded",
    "quality_failed",
    "trigger_fired",
    "labels_added",
    "labels_rejected",
    "labels_duplicate",
    "retrain_requested",
    "server_started",
    "server_loaded",
    "rollout_started",
    "rollout_advanced",
    "rollout_aborted",
    "agent_lease",
    "pipeline_failed",
    "trigger_skipped",
    "retrain_skipped",
    "training_data_shrank",
    "holdout_too_small",
    "notification_failed",
    "new_data_invalid",
    "artifact_rejected",
    "promotion_refused",
    "store_rebuilt",
    "alias_repaired",
    "model_load_failed",
    "batch_predicted",
    "batch_failed",
    "batch_published",
    "batch_rolled_back",
)

APPROVAL_STATUSES = ("pending", "approved", "rejected")
RUN_STATUSES = ("running", "succeeded", "failed", "skipped")
ROLLOUT_STATUSES = ("running", "promoted", "rolled_back", "aborted")
BATCH_STATUSES = ("succeeded", "failed")


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Record:
    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)  # type: ignore[call-overload]
        for key, value in out.items():
            if isinstance(value, datetime):
                out[key] = value.isoformat()
        return dict(out)


@dataclass(frozen=True)
class Event(_Record):
    id: int
    ts: datetime
    kind: str
    model: str
    version: str | None
    actor: str
    summary: str
    evidence: Evidence = field(default_factory=dict)


@dataclass(frozen=True)
class NewEvent:
    """An event to write, described whole by the code that decides it: the store adds only
    its id and time (and, with a record it accompanies, that record's id)."""

    kind: str
    model: str
    version: str | None
    summary: str
    evidence: Evidence = field(default_factory=dict)
    actor: str = "opsloop"


@dataclass(frozen=True)
class Deployment(_Record):
    """One row of deployment history; the newest row per (model, env) is current."""

    id: int
    ts: datetime
    model: str
    env: str
    revision: int
    version: str
    previous_version: str | None
    strategy: str
    reason: str
    actor: str


@dataclass(frozen=True)
class GateDecision(_Record):
    id: int
    ts: datetime
    model: str
    version: str
    champion_version: str | None
    metric: str
    policy: str
    margin: float
    floor: float | None
    challenger_value: float
    champion_value: float | None
    difference: float | None
    passed: bool
    reasons: list[str]
    evidence: Evidence = field(default_factory=dict)

    @cached_property
    def evidence_model(self) -> GateEvidence:
        """`evidence` (the stored JSON: the gate report and its artifacts) typed."""
        from opsloop.core.evidence import GateEvidence

        return GateEvidence.parse(self.evidence)


@dataclass(frozen=True)
class Approval(_Record):
    id: int
    ts: datetime
    model: str
    version: str
    status: str
    actor: str
    comment: str


@dataclass(frozen=True)
class MonitorResult(_Record):
    id: int
    ts: datetime
    model: str
    version: str | None
    window_start: datetime
    window_end: datetime
    n_rows: int
    n_labelled: int
    drift_detected: bool
    drift_share: float
    performance_metric: str | None
    performance_value: float | None
    performance_degraded: bool
    report_path: str | None
    summary: Evidence = field(default_factory=dict)

    @cached_property
    def summary_model(self) -> MonitorSummary:
        """`summary` (the stored JSON, a full summary or its digest) as a typed model."""
        from opsloop.core.summaries import MonitorSummary

        return MonitorSummary.parse(self.summary)


@dataclass(frozen=True)
class NewMonitorResult:
    """A monitor result to store: the window's numbers, its summary and the summary's
    digest (both computed by the monitor; the store keeps them as given)."""

    model: str
    version: str | None
    window_start: datetime
    window_end: datetime
    n_rows: int
    n_labelled: int
    drift_detected: bool
    drift_share: float
    performance_metric: str | None
    performance_value: float | None
    performance_degraded: bool
    report_path: str | None
    summary: Evidence
    digest: Evidence
    ts: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class TriggerFiring(_Record):
    id: int
    ts: datetime
    model: str
    trigger: str
    key: str
    evidence: Evidence = field(default_factory=dict)


@dataclass(frozen=True)
class PipelineRun(_Record):
    id: int
    model: str
    pipeline: str
    status: str
    started: datetime
    finished: datetime | None
    trigger: str | None
    error: str | None
    stages: list[dict[str, Any]] = field(default_factory=list)
    result: Evidence = field(default_factory=dict)
    heartbeat: datetime | None = None


@dataclass(frozen=True)
class Rollout(_Record):
    """A candidate version on its way to stable: canary steps or a shadow phase.

    `share` is the percent of requests the candidate gets (canary: it answers them;
    shadow: it sees a mirror of them and its answers are only logged)."""

    id: int
    model: str
    env: str
    strategy: str
    stable_version: str
    candidate_version: str
    steps: list[float]
    step: int
    share: float
    status: str
    started: datetime
    step_started: datetime
    finished: datetime | None
    actor: str
    reason: str
    settings: Evidence = field(default_factory=dict)
    analysis: Evidence = field(default_factory=dict)

    @cached_property
    def analysis_model(self) -> RolloutAnalysis:
        """`analysis` (the stored JSON of the latest step analysis; {} before it) typed."""
        from opsloop.core.evidence import RolloutAnalysis

        return RolloutAnalysis.parse(self.analysis)

    analysed: datetime | None = None

    @property
    def running(self) -> bool:
        return self.status == "running"


@dataclass(frozen=True)
class ServeStat:
    """Requests, errors and a latency histogram of one (version, route) since a time,
    summed over every server replica."""

    version: str
    route: str
    requests: int
    errors: int
    latency: list[int]


@dataclass(frozen=True)
class ReplicaServing(_Record):
    """What one server replica served on one route (`stable`, `canary`, `shadow`) as its
    newest `serve_stats` row says (a replica writes one per reload interval with traffic)."""

    replica: str
    route: str
    version: str
    last_seen: datetime


def newest_per_replica(rows: Sequence[tuple[str, str, str, datetime]]) -> list[ReplicaServing]:
    """(replica, route, version, ts) rows, oldest first, folded to the newest per (replica,
    route), sorted by replica then route."""
    newest: dict[tuple[str, str], ReplicaServing] = {}
    for replica, route, version, ts in rows:
        newest[(replica, route)] = ReplicaServing(replica, route, version, ts)
    return [newest[k] for k in sorted(newest)]


@dataclass(frozen=True)
class Lease(_Record):
    """A named lease in the ops store: `holder` may act until `expires`; `token` grows by
    one on every change of holder (a fencing token)."""

    name: str
    holder: str
    token: int
    acquired: datetime
    renewed: datetime
    expires: datetime

    def live(self, now: datetime) -> bool:
        return now < self.expires


@dataclass(frozen=True)
class DataArrival(_Record):
    """One new-data message: `rows` new rows announced at broker time `ts`."""

    id: int
    model: str
    source: str
    seq: int
    ts: datetime
    recorded: datetime
    rows: int
    payload: Evidence = field(default_factory=dict)


@dataclass(frozen=True)
class BatchRun(_Record):
    """A finished batch prediction (`opsloop predict`): `rows` scored by `version` from
    `input` (its fingerprint: file names, sizes and times, or the query's text) into the
    run folder `output` (None when it failed: nothing was written) in `seconds`."""

    id: int
    run_id: str
    model: str
    version: str | None
    status: str
    started: datetime
    finished: datetime
    rows: int
    input: str
    input_fingerprint: str
    output: str | None
    seconds: float
    error: str | None
    details: Evidence = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class NewBatchRun:
    """A batch run to record (`BatchRun` without its id)."""

    run_id: str
    model: str
    version: str | None
    status: str
    started: datetime
    finished: datetime
    rows: int
    input: str
    input_fingerprint: str
    output: str | None
    seconds: float
    error: str | None = None
    details: Evidence = field(default_factory=dict)


@dataclass(frozen=True)
class BatchPublication(_Record):
    """One revision of a model's published batch output: `run_id` is what readers see
    from `ts` on (`kind` `published` or `rolled_back`); the newest revision is current."""

    id: int
    ts: datetime
    model: str
    revision: int
    run_id: str
    previous_run_id: str | None
    kind: str
    actor: str
    reason: str
