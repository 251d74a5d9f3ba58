"""The read side of one model's operations: status, events, monitoring history, gate reports
and retraining requests, from the ops store alone (no MLflow, no engine), so
`opsloop status` stays fast and the server's open endpoints need no runtime."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opsloop.errors import NotFoundError

if TYPE_CHECKING:
    from opsloop.batch import CurrentBatch
    from opsloop.config import ProjectConfig
    from opsloop.gate.evaluate import GateReport
    from opsloop.orchestrate.manual import RetrainRequest
    from opsloop.services.view_models import MonitoringView, StatusView
    from opsloop.store.ports import StoreReads
    from opsloop.store.records import Event


class ReadService:
    """What `opsloop status`, `GET /api/...` and the dashboard show of one model."""

    def __init__(self, store: StoreReads, config: ProjectConfig) -> None:
        self.store = store
        self.config = config

    @property
    def model(self) -> str:
        return self.config.model

    def status(self) -> StatusView:
        from opsloop.services.views import build_status  # the typed views: not for events

        return build_status(self.store, self.config)

    def events(self, *, limit: int = 200, kinds: list[str] | None = None) -> list[Event]:
        return self.store.list_events(self.model, kinds=kinds, limit=limit)

    def monitoring(self, *, limit: int = 48, version: str | None = None) -> MonitoringView:
        """The latest monitored windows, oldest first (`views.build_monitoring`)."""
        from opsloop.services.views import build_monitoring

        return build_monitoring(self.store, self.model, limit=limit, version=version)

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
