"""The read side of one model's operations: status, events, monitoring history, gate reports
and retraining requests, from the ops store alone (no MLflow, no engine), so
`opsloop status` stays fast and the server's open endpoints need no runtime."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opsloop.errors import NotFoundError

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

    from opsloop.config import ProjectConfig
    from opsloop.gate.evaluate import GateReport
    from opsloop.orchestrate.manual import RetrainRequest
    from opsloop.services.dora_models import DoraView
    from opsloop.services.view_models import AsOfView, MonitoringView, StatusView
    from opsloop.store.ports import StoreReads
    from opsloop.store.records import Event


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

    def monitoring(self, *, limit: int = 48, version: str | None = None) -> MonitoringView:
        """The latest monitored windows, oldest first (`views.build_monitoring`)."""
        from opsloop.services.views import build_monitoring

        return build_monitoring(self.store, self.model, limit=limit, version=version)

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
