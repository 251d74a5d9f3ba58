"""Deployment as one state machine per model: every transition of a deployment and of its
rollout lives here, so no two modules call each other to change state.

States: *undeployed* → *deployed* (a `stable` version, the newest `deployments` row) ⇄
*rolling out* (a running `rollouts` row: stable, candidate, steps, current share).

    transition                       from → to                     here
    switch (blue-green, the first)   any → deployed (new revision) promote, deploy
    roll back                        deployed → an earlier version rollback
    start a canary/shadow rollout    deployed → rolling out        deploy
    next step, or wait               rolling out → rolling out     steps.advance (analysis)
    end: promote the candidate       rolling out → deployed        promote_now, promote
    end: roll back or abort          rolling out → deployed stable abort, rollback, deploy
                                                                   (supersede)
`steps.advance` (the controller step) ends rollouts through `end_rollout` too. Approvals
(`approvals.py`) record who allowed or refused a version, then call these transitions.

- **blue_green**: all traffic switches at once (a new deployment revision); servers keep the
  previous version loaded for `deploy.rollback_window`, so a rollback needs no load.
- **canary**: the candidate answers `steps[i]` percent of requests (sticky by request key);
  each step bakes for `deploy.bake` and must pass the analysis (`deploy/analysis.py`) before
  the next; after the last step (100 %) the candidate is promoted.
- **shadow**: the candidate sees a mirror of `deploy.shadow_share` percent of requests; its
  answers are logged, never returned. After one passing bake it is promoted.

The ops store's deployment history is the source of truth that servers converge on, and
its single commit point: a direct switch is a compare-and-set on the revision the caller
decided on (`store/deployments.py`), so of concurrent promotions, rollbacks, approvals and
deploys exactly one commits and every other gets a StateError naming the winner (HTTP 409,
CLI exit 1). The MLflow `champion` alias is derived from the committed row afterwards
(`reconcile.sync_champion`), and the reconciler repairs any drift a crash left behind. A
rollout's transitions are compare-and-set in the ops store too (`store/rollouts.py`), so
any number of controllers (every server replica, the agent) never apply one twice.
"""

from __future__ import annotations

from types import EllipsisType
from typing import Any

from opsloop.config import check_canary_steps
from opsloop.core.aliases import CHALLENGER
from opsloop.deploy.reconcile import sync_champion
from opsloop.deploy.smoke import check_loads
from opsloop.errors import InvalidInputError, StateError
from opsloop.faults import crash_point
from opsloop.registry.base import ModelRegistry
from opsloop.runtime import Runtime
from opsloop.store.deployments import revision_conflict
from opsloop.store.records import Deployment, Rollout
from opsloop.store.sql import OpsStore

STRATEGIES = ("blue_green", "canary", "shadow")


# ---- deployed → deployed: the direct switch ---------------------------------------------


def promote(
    rt: Runtime,
    version: str,
    *,
    reason: str,
    actor: str | None = None,
    event_kind: str = "promoted",
    evidence: dict[str, object] | None = None,
    strategy: str = "blue_green",
    expected_revision: int | EllipsisType | None = ...,
) -> Deployment:
    """Make `version` the champion and the current deployment at once. A running rollout
    ends: promoting its candidate completes it, promoting another version aborts it.

    The version must load (verified) and predict on its input example first
    (`deploy/smoke.py`): a StateError and a `promotion_refused` event if not. The
    deployment row commits if the current revision is still the one this call decided
    on (`expected_revision`, else the one it reads first); the alias follows the commit."""
    version = str(version)
    rt.registry.get_version(rt.model, version)  # raises NotFoundError with a fix
    running = rt.store.find_running_rollout(rt.model)
    if running is not None:
        done = _end_for_promotion(rt, running, version, actor=actor or rt.actor, reason=reason)
        if done is not None:
            return done
    current = rt.store.find_deployment(rt.model)
    found = None if current is None else current.revision
    if expected_revision is not ... and found != expected_revision:
        assert current is not None
        raise revision_conflict(current, version, expected_revision)
    if current is not None and current.version == version:
        raise StateError(
            f"version {version} of {rt.model!r} is already deployed (revision "
            f"{current.revision}, by {current.actor} at {current.ts:%Y-%m-%d %H:%M:%S} UTC)",
            fix="nothing to do; `opsloop status` shows the deployment",
        )
    check_loads(rt, version, actor=actor or rt.actor)  # before anything commits
    deployment = rt.store.record_deployment(
        rt.model,
        version,
        strategy=strategy,
        reason=reason,
        actor=actor or rt.actor,
        event_kind=event_kind,
        evidence=evidence,
        expected_revision=found,
    )
    crash_point("rollback.after_commit" if event_kind == "rolled_back" else "promote.after_commit")
    sync_champion(rt.registry, rt.store, rt.model)
    crash_point("promote.after_alias")
    drop_challenger(rt.registry, rt.model, version)
    return deployment


def drop_challenger(registry: ModelRegistry, model: str, version: str) -> None:
    """The `challenger` alias leaves `version` once it is the champion or rejected."""
    challenger = registry.find_alias(model, CHALLENGER)
    if challenger is not None and challenger.version == version:
        registry.delete_alias(model, CHALLENGER)


def _overridden(store: OpsStore, model: str, version: str) -> str | None:
    """Why deploying `version` overrides a decision (its gate failed, or it was rejected);
    None when nothing is overridden."""
    approval = store.find_approval(model, version)
    if approval is not None and approval.status == "rejected":
        return (
            f"was rejected by {approval.actor} at {approval.ts:%Y-%m-%d %H:%M} UTC "
            f"({approval.comment or 'no comment'})"
        )
    gate = store.find_gate(model, version)
    if gate is not None and not gate.passed:
        return f"failed its gate: {'; '.join(gate.reasons)}"
    return None


def _rolled_back_versions(store: OpsStore, model: str) -> set[str]:
    events = store.list_events(model, kinds=["rolled_back"], limit=10_000)
    return {str(e.evidence.get("from_version")) for e in events}


def _rejected(store: OpsStore, model: str, version: str) -> bool:
    approval = store.find_approval(model, version)
    return approval is not None and approval.status == "rejected"


def rollback_target(store: OpsStore, model: str) -> tuple[Deployment, str]:
    """(current deployment, version a rollback would return to); StateError if none.

    The target is the most recently deployed version that is not the current one, has
    not itself been rolled back from (so two rollbacks in a row walk back through history
    instead of flip-flopping) and has not been rejected.
    """
    current = store.find_deployment(model)
    if current is None:
        raise StateError(
            f"{model!r} has never been deployed, so there is nothing to roll back",
            fix="promote a version first (`opsloop train` or `opsloop promote`)",
        )
    excluded = _rolled_back_versions(store, model) | {current.version}
    history = store.list_deployments(model)
    target = next(
        (
            d.version
            for d in reversed(history)
            if d.version not in excluded and not _rejected(store, model, d.version)
        ),
        None,
    )
    if target is None:
        raise StateError(
            f"{model!r} has no earlier version to roll back to (current: "
            f"{current.version}, history: {[d.version for d in history]})",
            fix="promote another version explicitly with `opsloop promote NAME VERSION`",
        )
    return current, target


def rollback(rt: Runtime, *, actor: str | None = None, reason: str = "") -> Deployment:
    """Return to the previous approved champion in one step (see `rollback_target`); during
    a rollout, send all traffic back to its stable version instead."""
    running = rt.store.find_running_rollout(rt.model)
    if running is not None:
        abort(rt, actor=actor or rt.actor, reason=reason, rolled_back=True)
        deployment = rt.store.find_deployment(rt.model)
        assert deployment is not None  # a rollout always starts from a deployment
        return deployment
    current, target = rollback_target(rt.store, rt.model)
    return promote(
        rt,
        target,
        reason=reason or f"rollback from version {current.version}",
        actor=actor,
        event_kind="rolled_back",
        evidence={"from_version": current.version, "to_version": target},
        expected_revision=current.revision,
    )


# ---- deployed → rolling out ------------------------------------------------------------


def deploy(
    rt: Runtime,
    version: str,
    *,
    strategy: str | None = None,
    steps: tuple[float, ...] | None = None,
    bake_seconds: float | None = None,
    reason: str,
    actor: str | None = None,
    supersede: bool = False,
    force: bool = False,
) -> Deployment | Rollout:
    """Start taking `version` to production with `strategy` (default `deploy.strategy`).

    The first deployment of a model is always a direct switch (there is no stable version
    to compare with). With `supersede` (automatic paths: training, approval) a running
    rollout of another version is aborted first; otherwise that is a StateError. A version
    that failed its gate or was rejected needs `force`, recorded in the event (as
    `approve` does)."""
    cfg = rt.config.deploy
    if rt.config.task == "ranking":
        strategy = _ranking_strategy(rt, strategy)
    strategy = strategy or cfg.strategy
    if strategy not in STRATEGIES:
        raise InvalidInputError(
            "unknown deployment strategy", expected=" | ".join(STRATEGIES), got=repr(strategy)
        )
    if steps is not None:
        try:
            check_canary_steps(tuple(steps))
        except ValueError as exc:
            raise InvalidInputError(f"canary steps: {exc}") from None
    version = str(version)
    actor = actor or rt.actor
    rt.registry.get_version(rt.model, version)  # NotFoundError with a fix
    forced = _overridden(rt.store, rt.model, version)
    if forced and not force:
        raise StateError(
            f"version {version} of {rt.model!r} {forced}",
            fix='pass --force (HTTP: "force": true) to deploy it anyway (recorded in the '
            "audit log), or train a version that passes",
        )
    evidence: dict[str, object] = {"forced": forced} if forced else {}
    current = rt.store.find_deployment(rt.model)
    running = rt.store.find_running_rollout(rt.model)
    if running is not None:
        if running.candidate_version == version:
            raise StateError(
                f"version {version} of {rt.model!r} is already rolling out "
                f"(rollout {running.id}, {running.share:g}% of traffic)",
                fix=f"`opsloop rollout status {rt.model}` shows its analysis",
            )
        if not supersede:
            raise StateError(
                f"a {running.strategy} rollout of version {running.candidate_version} of "
                f"{rt.model!r} is running",
                fix=f"finish it first: `opsloop rollout promote "
                f"{rt.model}` or `opsloop rollout abort {rt.model}`",
            )
        end_rollout(
            rt.store,
            rt.registry,
            running,
            "aborted",
            actor=actor,
            event_kind="rollout_aborted",
            summary=f"rollout of version {running.candidate_version} superseded by "
            f"version {version}",
            evidence={"superseded_by": version},
        )
    if current is None or strategy == "blue_green":
        return promote(
            rt, version, reason=reason, actor=actor, strategy="blue_green", evidence=evidence
        )
    if current.version == version:
        raise StateError(
            f"version {version} of {rt.model!r} is already deployed (revision {current.revision})",
            fix="nothing to do",
        )
    steps = tuple(steps or cfg.steps) if strategy == "canary" else (cfg.shadow_share,)
    bake = cfg.bake.total_seconds() if bake_seconds is None else bake_seconds
    rollout = rt.store.start_rollout(
        rt.model,
        strategy=strategy,
        stable_version=current.version,
        candidate_version=version,
        steps=steps,
        share=steps[0],
        settings={"bake_seconds": bake},
        actor=actor,
        reason=reason,
        expected_revision=current.revision,
        evidence=evidence,
    )
    crash_point("rollout.after_start")
    rt.registry.set_alias(rt.model, CHALLENGER, version)
    return rollout


def _ranking_strategy(rt: Runtime, asked: str | None) -> str:
    """A ranking model is not served (its lists are, by the nightly batch output), so its
    deployment is becoming champion at once: a canary or shadow rollout has no traffic to
    split. `deploy.strategy` is not applied to it; asking for a rollout is an error."""
    if asked not in (None, "blue_green"):
        raise StateError(
            f"{rt.model!r} is a ranking model (task: ranking): it is not served, so it "
            f"cannot be rolled out by {asked}",
            fix=f"make a version champion with `opsloop promote {rt.model} VERSION`",
        )
    return "blue_green"


# ---- rolling out → deployed: a rollout ends ---------------------------------------------


def end_rollout(
    store: OpsStore,
    registry: ModelRegistry,
    rollout: Rollout,
    status: str,
    *,
    actor: str,
    event_kind: str,
    summary: str,
    evidence: dict[str, Any],
    promote_candidate: bool = False,
) -> Rollout | None:
    """End `rollout` (compare-and-set; None when another controller acted first)."""
    done = store.finish_rollout(
        rollout,
        status=status,
        actor=actor,
        summary=summary,
        evidence=evidence,
        event_kind=event_kind,
        promote=promote_candidate,
    )
    if done is not None and promote_candidate:
        crash_point("rollout.after_promote_commit")
        # The ops store committed the promotion; derive the MLflow aliases from it.
        sync_champion(registry, store, rollout.model, rollout.env)
        drop_challenger(registry, rollout.model, rollout.candidate_version)
    elif done is not None and status == "rolled_back":
        crash_point("rollout.after_rollback_commit")
    return done


def _end_for_promotion(
    rt: Runtime, rollout: Rollout, version: str, *, actor: str, reason: str
) -> Deployment | None:
    """A direct promotion during a rollout: promoting the candidate completes the rollout
    (its deployment is returned); promoting another version aborts it (None: the caller
    promotes)."""
    if rollout.candidate_version == version:
        done = end_rollout(
            rt.store,
            rt.registry,
            rollout,
            "promoted",
            actor=actor,
            event_kind="promoted",
            promote_candidate=True,
            summary=reason,
            evidence={"manual": True, "analysis": rollout.analysis},
        )
        if done is not None:
            deployment = rt.store.find_deployment(rt.model)
            assert deployment is not None
            return deployment
        return None
    end_rollout(
        rt.store,
        rt.registry,
        rollout,
        "aborted",
        actor=actor,
        event_kind="rollout_aborted",
        summary=f"rollout of version {rollout.candidate_version} ended by the promotion "
        f"of version {version}",
        evidence={"superseded_by": version},
    )
    return None


def _running(store: OpsStore, model: str) -> Rollout:
    rollout = store.find_running_rollout(model)
    if rollout is None:
        raise StateError(
            f"no rollout of {model!r} is running",
            fix=f"start one with `opsloop deploy {model} VERSION --strategy "
            "canary`; `opsloop status` shows the deployment",
        )
    return rollout


def promote_now(rt: Runtime, *, actor: str, reason: str = "") -> Rollout:
    """Skip the remaining steps and promote the candidate (a person's decision)."""
    rollout = _running(rt.store, rt.model)
    done = end_rollout(
        rt.store,
        rt.registry,
        rollout,
        "promoted",
        actor=actor,
        event_kind="promoted",
        promote_candidate=True,
        summary=reason
        or f"rollout of version {rollout.candidate_version} "
        f"promoted by {actor} at {rollout.share:g}%",
        evidence={"manual": True, "analysis": rollout.analysis},
    )
    if done is None:
        raise StateError(
            "the rollout changed while promoting it; check `opsloop rollout status` and retry"
        )
    return done


def abort(rt: Runtime, *, actor: str, reason: str = "", rolled_back: bool = False) -> Rollout:
    """Stop the running rollout; all traffic returns to stable at once."""
    rollout = _running(rt.store, rt.model)
    summary = reason or (
        f"rollout of version {rollout.candidate_version} "
        f"{'rolled back' if rolled_back else 'aborted'} by {actor} at "
        f"{rollout.share:g}%"
    )
    evidence: dict[str, Any] = {"manual": True, "analysis": rollout.analysis}
    if rolled_back:
        evidence.update(from_version=rollout.candidate_version, to_version=rollout.stable_version)
    done = end_rollout(
        rt.store,
        rt.registry,
        rollout,
        "rolled_back" if rolled_back else "aborted",
        actor=actor,
        event_kind="rolled_back" if rolled_back else "rollout_aborted",
        summary=summary,
        evidence=evidence,
    )
    if done is None:
        raise StateError(
            "the rollout changed while stopping it; check `opsloop rollout status` and retry"
        )
    return done
