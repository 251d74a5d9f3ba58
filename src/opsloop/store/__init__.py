"""The ops store: the single source of truth for operations (see docs/architecture.md).

`OpsStore` (SQLAlchemy) is imported on first use (PEP 562): the records and the
SQLAlchemy-free reader (`reader.py`, for `opsloop status`/`events`) import no SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    if name == "OpsStore":
        from opsloop.store.sql import OpsStore

        return OpsStore
    raise AttributeError(f"module 'opsloop.store' has no attribute {name!r}")
