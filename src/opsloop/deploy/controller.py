"""Promote, approve, reject and roll back.

The ops store's deployment history is the source of truth that servers converge on; the
MLflow `champion` alias mirrors it so MLflow users see the same thing. The alias moves
first and the deployment row is the commit point: if writing it fails, the alias is put
back, so the two never disagree for long and servers never see a half-done promotion.
"""

from __future__ import annotations

from datetime import datetime

from opsloop.config import format_duration
from opsloop.core.aliases import CHALLENGER, CHAMPION
from opsloop.errors import StateError
from opsloop.runtime import Runtime
from opsloop.store.records import Approval, Deployment


def promote(
    rt: Runtime,
    version: str,
    *,
    reason: str,
    actor: str | None = None,
    event_kind: str = "promoted",
    evidence: dict[str, object] | None = None,
    strategy: str = "blue_green",
) -> Deployment:
    """Make `version` the champion and the current deployment at once. A running rollout
    ends: promoting its candidate completes it, promoting another version aborts it."""
    version = str(version)
    rt.registry.get_version(rt.model, version)  # raises NotFoundError with a fix
    running = rt.store.find_running_rollout(rt.model)
    if running is not None:
        from opsloop.deploy.rollout import end_for_promotion

        done = end_for_promotion(rt, running, version, actor=actor or rt.actor, reason=reason)
        if done is not None:
            return done
    current = rt.store.find_deployment(rt.model)
    if current is not None and current.version == version:
        raise StateError(
            f"version {version} of {rt.model!r} is already deployed (revision {current.revision})",
            fix="nothing to do; `opsloop status` shows the deployment",
        )
    previous_alias = rt.registry.find_alias(rt.model, CHAMPION)
    rt.registry.set_alias(rt.model, CHAMPION, version)
    try:
        deployment = rt.store.record_deployment(
            rt.model,
            version,
            strategy=strategy,
            reason=reason,
            actor=actor or rt.actor,
            event_kind=event_kind,
            evidence=evidence,
        )
    except Exception:
        if previous_alias is None:
            rt.registry.delete_alias(rt.model, CHAMPION)
        else:
            rt.registry.set_alias(rt.model, CHAMPION, previous_alias.version)
        raise
    challenger = rt.registry.find_alias(rt.model, CHALLENGER)
    if challenger is not None and challenger.version == version:
        rt.registry.delete_alias(rt.model, CHALLENGER)
    return deployment


def record_approval(
    rt: Runtime,
    version: str,
    status: str,
    *,
    actor: str,
    comment: str = "",
    evidence: dict[str, object] | None = None,
) -> Approval:
    """Record an approval status in the ops store (the source of truth, with an event) and
    mirror it as the version tag `opsloop.approval`, so MLflow users see it too."""
    approval = rt.store.set_approval(
        rt.model, version, status, actor=actor, comment=comment, evidence=evidence
    )
    rt.registry.set_tag(rt.model, version, "opsloop.approval", status)
    return approval


def _rolled_back_versions(rt: Runtime) -> set[str]:
    events = rt.store.list_events(rt.model, kinds=["rolled_back"], limit=10_000)
    return {str(e.evidence.get("from_version")) for e in events}


def _rejected(rt: Runtime, version: str) -> bool:
    approval = rt.store.find_approval(rt.model, version)
    return approval is not None and approval.status == "rejected"


def rollback_target(rt: Runtime) -> tuple[Deployment, str]:
    """(current deployment, version a rollback would return to); StateError if none.

    The target is the most recently deployed version that is not the current one, has
    not itself been rolled back from (so two rollbacks in a row walk back through history
    instead of flip-flopping) and has not been rejected.
    """
    current = rt.store.find_deployment(rt.model)
    if current is None:
        raise StateError(
            f"{rt.model!r} has never been deployed, so there is nothing to roll back",
            fix="promote a version first (`opsloop train` or `opsloop promote`)",
        )
    excluded = _rolled_back_versions(rt) | {current.version}
    history = rt.store.list_deployments(rt.model)
    target = next(
        (
            d.version
            for d in reversed(history)
            if d.version not in excluded and not _rejected(rt, d.version)
        ),
        None,
    )
    if target is None:
        raise StateError(
            f"{rt.model!r} has no earlier version to roll back to (current: "
            f"{current.version}, history: {[d.version for d in history]})",
            fix="promote another version explicitly with `opsloop promote NAME VERSION`",
        )
    return current, target


def rollback(rt: Runtime, *, actor: str | None = None, reason: str = "") -> Deployment:
    """Return to the previous approved champion in one step (see `rollback_target`); during
    a rollout, send all traffic back to its stable version instead."""
    running = rt.store.find_running_rollout(rt.model)
    if running is not None:
        from opsloop.deploy.rollout import abort

        abort(rt, actor=actor or rt.actor, reason=reason, rolled_back=True)
        deployment = rt.store.find_deployment(rt.model)
        assert deployment is not None  # a rollout always starts from a deployment
        return deployment
    current, target = rollback_target(rt)
    return promote(
        rt,
        target,
        reason=reason or f"rollback from version {current.version}",
        actor=actor,
        event_kind="rolled_back",
        evidence={"from_version": current.version, "to_version": target},
    )


def approve(
    rt: Runtime,
    version: str,
    *,
    actor: str,
    comment: str = "",
    force: bool = False,
    promote_now: bool = True,
) -> Approval:
    """Approve a version whose gate passed (or any version with `force`), then promote it."""
    version = str(version)
    rt.registry.get_version(rt.model, version)
    gate = rt.store.find_gate(rt.model, version)
    if gate is None and not force:
        raise StateError(
            f"version {version} of {rt.model!r} has no gate decision",
            fix="run the pipeline (`opsloop train`) or pass --force to approve without one",
        )
    if gate is not None and not gate.passed and not force:
        raise StateError(
            f"version {version} of {rt.model!r} failed its gate: {'; '.join(gate.reasons)}",
            fix="pass --force to approve it anyway (recorded in the audit log)",
        )
    expire_pending(rt)
    previous = rt.store.find_approval(rt.model, version)
    was_rejected = previous is not None and previous.status == "rejected"
    if previous is not None and was_rejected and not force:
        raise StateError(
            f"version {version} of {rt.model!r} was rejected by {previous.actor} at "
            f"{previous.ts:%Y-%m-%d %H:%M} UTC ({previous.comment or 'no comment'})",
            fix="retrain, or pass --force to approve it anyway (recorded in the audit log)",
        )
    approval = record_approval(
        rt,
        version,
        "approved",
        actor=actor,
        comment=comment,
        evidence={"forced": force and (gate is None or not gate.passed or was_rejected)},
    )
    if promote_now:
        current = rt.store.find_deployment(rt.model)
        if current is None or current.version != version:
            from opsloop.deploy.rollout import deploy

            deploy(
                rt,
                version,
                reason=f"approved by {actor}" + (f": {comment}" if comment else ""),
                actor=actor,
                supersede=True,
            )
    return approval


def reject(rt: Runtime, version: str, *, actor: str, comment: str = "") -> Approval:
    """Reject a version; rejecting the current champion rolls back to the previous one."""
    version = str(version)
    rt.registry.get_version(rt.model, version)
    running = rt.store.find_running_rollout(rt.model)
    if running is not None and running.candidate_version == version:
        from opsloop.deploy.rollout import abort

        approval = record_approval(rt, version, "rejected", actor=actor, comment=comment)
        abort(
            rt,
            actor=actor,
            rolled_back=True,
            reason=f"version {version} rejected by "
            f"{actor} during its {running.strategy} rollout" + (f": {comment}" if comment else ""),
        )
        return approval
    current = rt.store.find_deployment(rt.model)
    is_champion = current is not None and current.version == version
    if is_champion:
        rollback_target(rt)  # fail before recording anything if there is nowhere to go
    approval = record_approval(rt, version, "rejected", actor=actor, comment=comment)
    if is_champion:
        rollback(
            rt,
            actor=actor,
            reason=f"version {version} rejected by {actor}" + (f": {comment}" if comment else ""),
        )
    challenger = rt.registry.find_alias(rt.model, CHALLENGER)
    if challenger is not None and challenger.version == version:
        rt.registry.delete_alias(rt.model, CHALLENGER)
    return approval


EXPIRY_ACTOR = "opsloop (expiry)"


def expire_pending(rt: Runtime, now: datetime | None = None) -> list[Approval]:
    """Reject pending approvals older than `gate.approval_expiry` (run by the agent and
    before every approval); returns the expired ones."""
    expiry = rt.config.gate.approval_expiry
    if expiry is None:
        return []
    now = now or rt.now()
    expired = []
    for pending in rt.store.list_pending(rt.model):
        if pending.ts + expiry <= now:
            expired.append(
                record_approval(
                    rt,
                    pending.version,
                    "rejected",
                    actor=EXPIRY_ACTOR,
                    comment=f"pending approval expired: waited since "
                    f"{pending.ts:%Y-%m-%d %H:%M} UTC, longer than gate.approval_expiry "
                    f"({format_duration(expiry)})",
                    evidence={"expired": True, "pending_since": pending.ts.isoformat()},
                )
            )
    return expired
