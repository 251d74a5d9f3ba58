"""Rollouts: take a candidate version to stable by blue-green, canary steps or a shadow
phase, analysing each step and rolling back automatically on a breach.

- **blue_green**: all traffic switches at once (a new deployment revision); servers keep the
  previous version loaded for `deploy.rollback_window`, so a rollback needs no load.
- **canary**: the candidate answers `steps[i]` percent of requests (sticky by request key);
  each step bakes for `deploy.bake` and must pass the analysis (`deploy/analysis.py`) before
  the next; after the last step (100 %) the candidate is promoted.
- **shadow**: the candidate sees a mirror of `deploy.shadow_share` percent of requests; its
  answers are logged, never returned. After one passing bake it is promoted.

`advance()` is the controller step. It is run by every server replica (`serve.controller`)
and by the agent; all transitions are compare-and-set in the ops store (see
`store/rollouts.py`), so concurrent controllers never apply one twice. The ops store is the
truth; the MLflow `champion` alias is mirrored after a rollout promotes.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opsloop.config import check_canary_steps
from opsloop.core.aliases import CHALLENGER, CHAMPION
from opsloop.deploy.analysis import Analysis, analyse
from opsloop.deploy.controller import promote
from opsloop.errors import InvalidInputError, StateError
from opsloop.runtime import Runtime
from opsloop.store.records import Deployment, Rollout

log = logging.getLogger("opsloop.rollout")

STRATEGIES = ("blue_green", "canary", "shadow")


@dataclass
class Step:
    """What one controller step did: advanced | promoted | rolled_back | waiting."""

    action: str
    rollout: Rollout
    analysis: Analysis

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "rollout": self.rollout.to_dict(),
            "analysis": self.analysis.to_dict(),
        }


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
) -> Deployment | Rollout:
    """Start taking `version` to production with `strategy` (default `deploy.strategy`).

    The first deployment of a model is always a direct switch (there is no stable version
    to compare with). With `supersede` (automatic paths: training, approval) a running
    rollout of another version is aborted first; otherwise that is a StateError."""
    cfg = rt.config.deploy
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
        _finish(
            rt,
            running,
            "aborted",
            actor=actor,
            event_kind="rollout_aborted",
            summary=f"rollout of version {running.candidate_version} superseded by "
            f"version {version}",
            evidence={"superseded_by": version},
        )
    if current is None or strategy == "blue_green":
        return promote(rt, version, reason=reason, actor=actor, strategy="blue_green")
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
    )
    rt.registry.set_alias(rt.model, CHALLENGER, version)
    return rollout


def _finish(
    rt: Runtime,
    rollout: Rollout,
    status: str,
    *,
    actor: str,
    event_kind: str,
    summary: str,
    evidence: dict[str, Any],
    promote_candidate: bool = False,
) -> Rollout | None:
    done = rt.store.finish_rollout(
        rollout,
        status=status,
        actor=actor,
        summary=summary,
        evidence=evidence,
        event_kind=event_kind,
        promote=promote_candidate,
    )
    if done is not None and promote_candidate:
        # The ops store committed the promotion; mirror it as the MLflow aliases.
        rt.registry.set_alias(rt.model, CHAMPION, rollout.candidate_version)
        challenger = rt.registry.find_alias(rt.model, CHALLENGER)
        if challenger is not None and challenger.version == rollout.candidate_version:
            rt.registry.delete_alias(rt.model, CHALLENGER)
    return done


def advance(rt: Runtime, now: datetime | None = None) -> Step | None:
    """Analyse the running rollout's step and act on the verdict: roll back on a failed
    check, move to the next step (or promote after the last) on a pass, else record the
    analysis and wait. None when nothing is rolling out."""
    rollout = rt.store.find_running_rollout(rt.model)
    if rollout is None:
        return None
    now = now or rt.now()
    analysis = analyse(rt, rollout, now)
    evidence = {"analysis": analysis.to_dict()}
    actor = "opsloop (rollout)"
    done: Rollout | None
    if analysis.verdict == "fail":
        done = _finish(
            rt,
            rollout,
            "rolled_back",
            actor=actor,
            event_kind="rolled_back",
            summary=f"automatic rollback of version {rollout.candidate_version} at "
            f"{rollout.share:g}%: " + "; ".join(analysis.reasons),
            evidence={
                **evidence,
                "automatic": True,
                "from_version": rollout.candidate_version,
                "to_version": rollout.stable_version,
            },
        )
        action = "rolled_back"
    elif analysis.verdict == "pass" and rollout.step + 1 < len(rollout.steps):
        share = rollout.steps[rollout.step + 1]
        done = rt.store.advance_rollout(
            rollout,
            share=share,
            actor=actor,
            analysis=evidence["analysis"],
            summary=f"version {rollout.candidate_version}: step {rollout.step + 1} passed "
            f"at {rollout.share:g}%, now {share:g}%",
        )
        action = "advanced"
    elif analysis.verdict == "pass":
        done = _finish(
            rt,
            rollout,
            "promoted",
            actor=actor,
            event_kind="promoted",
            promote_candidate=True,
            summary=f"{rollout.strategy} rollout of version {rollout.candidate_version} "
            "passed every step: " + "; ".join(analysis.reasons),
            evidence=evidence,
        )
        action = "promoted"
    else:
        rt.store.save_analysis(rollout, evidence["analysis"])
        return Step("waiting", rollout, analysis)
    if done is None:  # another controller acted first
        return Step("waiting", rt.store.get_rollout(rollout.id), analysis)
    log.warning(
        "rollout %s of %s version %s: %s", rollout.id, rt.model, rollout.candidate_version, action
    )
    return Step(action, done, analysis)


def end_for_promotion(
    rt: Runtime, rollout: Rollout, version: str, *, actor: str, reason: str
) -> Deployment | None:
    """A direct promotion during a rollout: promoting the candidate completes the rollout
    (its deployment is returned); promoting another version aborts it (None: the caller
    promotes)."""
    if rollout.candidate_version == version:
        done = _finish(
            rt,
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
    _finish(
        rt,
        rollout,
        "aborted",
        actor=actor,
        event_kind="rollout_aborted",
        summary=f"rollout of version {rollout.candidate_version} ended by the promotion "
        f"of version {version}",
        evidence={"superseded_by": version},
    )
    return None


def _running(rt: Runtime) -> Rollout:
    rollout = rt.store.find_running_rollout(rt.model)
    if rollout is None:
        raise StateError(
            f"no rollout of {rt.model!r} is running",
            fix=f"start one with `opsloop deploy {rt.model} VERSION --strategy "
            "canary`; `opsloop status` shows the deployment",
        )
    return rollout


def promote_now(rt: Runtime, *, actor: str, reason: str = "") -> Rollout:
    """Skip the remaining steps and promote the candidate (a person's decision)."""
    rollout = _running(rt)
    done = _finish(
        rt,
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
    rollout = _running(rt)
    summary = reason or (
        f"rollout of version {rollout.candidate_version} "
        f"{'rolled back' if rolled_back else 'aborted'} by {actor} at "
        f"{rollout.share:g}%"
    )
    evidence: dict[str, Any] = {"manual": True, "analysis": rollout.analysis}
    if rolled_back:
        evidence.update(from_version=rollout.candidate_version, to_version=rollout.stable_version)
    done = _finish(
        rt,
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


def status(rt: Runtime, now: datetime | None = None) -> dict[str, Any] | None:
    """The newest rollout with a fresh analysis when it is running (not recorded)."""
    rollout = rt.store.find_rollout(rt.model)
    if rollout is None:
        return None
    out = rollout.to_dict()
    if rollout.running:
        out["analysis"] = analyse(rt, rollout, now or rt.now()).to_dict()
    return out


class RolloutController:
    """`advance()` every `deploy.analysis.interval` on a daemon thread (servers run one)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.interval = rt.config.deploy.analysis.interval.total_seconds()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                advance(self.rt)
            except Exception:
                log.exception("rollout controller step failed; will retry")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="opsloop-rollouts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
