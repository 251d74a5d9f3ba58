"""The loop as one composition: train → gate → approve → deploy.

Each step is a package that knows nothing of the others: `train` registers a challenger
(`TrainedVersion`), `gate` decides on it against the champion (`GateDecision`), the
approval is recorded by `deploy.record_approval` and `deploy.deploy` takes an approved
version out (a `Deployment`, or a `Rollout` for canary/shadow). This module passes each
step's typed outcome to the next and is the one place that says what follows what:

- gate failed → no approval, nothing deployed;
- gate passed, `gate.approval: auto` → approved by `opsloop (auto)` and deployed by
  `deploy.strategy` (superseding a running rollout of an older version);
- gate passed, `gate.approval: manual` → a pending approval waits for a person;
- a ranking model (`task: ranking`) is not served: its deployment is becoming champion at
  once (`deploy.strategy` does not apply; the approve stage records why), and its lists
  reach users through the nightly batch output;
- nothing changed (the data, code and configuration equal the champion's, found right after
  loading) → nothing fitted or registered: a `retrain_skipped` event and the run ends
  `skipped`, unless the training is forced (`opsloop train --force`; the agent's retrains
  are never forced).

The whole loop is one recorded pipeline run (`pipeline_runs`, stages load, validate, split,
fit, evaluate, register, gate, approve) under the training lease `train:<model>` that its
heartbeat renews; a failure fails the run and writes a `training_failed` event naming the
stage. The CLI, `Project`, the agent, manual retraining and the Airflow tasks all call
`run_loop`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from opsloop.data.window import Window, WindowRequest
from opsloop.errors import OpsloopError, StateError
from opsloop.faults import crash_point
from opsloop.lease import HeldLease, training_lease_name
from opsloop.runtime import Runtime
from opsloop.stages import Progress, StageRecorder
from opsloop.store.records import Approval, Deployment, GateDecision, Rollout
from opsloop.store.sql import OpsStore
from opsloop.train import TrainedVersion, Unchanged, train_version
from opsloop.train.window import PlannedWindow, plan_window

AUTO_ACTOR = "opsloop (auto)"
NOT_SERVED = (
    "task: ranking is not served: becoming champion is its deployment (no serving rollout; "
    "deploy.strategy does not apply), its lists are served from the batch output"
)


@dataclass(frozen=True)
class TrainOutcome:
    """What one turn of the loop did (`opsloop train --json` prints `to_dict()`)."""

    run_id: int
    version: str
    metrics: dict[str, float]
    gate_passed: bool
    gate_reasons: list[str]
    approval: str  # approved | pending | none (gate failed)
    promoted: bool
    champion_version: str | None
    rows: dict[str, int] = field(default_factory=dict)
    rollout: int | None = None  # id of the canary/shadow rollout it started, if any
    # nothing changed since the champion: nothing registered, `version` is the champion's
    skipped: bool = False
    window: str | None = None  # the training window's key, start/end
    anchor: str | None = None  # how it was chosen: asked | now | data
    requested: dict[str, str] = field(default_factory=dict)  # --from/--to/--as-of/--window
    # warnings that did not stop the training (load() shrank, holdout too small)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def run_loop(
    rt: Runtime,
    *,
    window: Window | WindowRequest | None = None,
    trigger: str = "manual",
    reset_schema: bool = False,
    progress: Progress | None = None,
    force: bool = False,
) -> TrainOutcome:
    """Train a version and take it through the gate, the approval and the deployment;
    StateError if another training of the model is running. Unless `force`, a retrain
    whose data, code and configuration equal the champion's is skipped (`skipped=True`).
    `window`: exactly that window, or what was asked (`WindowRequest`), else the training
    window by `retrain.anchor` (`train/window.py`)."""
    planned = plan_window(rt.config, window, rt.now())
    slot = training_slot(rt.store, rt.model, rt.config.agent.heartbeat_timeout)
    try:
        rec = StageRecorder(
            rt.store,
            rt.model,
            "train",
            trigger=trigger,
            progress=progress,
            heartbeat_interval=rt.config.agent.heartbeat_interval.total_seconds(),
            on_beat=slot.renew,
        )
        return _run(rt, rec, planned, trigger, reset_schema, force)
    finally:
        slot.release()


def training_slot(store: OpsStore, model: str, timeout: timedelta) -> HeldLease:
    """The concurrency limit: one training pipeline of a model at a time, as a lease that
    the run's heartbeat renews (a crashed run's lease expires with its heartbeat)."""
    slot = HeldLease(store, training_lease_name(model), timeout)
    if not slot.acquire():
        running = store.list_running_runs(model, "train")
        raise StateError(
            f"a training pipeline of {model!r} is already running"
            + (f" (run {running[-1].id}, trigger {running[-1].trigger})" if running else ""),
            fix="wait for it to finish (`opsloop status` shows it); a crashed run is released "
            f"after agent.heartbeat_timeout ({timeout})",
        )
    return slot


def _run(
    rt: Runtime,
    rec: StageRecorder,
    window: PlannedWindow,
    trigger: str,
    reset_schema: bool,
    force: bool,
) -> TrainOutcome:
    try:
        trained = train_version(
            rt, rec, window=window, trigger=trigger, reset_schema=reset_schema, force=force
        )
        if isinstance(trained, Unchanged):
            return _skip(rt, rec, trained, trigger)
        with rec.stage("gate") as d:
            decision = gate_step(rt, trained)
            d.update(
                passed=decision.passed,
                reasons=decision.reasons,
                champion_version=decision.champion_version,
            )
        crash_point("gate.after_record")
        with rec.stage("approve") as d:
            approval = approval_step(rt, trained.version, decision)
            started = None
            if approval is not None and approval.status == "approved":
                started = deploy_step(rt, trained.version, decision)
            rollout = started.id if isinstance(started, Rollout) else None
            promoted = started is not None and rollout is None
            status = "none" if approval is None else approval.status
            d.update(approval=status, promoted=promoted, rollout=rollout)
            if rt.config.task == "ranking":
                d["serving"] = NOT_SERVED
        outcome = TrainOutcome(
            run_id=rec.run_id,
            version=trained.version,
            metrics=trained.metrics,
            gate_passed=decision.passed,
            gate_reasons=decision.reasons,
            approval=status,
            promoted=promoted,
            champion_version=decision.champion_version,
            rollout=rollout,
            rows=trained.rows,
            **_window_fields(trained),
            warnings=[*_load_warnings(trained), *_holdout_warnings(decision)],
        )
        rec.succeed(outcome.to_dict())
        return outcome
    except (OpsloopError, KeyboardInterrupt) as exc:
        rec.fail(exc)
        rt.store.add_event(
            "training_failed",
            rt.model,
            summary=str(exc) or type(exc).__name__,
            evidence={
                "trigger": trigger,
                "pipeline_run": rec.run_id,
                "stage": rec.stages[-1]["name"] if rec.stages else None,
            },
        )
        raise


def _window_fields(trained: TrainedVersion) -> dict[str, Any]:
    """The outcome's window, anchor and request, from the load stage's record."""
    if trained.loaded is None:
        return {"window": trained.window.key}
    record = trained.loaded.record
    return {"window": record.window.key, "anchor": record.anchor, "requested": record.requested}


def _load_warnings(trained: TrainedVersion) -> list[str]:
    return [] if trained.loaded is None else list(trained.loaded.warnings)


def _holdout_warnings(decision: GateDecision) -> list[str]:
    report = decision.evidence_model.report
    return [] if report is None else list(report.warnings)


def _skip(rt: Runtime, rec: StageRecorder, unchanged: Unchanged, trigger: str) -> TrainOutcome:
    """End the run as skipped: nothing changed since the champion."""
    outcome = TrainOutcome(
        run_id=rec.run_id,
        version=unchanged.champion,
        metrics={},
        gate_passed=False,
        gate_reasons=[unchanged.reason],
        approval="none",
        promoted=False,
        champion_version=unchanged.champion,
        rows={"total": unchanged.rows},
        skipped=True,
        window=unchanged.window,
    )
    rt.store.add_event(
        "retrain_skipped",
        rt.model,
        version=unchanged.champion,
        summary=unchanged.reason,
        evidence={
            **unchanged.evidence(),
            "window": unchanged.window,
            "trigger": trigger,
            "pipeline_run": rec.run_id,
        },
    )
    rec.skip(outcome.to_dict())
    return outcome


def gate_step(rt: Runtime, trained: TrainedVersion) -> GateDecision:
    """The gate step: the challenger against the champion found when training started, on
    the same holdout; recorded (decision, report artifacts, version tag)."""
    from opsloop.artifacts import load_verified
    from opsloop.gate.record import gate_and_record

    champion = trained.champion
    _, decision = gate_and_record(
        rt,
        holdout=trained.holdout if trained.ranking is None else trained.ranking,
        challenger=trained.challenger,
        champion=None
        if champion is None
        else load_verified(rt.registry, rt.store, rt.model, champion.version),
        window=trained.window.key,
    )
    return decision


def approval_step(rt: Runtime, version: str, decision: GateDecision) -> Approval | None:
    """The approval step, by `gate.approval`: approved (auto) or pending (manual) when the
    gate passed; None when it failed."""
    from opsloop.deploy import record_approval

    if not decision.passed:
        return None
    if rt.config.gate.approval == "auto":
        return record_approval(
            rt,
            version,
            "approved",
            actor=AUTO_ACTOR,
            comment="gate passed; approval policy is auto",
        )
    return record_approval(
        rt,
        version,
        "pending",
        actor="opsloop",
        comment=f"gate passed; waiting for a person (`opsloop approve {rt.model} {version}`)",
    )


def deploy_step(rt: Runtime, version: str, decision: GateDecision) -> Deployment | Rollout:
    """The deploy step for an automatically approved version: by `deploy.strategy`, ending
    any running rollout of an older version."""
    from opsloop.deploy import deploy as start

    reason = f"gate passed ({'; '.join(decision.reasons)})"
    if rt.config.task == "ranking":
        return start(
            rt,
            version,
            strategy="blue_green",
            actor=AUTO_ACTOR,
            supersede=True,
            reason=f"{reason}; {NOT_SERVED}",
        )
    return start(rt, version, actor=AUTO_ACTOR, supersede=True, reason=reason)
