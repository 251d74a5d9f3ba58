"""The management API served next to the predictions: status, audit log, gate reports,
retraining requests and monitoring history (read-only, open); approve, reject, deploy,
rollback and retraining requests (bearer token).

The token comes from the environment variable named by `serve.admin_token_env` (default
``OPSLOOP_ADMIN_TOKEN``), read by the CLI when the server starts; without it the write
endpoints answer 403. Callers may name themselves with ``X-Opsloop-Actor``; the audit log
records ``api:<name>``. Every write is a call of `opsloop.services.AdminService` with that
actor; reads go to `ReadService`. Errors are the server's one error body (serve/errors.py),
never a 500.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header
from pydantic import BaseModel, ConfigDict, Field

from opsloop.data.window import parse_instant
from opsloop.errors import InvalidInputError
from opsloop.serve.errors import RequestError
from opsloop.serve.openapi import error_responses
from opsloop.services import AdminService, ReadService
from opsloop.store.records import Deployment


class ApprovalBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field(default="", max_length=2000)
    force: bool = False


class RejectionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field(default="", max_length=2000)


class DeployBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1, max_length=32)
    strategy: Literal["blue_green", "canary", "shadow"] | None = None
    steps: list[Annotated[float, Field(gt=0, le=100)]] | None = Field(
        default=None,
        min_length=1,
        max_length=20,
        description="canary percentages, increasing, ending at 100",
    )
    bake: str | None = Field(
        default=None,
        max_length=20,
        pattern=r"^\d+(\.\d+)?[smhdw]$",
        description="a duration such as '90s', '5m', '1h'",
    )
    reason: str = Field(default="deployed over the admin API", max_length=2000)
    force: bool = Field(
        default=False,
        description="deploy a version that failed its gate or was rejected (audited)",
    )


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=2000)


class RetrainBody(ReasonBody):
    """A retraining request: why, and optionally its data window (as `opsloop retrain`)."""

    from_: str | None = Field(
        default=None,
        alias="from",
        max_length=64,
        description="Train on data from this time (ISO 8601, or a duration ago like 90d).",
    )
    to: str | None = Field(default=None, max_length=64, description="Up to this time.")
    as_of: str | None = Field(
        default=None, max_length=64, description="The training window ending at this time."
    )


# Documented error answers (OpenAPI); a 422 is FastAPI's validation error or an ApiError.
_READ_ERRORS = error_responses(400, 404)
# reads with a time parameter: a time it cannot read is a 422
_TIMED_READ_ERRORS = error_responses(400, 404, 422)
_WRITE_ERRORS = error_responses(400, 401, 403, 404, 409, 503)


class Unauthorized(RequestError):
    """A 401 in the management-error shape: `expected`, `got` and `fix` filled in."""

    def __init__(self, message: str, *, expected: str, got: str, fix: str) -> None:
        super().__init__(401, message, fix=fix)
        self.expected, self.got = expected, got


def create_admin_router(
    admin: AdminService, reads: ReadService, admin_token: str | None
) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["management"])
    model = reads.model

    def check_model(name: str) -> None:
        if name != model:
            raise RequestError(404, f"unknown model {name!r}; this server manages {model!r}")

    def caller(
        authorization: Annotated[str | None, Header()] = None,
        x_opsloop_actor: Annotated[str | None, Header()] = None,
    ) -> str:
        if not admin_token:
            raise RequestError(
                403,
                "the admin API is disabled: start the server with "
                "OPSLOOP_ADMIN_TOKEN (or serve.admin_token_env) set",
            )
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.encode(), admin_token.encode()
        ):
            raise Unauthorized(
                "missing or wrong bearer token",
                expected="an 'Authorization: Bearer <token>' header with the server's token",
                got="no Authorization header"  # never echo what was sent: it may be a secret
                if authorization is None
                else "a bearer token that does not match"
                if scheme.lower() == "bearer"
                else "an Authorization header that is not 'Bearer <token>'",
                fix="send 'Authorization: Bearer <OPSLOOP_ADMIN_TOKEN>' (the token the server "
                "was started with, serve.admin_token_env)",
            )
        return f"api:{(x_opsloop_actor or 'admin').strip()[:100] or 'admin'}"

    # Dependencies as default values: with postponed annotations FastAPI resolves
    # annotations in module globals, where a local `Annotated` alias would not be found.
    admin_actor = Depends(caller)

    @router.get("/status", responses=_TIMED_READ_ERRORS)
    def status(at: str | None = None) -> dict[str, Any]:
        """The model's operational picture; with `at` (ISO 8601, or a duration ago such as
        `3d`) which version answered then and the traffic split of the rollout running
        then."""
        if at is not None:
            return reads.status_at(parse_instant(at, "at")).to_json()
        return reads.status().to_json()

    @router.get("/dora", responses=_TIMED_READ_ERRORS)
    def dora(
        since: str = "90d", until: str | None = None, model: str | None = None
    ) -> dict[str, Any]:
        """DORA metrics per model and overall over [since, until] (ISO 8601 or a duration
        ago; default the last 90 days): deployment frequency, lead time for changes,
        change-failure rate, time to restore, with their definitions (docs/dora.md)."""
        return reads.dora(
            since=parse_instant(since, "since"),
            until=None if until is None else parse_instant(until, "until"),
            model=model,
        ).to_json()

    @router.get("/events")
    def events(limit: int = 50, kind: str | None = None) -> list[dict[str, Any]]:
        limit = max(1, min(limit, 1000))
        found = reads.events(limit=limit, kinds=[kind] if kind else None)
        return [e.to_dict() for e in found]

    @router.get("/models/{name}/versions/{version}/gate", responses=_READ_ERRORS)
    def gate_report(name: str, version: str) -> dict[str, Any]:
        check_model(name)
        return reads.gate_report(version).to_dict()

    @router.get("/models/{name}/monitoring", responses=_READ_ERRORS)
    def monitoring(name: str, limit: int = 48, version: str | None = None) -> dict[str, Any]:
        """The latest monitored windows (of one version, or all), oldest first: per-feature
        drift statistics, drift share, realised and estimated performance, the multivariate
        score, the data-quality verdict and the change since the previous window."""
        check_model(name)
        return reads.monitoring(limit=max(1, min(limit, 1000)), version=version).to_json()

    @router.get("/models/{name}/batch/current", responses=_READ_ERRORS)
    def batch_current(name: str) -> dict[str, Any]:
        """The published batch output (`opsloop predict --publish`): run, version, rows,
        the folder and its Parquet files, revision, when and by whom, and `table` (the
        PostgreSQL view and run table, when it wrote one); 404 when none."""
        check_model(name)
        return reads.batch_current().to_dict()

    @router.post("/models/{name}/versions/{version}/approve", responses=_WRITE_ERRORS)
    def approve_version(
        name: str, version: str, body: ApprovalBody | None = None, actor: str = admin_actor
    ) -> dict[str, Any]:
        check_model(name)
        body = body or ApprovalBody()
        return admin.decide(
            version, approved=True, actor=actor, comment=body.comment, force=body.force
        ).to_dict()

    @router.post("/models/{name}/versions/{version}/reject", responses=_WRITE_ERRORS)
    def reject_version(
        name: str, version: str, body: RejectionBody | None = None, actor: str = admin_actor
    ) -> dict[str, Any]:
        check_model(name)
        body = body or RejectionBody()
        return admin.decide(version, approved=False, actor=actor, comment=body.comment).to_dict()

    @router.post("/models/{name}/deploy", responses=_WRITE_ERRORS)
    def deploy_version(name: str, body: DeployBody, actor: str = admin_actor) -> dict[str, Any]:
        """Blue-green switch now, or start a canary/shadow rollout."""
        from opsloop.config import parse_duration

        check_model(name)
        try:
            bake = None if body.bake is None else parse_duration(body.bake).total_seconds()
        except ValueError as exc:
            raise InvalidInputError(f"bake: {exc}") from None
        result = admin.deploy(
            body.version,
            strategy=body.strategy,
            steps=None if body.steps is None else tuple(body.steps),
            bake_seconds=bake,
            reason=body.reason,
            actor=actor,
            force=body.force,
        )
        kind = "deployment" if isinstance(result, Deployment) else "rollout"
        return {kind: result.to_dict()}

    @router.get("/models/{name}/rollout", responses=_READ_ERRORS)
    def rollout_state(name: str) -> dict[str, Any]:
        """The newest rollout with a fresh analysis while it runs (null if none)."""
        check_model(name)
        return {"rollout": admin.rollout_status()}

    @router.post("/models/{name}/rollout/promote", responses=_WRITE_ERRORS)
    def rollout_promote(
        name: str, body: ReasonBody | None = None, actor: str = admin_actor
    ) -> dict[str, Any]:
        check_model(name)
        done = admin.promote_rollout(actor=actor, reason=(body or ReasonBody()).reason)
        return {"rollout": done.to_dict()}

    @router.post("/models/{name}/rollout/abort", responses=_WRITE_ERRORS)
    def rollout_abort(
        name: str, body: ReasonBody | None = None, actor: str = admin_actor
    ) -> dict[str, Any]:
        check_model(name)
        done = admin.abort_rollout(actor=actor, reason=(body or ReasonBody()).reason)
        return {"rollout": done.to_dict()}

    @router.post("/models/{name}/rollback", responses=_WRITE_ERRORS)
    def rollback_model(
        name: str, body: ReasonBody | None = None, actor: str = admin_actor
    ) -> dict[str, Any]:
        """Back to the previous champion; during a rollout, back to its stable version."""
        check_model(name)
        deployment = admin.rollback(actor=actor, reason=(body or ReasonBody()).reason)
        return {"deployment": deployment.to_dict()}

    @router.post("/models/{name}/retrain", status_code=202, responses=_WRITE_ERRORS)
    def retrain_request(
        name: str, body: RetrainBody | None = None, actor: str = admin_actor
    ) -> dict[str, Any]:
        """Ask the agent to retrain at its next tick (once, not held back by the
        cooldown), on the data window given by `from`/`to` or `as_of` (default: the
        training window); 202 with the request."""
        from opsloop.data.window import WindowRequest

        check_model(name)
        body = body or RetrainBody()
        window = WindowRequest.parse(start=body.from_, end=body.to, as_of=body.as_of)
        request = admin.request_retrain(actor=actor, reason=body.reason, window=window)
        return {"request": request.to_dict()}

    @router.get("/models/{name}/retrain", responses=_READ_ERRORS)
    def retrain_requests(name: str, limit: int = 50) -> dict[str, Any]:
        """The newest retraining requests, oldest first: pending or fired, and the run."""
        check_model(name)
        found = reads.retrain_requests(limit=max(1, min(limit, 1000)))
        return {"requests": [r.to_dict() for r in found]}

    @router.get("/models/{name}/retrain/{request_id}", responses=_READ_ERRORS)
    def retrain_request_state(name: str, request_id: int) -> dict[str, Any]:
        check_model(name)
        return {"request": reads.retrain_request(request_id).to_dict()}

    return router
