"""Admin actions on one model, with the actor named per call.

`Project` (one actor, the one it was built with), the server's management API (the actor is
the caller: ``api:<name>``) and, next, the dashboard call the same methods, so every write
goes through one place and the audit log records who did it. Each method is one step of
`opsloop.deploy` (approval, deployment, rollout, rollback) or `opsloop.orchestrate.manual`
(retraining requests); none holds state of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from opsloop import deploy as _deploy
from opsloop.orchestrate import manual

if TYPE_CHECKING:
    from opsloop.batch import Republished
    from opsloop.data.window import WindowRequest
    from opsloop.deploy import Step
    from opsloop.orchestrate.loop import TrainOutcome
    from opsloop.orchestrate.manual import RetrainRequest
    from opsloop.runtime import Runtime
    from opsloop.stages import Progress
    from opsloop.store.records import Approval, Deployment, Rollout


@dataclass(frozen=True)
class ModelRollback:
    """A model rollback: the deployment after it and what happened to the batch output
    (None: `predict.republish_on_rollback` is false)."""

    deployment: Deployment
    batch: Republished | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment.to_dict(),
            "batch": None if self.batch is None else self.batch.to_dict(),
        }


@dataclass(frozen=True)
class Decision:
    """An approval or rejection and the deployment after it (None: nothing deployed)."""

    approval: Approval
    deployment: Deployment | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "approval": self.approval.to_dict(),
            "deployment": None if self.deployment is None else self.deployment.to_dict(),
        }


class AdminService:
    """The write side of one model's operations (and the reads that need its runtime)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @property
    def model(self) -> str:
        return self.runtime.model

    # ---- approvals -------------------------------------------------------------------
    def approve(
        self, version: str, *, actor: str, comment: str = "", force: bool = False
    ) -> Approval:
        return _deploy.approve(self.runtime, version, actor=actor, comment=comment, force=force)

    def reject(self, version: str, *, actor: str, comment: str = "") -> Approval:
        return _deploy.reject(self.runtime, version, actor=actor, comment=comment)

    def decide(
        self, version: str, *, approved: bool, actor: str, comment: str = "", force: bool = False
    ) -> Decision:
        """Approve (or reject) `version` and report the deployment that follows."""
        if approved:
            approval = self.approve(version, actor=actor, comment=comment, force=force)
        else:
            approval = self.reject(version, actor=actor, comment=comment)
        return Decision(approval, self.runtime.store.find_deployment(self.model))

    # ---- deployments and rollouts ----------------------------------------------------
    def promote(self, version: str, *, actor: str, reason: str = "manual promotion") -> Deployment:
        return _deploy.promote(self.runtime, version, reason=reason, actor=actor)

    def deploy(
        self,
        version: str,
        *,
        actor: str,
        strategy: str | None = None,
        steps: tuple[float, ...] | None = None,
        bake_seconds: float | None = None,
        reason: str = "manual deployment",
        force: bool = False,
    ) -> Deployment | Rollout:
        """Blue-green switches now (a Deployment); canary and shadow start a Rollout. A
        version that failed its gate or was rejected needs `force`."""
        return _deploy.deploy(
            self.runtime,
            version,
            strategy=strategy,
            steps=steps,
            bake_seconds=bake_seconds,
            reason=reason,
            actor=actor,
            force=force,
        )

    def rollout_status(self, now: datetime | None = None) -> dict[str, Any] | None:
        """The newest rollout, with a fresh analysis while it runs."""
        return _deploy.status(self.runtime, now)

    def advance_rollout(self, now: datetime | None = None) -> Step | None:
        """One controller step: analyse the running rollout and act on the verdict."""
        return _deploy.advance(self.runtime, now)

    def promote_rollout(self, *, actor: str, reason: str = "") -> Rollout:
        return _deploy.promote_now(self.runtime, actor=actor, reason=reason)

    def abort_rollout(self, *, actor: str, reason: str = "") -> Rollout:
        return _deploy.abort(self.runtime, actor=actor, reason=reason)

    def rollback(self, *, actor: str, reason: str = "") -> Deployment:
        return self.rollback_model(actor=actor, reason=reason).deployment

    def rollback_model(self, *, actor: str, reason: str = "") -> ModelRollback:
        """Roll the model back (`deploy.rollback`), then, unless
        `predict.republish_on_rollback` is false, make the batch output of the version it
        returned to current again (`batch.republish_version`). The deployment is committed
        first: a batch pointer that cannot move (say, another publisher won the revision)
        leaves the rollback standing and says why in `batch.note`."""
        from opsloop.batch import Republished, republish_version
        from opsloop.errors import OpsloopError

        deployment = _deploy.rollback(self.runtime, actor=actor, reason=reason)
        cfg = self.runtime.config.predict
        if cfg is not None and not cfg.republish_on_rollback:
            return ModelRollback(deployment, None)
        try:
            batch = republish_version(self.runtime, deployment.version, actor=actor)
        except OpsloopError as exc:
            batch = Republished(deployment.version, None, f"not re-published: {exc}", failed=True)
        return ModelRollback(deployment, batch)

    # ---- retraining requests ---------------------------------------------------------
    def request_retrain(
        self, *, actor: str, reason: str = "", window: WindowRequest | None = None
    ) -> RetrainRequest:
        return manual.request_retrain(
            self.runtime.store, self.model, actor=actor, reason=reason, window=window
        )

    def retrain_now(
        self,
        *,
        actor: str,
        reason: str = "",
        progress: Progress | None = None,
        window: WindowRequest | None = None,
    ) -> tuple[RetrainRequest, TrainOutcome]:
        return manual.retrain_now(
            self.runtime, actor=actor, reason=reason, progress=progress, window=window
        )
