"""The ops store: the single source of truth for operations (see docs/architecture.md)."""

from opsloop.store.records import (
    EVENT_KINDS,
    Approval,
    Deployment,
    Event,
    GateDecision,
    MonitorResult,
    PipelineRun,
    TriggerFiring,
)
from opsloop.store.sql import OpsStore

__all__ = [
    "EVENT_KINDS",
    "Approval",
    "Deployment",
    "Event",
    "GateDecision",
    "MonitorResult",
    "OpsStore",
    "PipelineRun",
    "TriggerFiring",
]
