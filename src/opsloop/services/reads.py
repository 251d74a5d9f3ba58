"""The read side of one model's operations: status, events, monitoring history, gate reports
and retraining requests, from the ops store alone (no MLflow, no engine), so
`opsloop status` stays fast and the server's open endpoints need no runtime."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opsloop.errors import NotFoundError

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

    from opsloop.batch import CurrentBatch
    from opsloop.config import ProjectConfig
    from opsloop.gate.evaluate import GateReport
    from opsloop.orchestrate.manual import RetrainRequest
    from opsloop.services.dora_models import DoraView
    from opsloop.services.view_models import (
        AsOfView,
        DeploymentView,
        LineageView,
        MonitoringDaysView,
        MonitoringView,
        StatusView,
        VersionView,
    )
    from opsloop.store.ports import StoreReads
    from opsloop.store.records import Event, MonitorResult


class ReadService:
    """What `opsloop status`, `GET /api/...` and the dashboard show of one model."""

    def __init__(
        self, store: StoreReads, config: ProjectConfig, prediction_log: Path | None = None
    ) -> None:
        self.store = store
        self.config = config
        self.prediction_log = prediction_log  # its root folder: status counts quarantine

    @property
    def model(self) -> str:
        return self.config.model

    def status(self) -> StatusView:
        from opsloop.services.views import build_status  # the typed views: not for events

        return build_status(self.store, self.config, self.prediction_log)

    def status_at(self, at: datetime, *, now: datetime | None = None) -> AsOfView:
        """Which version answered at `at` and the traffic split of the rollout running then
        (`services.asof.build_as_of`); InvalidInputError for an instant after `now`."""
        from opsloop.services.asof import build_as_of

        return build_as_of(self.store, self.model, _utc(at), now=_utc(now or _now()))

    def dora(
        self,
        *,
        since: datetime,
        until: datetime | None = None,
        model: str | None = None,
    ) -> DoraView:
        """DORA metrics over [since, until (default now)] for `model`, or for every model
        deployed in this ops store and this project's model (`services.dora.build_dora`)."""
        from opsloop.services.dora import build_dora

        if model is not None:
            models = [model]
        else:
            models = sorted({*self.store.list_deployed_models(), self.model})
        return build_dora(self.store, models, since=_utc(since), until=_utc(until or _now()))

    def events(self, *, limit: int = 200, kinds: list[str] | None = None) -> list[Event]:
        """The newest events, credentials masked (also in rows written before opsloop
        redacted them on write)."""
        from dataclasses import replace

        from opsloop.redact import redact, redact_json

        return [
            replace(e, summary=redact(e.summary), evidence=redact_json(e.evidence))
            for e in self.store.list_events(self.model, kinds=kinds, limit=limit)
        ]

    def search_events(
        self,
        *,
        every_model: bool = False,
        kinds: list[str] | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[Event]:
        """A page of the audit log, oldest first, credentials masked: this model's events
        (or every model's in the store), filtered by kinds, actor and time (both
        inclusive); `before_id` pages back."""
        from dataclasses import replace

        from opsloop.redact import redact, redact_json

        found = self.store.list_events(
            None if every_model else self.model,
            kinds=kinds,
            actor=actor or None,
            since=since,
            until=until,
            before_id=before_id,
            limit=max(1, min(limit, 1000)),
        )
        return [
            replace(e, summary=redact(e.summary), evidence=redact_json(e.evidence)) for e in found
        ]

    def versions(self) -> list[VersionView]:
        """Every registered version, oldest first, with its gate, approval and training."""
        from opsloop.services.views import build_versions

        return build_versions(self.store, self.model)

    def version(self, version: str) -> VersionView:
        from opsloop.services.views import build_versions

        found = [v for v in build_versions(self.store, self.model) if v.version == str(version)]
        if not found:
            raise NotFoundError(
                f"{self.model!r} has no registered version {version!r}",
                fix="pick a version listed by `opsloop status`",
            )
        return found[0]

    def lineage(self, version: str) -> LineageView:
        """Training window and fingerprint → MLflow run → version → deployments."""
        from opsloop.services.views import build_lineage

        return build_lineage(self.store, self.model, str(version))

    def deployments(self) -> list[DeploymentView]:
        """The deployment history, oldest first (one row per revision)."""
        from opsloop.services.views import deployment_view

        return [deployment_view(d) for d in self.store.list_deployments(self.model)]

    def monitor_result(self, result_id: int) -> MonitorResult:
        """One monitored window whole (its summary holds every feature's histogram counts)."""
        found = self.store.find_monitor(self.model, result_id)
        if found is None:
            raise NotFoundError(
                f"{self.model!r} has no monitoring result {result_id}",
                fix="pick a window listed by `opsloop monitor history`",
            )
        return found

    def monitoring(
        self, *, limit: int = 48, version: str | None = None, before: datetime | None = None
    ) -> MonitoringView:
        """The latest monitored windows (ending before `before`), oldest first
        (`views.build_monitoring`)."""
        from opsloop.services.views import build_monitoring

        return build_monitoring(
            self.store,
            self.model,
            limit=limit,
            version=version,
            end_before=None if before is None else _utc(before),
        )

    def monitoring_days(
        self, *, limit: int, version: str | None = None, before: datetime | None = None
    ) -> MonitoringDaysView:
        """The latest `limit` windows (ending before `before`) aggregated per UTC day in
        SQL, oldest day first (`views.build_monitoring_days`): long histories."""
        from opsloop.services.views import build_monitoring_days

        return build_monitoring_days(
            self.store,
            self.model,
            limit=limit,
            version=version,
            end_before=None if before is None else _utc(before),
        )

    def batch_current(self) -> CurrentBatch:
        """The published batch output (`opsloop.batch.read_current`)."""
        from opsloop.batch import read_current

        return read_current(self)

    def gate_report(self, version: str) -> GateReport:
        """The latest gate report of `version`, from the ops store (no MLflow needed)."""
        from opsloop.gate.evaluate import GateReport

        decision = self.store.find_gate(self.model, str(version))
        if decision is None:
            raise NotFoundError(
                f"version {version} of {self.model!r} has no gate decision",
                fix="run `opsloop train`, or `opsloop gate NAME VERSION --rerun`",
            )
        return GateReport.from_dict(decision.evidence["report"])

    def retrain_requests(self, *, limit: int = 50) -> list[RetrainRequest]:
        """The newest retraining requests, oldest first, with what became of them."""
        from opsloop.orchestrate import manual

        return manual.list_requests(self.store, self.model, limit=limit)

    def retrain_request(self, request_id: int) -> RetrainRequest:
        from opsloop.orchestrate import manual

        return manual.get_request(self.store, self.model, request_id)


def _now() -> datetime:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _utc(value: datetime) -> datetime:
    from opsloop.store._util import utc

    return utc(value)
