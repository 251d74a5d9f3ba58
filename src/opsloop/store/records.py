"""Plain records read from and written to the ops store."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

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
    "trigger_fired",
    "labels_added",
    "server_started",
    "server_loaded",
)

APPROVAL_STATUSES = ("pending", "approved", "rejected")
RUN_STATUSES = ("running", "succeeded", "failed")


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
