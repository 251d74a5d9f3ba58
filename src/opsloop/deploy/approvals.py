"""Approvals: who allowed or refused a version, then the state machine's transition.

An approval is a row in the ops store (the source of truth, with its event) mirrored as the
version tag `opsloop.approval`. Approving deploys the version (`machine.deploy`), rejecting
the champion rolls back (`machine.rollback`) and rejecting a rollout's candidate aborts the
rollout (`machine.abort`). Pending approvals expire after `gate.approval_expiry`.
"""

from __future__ import annotations

import json
from datetime import datetime
from types import EllipsisType

from opsloop.config import format_duration
from opsloop.core.aliases import CHALLENGER
from opsloop.deploy.machine import abort, deploy, drop_challenger, rollback, rollback_target
from opsloop.errors import StateError
from opsloop.faults import crash_point
from opsloop.runtime import Runtime
from opsloop.store.records import Approval

EXPIRY_ACTOR = "opsloop (expiry)"
APPROVAL_TAG = "opsloop.approval"
_MAX_COMMENT = 4000  # MLflow keeps tag values up to 8000 characters


def record_approval(
    rt: Runtime,
    version: str,
    status: str,
    *,
    actor: str,
    comment: str = "",
    evidence: dict[str, object] | None = None,
    decided_on: Approval | EllipsisType | None = ...,
    point: str = "approve.after_record",
) -> Approval:
    """Record an approval status in the ops store (the source of truth, with an event) and
    mirror it as the version tag `opsloop.approval`, so MLflow users see it too: JSON
    `{"decision", "actor", "ts", "comment"}` (`approval_tag`). `decided_on` is the
    compare-and-set: the approval this decision was taken on (None: none yet); if another
    decision was recorded since, a StateError names it and nothing is written. `point` is
    the crash point after the record (`opsloop.faults`)."""
    expected: int | EllipsisType | None = (
        decided_on if decided_on is ... or decided_on is None else decided_on.id
    )
    approval = rt.store.set_approval(
        rt.model,
        version,
        status,
        actor=actor,
        comment=comment,
        evidence=evidence,
        expected_id=expected,
    )
    rt.registry.set_tag(rt.model, version, APPROVAL_TAG, approval_tag(approval))
    crash_point(point)
    if status == "rejected":  # rejected or expired: no longer under evaluation
        drop_challenger(rt.registry, rt.model, version)
    return approval


def approval_tag(approval: Approval) -> str:
    """The `opsloop.approval` tag's value: the decision with who, when and why, as JSON
    (MLflow tag values are strings; a long comment is cut to keep it under MLflow's limit)."""
    return json.dumps(
        {
            "decision": approval.status,
            "actor": approval.actor,
            "ts": approval.ts.isoformat(),
            "comment": approval.comment[:_MAX_COMMENT],
        },
        sort_keys=True,
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
        decided_on=previous,
    )
    if promote_now:
        current = rt.store.find_deployment(rt.model)
        if current is None or current.version != version:
            deploy(
                rt,
                version,
                reason=f"approved by {actor}" + (f": {comment}" if comment else ""),
                actor=actor,
                supersede=True,
                force=True,  # this approval is the decision (forced above if it had to be)
            )
    return approval


def reject(rt: Runtime, version: str, *, actor: str, comment: str = "") -> Approval:
    """Reject a version; rejecting the current champion rolls back to the previous one.
    A decision's history is append-only: rejecting a version already rejected is a
    StateError naming who rejected it, when and why (nothing is overwritten)."""
    version = str(version)
    rt.registry.get_version(rt.model, version)
    previous = rt.store.find_approval(rt.model, version)
    if previous is not None and previous.status == "rejected":
        if _finish_rejection(rt, version, previous, actor=actor):
            return previous
        raise StateError(
            f"version {version} of {rt.model!r} was already rejected by {previous.actor} at "
            f"{previous.ts:%Y-%m-%d %H:%M:%S} UTC ({previous.comment or 'no comment'})",
            fix="nothing to do; `opsloop events --kind rejected` shows the decision",
        )
    running = rt.store.find_running_rollout(rt.model)
    if running is not None and running.candidate_version == version:
        approval = record_approval(
            rt,
            version,
            "rejected",
            actor=actor,
            comment=comment,
            decided_on=previous,
            point="reject.after_record",
        )
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
        rollback_target(rt.store, rt.model)  # fail before recording anything if nowhere to go
    approval = record_approval(
        rt,
        version,
        "rejected",
        actor=actor,
        comment=comment,
        decided_on=previous,
        point="reject.after_record",
    )
    if is_champion:
        rollback(
            rt,
            actor=actor,
            reason=f"version {version} rejected by {actor}" + (f": {comment}" if comment else ""),
        )
    return approval


def _finish_rejection(rt: Runtime, version: str, rejected: Approval, *, actor: str) -> bool:
    """Complete a rejection a killed process recorded but did not act on (crash point
    `reject.after_record`): the rejected version still a rollout's candidate, the champion,
    or the challenger. True when something was left to do (now done)."""
    why = f"completing the rejection of version {version} by {rejected.actor}" + (
        f": {rejected.comment}" if rejected.comment else ""
    )
    running = rt.store.find_running_rollout(rt.model)
    current = rt.store.find_deployment(rt.model)
    challenger = rt.registry.find_alias(rt.model, CHALLENGER)
    if running is not None and running.candidate_version == version:
        abort(rt, actor=actor, rolled_back=True, reason=why)
    elif current is not None and current.version == version:
        rollback(rt, actor=actor, reason=why)
    elif challenger is None or challenger.version != version:
        return False
    drop_challenger(rt.registry, rt.model, version)
    return True


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
                    decided_on=pending,
                    point="expiry.after_record",
                )
            )
    return expired
