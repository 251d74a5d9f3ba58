"""Deployments as of an instant: which version answered and with what traffic split, from
the deployment history (the revision current then) and the rollout running then (its share
at that moment from its `rollout_started` / `rollout_advanced` events). `opsloop status
--at`, `GET /api/status?at=` and the dashboard's deployment page call `build_as_of`."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from opsloop.errors import InvalidInputError
from opsloop.services.view_models import (
    AsOfRolloutView,
    AsOfView,
    DeploymentView,
    TrafficShareView,
)

if TYPE_CHECKING:
    from opsloop.store.ports import StoreReads
    from opsloop.store.records import Rollout

STEP_KINDS = ("rollout_started", "rollout_advanced")


def build_as_of(store: StoreReads, model: str, at: datetime, *, now: datetime) -> AsOfView:
    if at > now:
        raise InvalidInputError(
            "--at is in the future",
            expected=f"an instant at or before now ({now.isoformat()})",
            got=at.isoformat(),
            fix="`opsloop status` shows the deployment now",
        )
    deployment = store.find_deployment(model, at=at)
    rollout = store.find_rollout(model, at=at)
    if rollout is not None and rollout.finished is not None and rollout.finished <= at:
        rollout = None  # it had ended by then
    then = None if rollout is None else _step_then(store, rollout, at)
    stable = None if deployment is None else deployment.version
    return AsOfView(
        model=model,
        at=at.isoformat(),
        version=stable,
        deployment=None
        if deployment is None
        else DeploymentView(
            version=deployment.version,
            revision=deployment.revision,
            previous_version=deployment.previous_version,
            strategy=deployment.strategy,
            reason=deployment.reason,
            actor=deployment.actor,
            ts=deployment.ts.isoformat(),
        ),
        rollout=None if rollout is None or then is None else _rollout_view(rollout, *then),
        traffic=_traffic(stable, rollout, None if then is None else then[1]),
    )


def _step_then(store: StoreReads, rollout: Rollout, at: datetime) -> tuple[int, float, datetime]:
    """(step, share, since when) of `rollout` at `at`: from the last step event written by
    then (the first step if `at` falls between the row's and its event's write)."""
    events = store.list_events(
        rollout.model, kinds=STEP_KINDS, since=rollout.started, until=at, limit=1000
    )
    step, share = 0, rollout.steps[0] if rollout.steps else rollout.share
    since = rollout.started
    for e in events:
        if e.evidence.get("rollout") != rollout.id:
            continue
        found = e.evidence.get("share")
        if isinstance(found, int | float):
            share = float(found)
        step = int(e.evidence.get("step", 0)) if e.kind == "rollout_advanced" else 0
        since = e.ts
    return step, share, since


def _rollout_view(
    rollout: Rollout, step: int, share: float, step_started: datetime
) -> AsOfRolloutView:
    return AsOfRolloutView(
        id=rollout.id,
        strategy=rollout.strategy,
        stable_version=rollout.stable_version,
        candidate_version=rollout.candidate_version,
        steps=rollout.steps,
        step=step,
        share=share,
        started=rollout.started.isoformat(),
        step_started=step_started.isoformat(),
        finished=None if rollout.finished is None else rollout.finished.isoformat(),
        outcome=rollout.status,
    )


def _traffic(
    stable: str | None, rollout: Rollout | None, share: float | None
) -> list[TrafficShareView]:
    if stable is None:
        return []
    if rollout is None or share is None:
        return [TrafficShareView(version=stable, role="stable", share=100.0, answers=True)]
    candidate = rollout.candidate_version
    if rollout.strategy == "shadow":
        return [
            TrafficShareView(version=stable, role="stable", share=100.0, answers=True),
            TrafficShareView(version=candidate, role="shadow", share=share, answers=False),
        ]
    return [
        TrafficShareView(version=stable, role="stable", share=100.0 - share, answers=True),
        TrafficShareView(version=candidate, role="candidate", share=share, answers=True),
    ]
