"""The ops store's ports: one Protocol per aggregate, each implemented by one repository
mixin (same name + ``Queries``) and all by `OpsStore`. A function that needs only part of
the store takes that part's Protocol, so its signature says what it reads and writes.

    DeploymentRepository    deployments.py    deployment history; the current revision
    ApprovalRepository      approvals.py      gate decisions and approvals
    MonitoringRepository    monitoring.py     monitor results (+ the events they imply)
    RolloutRepository       rollouts.py       rollouts and serving statistics
    RunRepository           runs.py           pipeline runs and their heartbeats
    OrchestrationRepository orchestration.py  leases, cursors, new-data arrivals, firings
    BatchRepository         batches.py        batch runs and the published output
    EventLog                events.py         the audit log

Every state change is written with its event in one transaction (`unit.UnitOfWork`).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from types import EllipsisType
from typing import Any, Protocol

from opsloop.store.history import MonitorDay
from opsloop.store.records import (
    Approval,
    BatchPublication,
    BatchRun,
    DataArrival,
    Deployment,
    Event,
    Evidence,
    GateDecision,
    Lease,
    MonitorResult,
    NewBatchRun,
    NewEvent,
    NewMonitorResult,
    PipelineRun,
    ReplicaServing,
    Rollout,
    ServeStat,
    TriggerFiring,
)


class DeploymentRepository(Protocol):
    def record_deployment(
        self,
        model: str,
        version: str,
        *,
        env: str = "production",
        strategy: str = "blue_green",
        reason: str,
        actor: str = "opsloop",
        event_kind: str = "promoted",
        evidence: Evidence | None = None,
        expected_revision: int | EllipsisType | None = ...,
    ) -> Deployment: ...
    def find_deployment(
        self, model: str, env: str = "production", *, at: datetime | None = None
    ) -> Deployment | None: ...
    def list_deployments(self, model: str, env: str = "production") -> list[Deployment]: ...
    def list_deployed_models(self) -> list[str]: ...


class ApprovalRepository(Protocol):
    def record_gate(
        self,
        *,
        model: str,
        version: str,
        champion_version: str | None,
        metric: str,
        policy: str,
        margin: float,
        floor: float | None,
        challenger_value: float,
        champion_value: float | None,
        passed: bool,
        reasons: list[str],
        evidence: Evidence | None = None,
        actor: str = "opsloop",
    ) -> GateDecision: ...
    def find_gate(self, model: str, version: str) -> GateDecision | None: ...
    def set_approval(
        self,
        model: str,
        version: str,
        status: str,
        *,
        actor: str = "opsloop",
        comment: str = "",
        evidence: Evidence | None = None,
        expected_id: int | EllipsisType | None = ...,
    ) -> Approval: ...
    def find_approval(self, model: str, version: str) -> Approval | None: ...
    def list_pending(self, model: str) -> list[Approval]: ...


class MonitoringRepository(Protocol):
    def record_monitor(
        self,
        result: NewMonitorResult,
        events: Sequence[NewEvent] = (),
        *,
        replaces: Sequence[int] = (),
    ) -> MonitorResult: ...
    def list_monitor(self, model: str, *, limit: int = 100) -> list[MonitorResult]: ...
    def find_last_monitor(self, model: str) -> MonitorResult | None: ...
    def find_monitor(self, model: str, result_id: int) -> MonitorResult | None: ...
    def list_monitor_windows(
        self,
        model: str,
        *,
        version: str | None = None,
        limit: int = 100,
        end_before: datetime | None = None,
        start: datetime | None = None,
        digests: bool = False,
    ) -> list[MonitorResult]: ...
    def list_monitor_days(
        self,
        model: str,
        *,
        version: str | None = None,
        limit: int = 100,
        end_before: datetime | None = None,
    ) -> list[MonitorDay]: ...
    def find_previous_monitor(
        self, model: str, version: str | None, window_end: datetime
    ) -> MonitorResult | None: ...
    def list_monitor_span(
        self, model: str, version: str | None, start: datetime, end: datetime
    ) -> list[MonitorResult]: ...
    # one transaction for every write inside (a backfill's windows; `store/unit.py`)
    def batch(self) -> AbstractContextManager[None]: ...
    def list_monitor_window(
        self, model: str, version: str | None, start: datetime, end: datetime
    ) -> list[MonitorResult]: ...


class RolloutRepository(Protocol):
    def start_rollout(
        self,
        model: str,
        *,
        env: str = "production",
        strategy: str,
        stable_version: str,
        candidate_version: str,
        steps: Sequence[float],
        share: float,
        settings: Evidence,
        actor: str,
        reason: str,
        expected_revision: int | EllipsisType | None = ...,
        evidence: Evidence | None = None,
    ) -> Rollout: ...
    def find_rollout(
        self, model: str, env: str = "production", *, at: datetime | None = None
    ) -> Rollout | None: ...
    def find_running_rollout(self, model: str, env: str = "production") -> Rollout | None: ...
    def find_routing(
        self, model: str, env: str = "production"
    ) -> tuple[Deployment | None, Rollout | None]: ...
    def advance_rollout(
        self, rollout: Rollout, *, share: float, actor: str, summary: str, analysis: Evidence
    ) -> Rollout | None: ...
    def finish_rollout(
        self,
        rollout: Rollout,
        *,
        status: str,
        actor: str,
        summary: str,
        evidence: Evidence,
        event_kind: str,
        promote: bool = False,
    ) -> Rollout | None: ...
    def save_analysis(self, rollout: Rollout, analysis: Evidence) -> None: ...
    def get_rollout(self, rollout_id: int) -> Rollout: ...
    def add_serve_stats(
        self, model: str, env: str, replica: str, rows: Sequence[ServeStat]
    ) -> None: ...
    def list_serving(
        self, model: str, env: str = "production", *, since: datetime
    ) -> list[ReplicaServing]: ...
    def sum_serve_stats(
        self, model: str, since: datetime, env: str = "production"
    ) -> dict[tuple[str, str], ServeStat]: ...


class RunRepository(Protocol):
    def start_run(self, model: str, pipeline: str, *, trigger: str | None = None) -> int: ...
    def update_run(
        self,
        run_id: int,
        *,
        stages: list[dict[str, Any]],
        status: str = "running",
        error: str | None = None,
        result: Evidence | None = None,
    ) -> None: ...
    def list_runs(self, model: str, *, limit: int = 20) -> list[PipelineRun]: ...
    def beat_run(self, run_id: int) -> bool: ...
    def list_running_runs(self, model: str, pipeline: str | None = None) -> list[PipelineRun]: ...
    def fail_stale_runs(
        self, model: str, cutoff: datetime, *, actor: str = "opsloop"
    ) -> list[PipelineRun]: ...


class OrchestrationRepository(Protocol):
    def now(self) -> datetime:
        """The time the store stamps its records with (its `clock`, else the wall clock):
        what leases, heartbeats, arrivals and firings are compared with."""
        ...

    def find_lease(self, name: str) -> Lease | None: ...
    def acquire_lease(
        self, name: str, holder: str, ttl: timedelta, *, model: str | None = None
    ) -> Lease | None: ...
    def renew_lease(self, lease: Lease, ttl: timedelta) -> Lease | None: ...
    def release_lease(self, lease: Lease) -> bool: ...
    def find_cursor(self, name: str) -> int | None: ...
    def init_cursor(self, name: str, value: int) -> int: ...
    def advance_cursor(self, name: str, expected: int, value: int) -> bool: ...
    def add_arrival(
        self,
        model: str,
        *,
        source: str,
        seq: int,
        ts: datetime,
        rows: int,
        payload: Evidence,
        event: tuple[str, str, Evidence] | None = None,
        actor: str = "opsloop",
    ) -> bool: ...
    def list_arrivals(
        self, model: str, *, since: datetime | None = None, source: str | None = None
    ) -> list[DataArrival]: ...
    def try_fire(
        self, model: str, trigger: str, key: str, evidence: Evidence | None = None
    ) -> TriggerFiring | None: ...
    def list_firings(self, model: str) -> list[TriggerFiring]: ...


class BatchRepository(Protocol):
    def record_batch_run(self, run: NewBatchRun, events: Sequence[NewEvent] = ()) -> BatchRun: ...
    def list_batch_runs(
        self, model: str, *, limit: int = 20, status: str | None = None
    ) -> list[BatchRun]: ...
    def find_batch_run(self, model: str, run_id: str) -> BatchRun | None: ...
    def get_batch_run(self, model: str, run_id: str) -> BatchRun: ...
    def publish_batch(
        self,
        model: str,
        run_id: str,
        *,
        kind: str = "published",
        actor: str = "opsloop",
        reason: str = "",
        evidence: Evidence | None = None,
    ) -> BatchPublication: ...
    def find_published_batch(self, model: str) -> BatchPublication | None: ...
    def list_batch_publications(self, model: str) -> list[BatchPublication]: ...


class EventLog(Protocol):
    def add_event(
        self,
        kind: str,
        model: str,
        *,
        version: str | None = None,
        summary: str = "",
        evidence: Evidence | None = None,
        actor: str = "opsloop",
    ) -> Event: ...
    def list_events(
        self,
        model: str | None = None,
        *,
        kinds: Sequence[str] | None = None,
        after_id: int = 0,
        limit: int = 1000,
        since: datetime | None = None,
        until: datetime | None = None,
        actor: str | None = None,
        before_id: int | None = None,
    ) -> list[Event]: ...
    def list_events_after(
        self, model: str, after_id: int, *, kinds: list[str] | None = None, limit: int = 100
    ) -> list[Event]: ...
    def find_first_event(
        self,
        model: str,
        kind: str,
        *,
        since: datetime,
        before: datetime,
        version: str | None = None,
    ) -> Event | None: ...
    def last_event_id(self) -> int: ...


class StoreReads(Protocol):
    """What the read side (`opsloop status`, `events`, the open API endpoints) reads:
    implemented by `OpsStore` and by the SQLAlchemy-free `reader.StoreReader`."""

    def find_deployment(
        self, model: str, env: str = "production", *, at: datetime | None = None
    ) -> Deployment | None: ...
    def list_deployed_models(self) -> list[str]: ...
    def find_gate(self, model: str, version: str) -> GateDecision | None: ...
    def find_approval(self, model: str, version: str) -> Approval | None: ...
    def list_pending(self, model: str) -> list[Approval]: ...
    def find_last_monitor(self, model: str) -> MonitorResult | None: ...
    def list_monitor_windows(
        self,
        model: str,
        *,
        version: str | None = None,
        limit: int = 100,
        end_before: datetime | None = None,
        start: datetime | None = None,
        digests: bool = False,
    ) -> list[MonitorResult]: ...
    def list_monitor_days(
        self,
        model: str,
        *,
        version: str | None = None,
        limit: int = 100,
        end_before: datetime | None = None,
    ) -> list[MonitorDay]: ...
    def find_monitor(self, model: str, result_id: int) -> MonitorResult | None: ...
    def list_deployments(self, model: str, env: str = "production") -> list[Deployment]: ...
    def find_rollout(
        self, model: str, env: str = "production", *, at: datetime | None = None
    ) -> Rollout | None: ...
    def list_runs(self, model: str, *, limit: int = 20) -> list[PipelineRun]: ...
    def list_running_runs(self, model: str, pipeline: str | None = None) -> list[PipelineRun]: ...
    def find_lease(self, name: str) -> Lease | None: ...
    def list_arrivals(
        self, model: str, *, since: datetime | None = None, source: str | None = None
    ) -> list[DataArrival]: ...
    def list_firings(self, model: str) -> list[TriggerFiring]: ...
    def list_batch_runs(
        self, model: str, *, limit: int = 20, status: str | None = None
    ) -> list[BatchRun]: ...
    def find_published_batch(self, model: str) -> BatchPublication | None: ...
    def find_batch_run(self, model: str, run_id: str) -> BatchRun | None: ...
    def list_events(
        self,
        model: str | None = None,
        *,
        kinds: Sequence[str] | None = None,
        after_id: int = 0,
        limit: int = 1000,
        since: datetime | None = None,
        until: datetime | None = None,
        actor: str | None = None,
        before_id: int | None = None,
    ) -> list[Event]: ...
    def find_first_event(
        self,
        model: str,
        kind: str,
        *,
        since: datetime,
        before: datetime,
        version: str | None = None,
    ) -> Event | None: ...
    def list_serving(
        self, model: str, env: str = "production", *, since: datetime
    ) -> list[ReplicaServing]: ...


def has_record(store: StoreReads, model: str) -> bool:
    """Does the ops store know `model` at all (a deployment, any event, or a pipeline run —
    a first training killed after MLflow registered its version but before the store's
    `registered` event leaves only its run, which the agent must be able to recover)?"""
    return (
        store.find_deployment(model) is not None
        or bool(store.list_events(model, limit=1))
        or bool(store.list_runs(model, limit=1))
    )
