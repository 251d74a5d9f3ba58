"""The rollout controller step: analyse the running rollout's current step and act on the
verdict (`advance`), the rollout's status with a fresh analysis, and `RolloutController`,
the thread that steps every `deploy.analysis.interval`.

`advance()` is run by every server replica (`serve.controller`) and by the agent; the
transitions it applies are the state machine's (`deploy/machine.py`), all compare-and-set in
the ops store, so concurrent controllers never apply one twice.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opsloop.deploy.analysis import Analysis, analyse
from opsloop.deploy.machine import end_rollout
from opsloop.faults import crash_point
from opsloop.redact import exception_line
from opsloop.runtime import Runtime
from opsloop.store.records import Approval, Rollout

log = logging.getLogger("opsloop.rollout")


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


def advance(rt: Runtime, now: datetime | None = None) -> Step | None:
    """Analyse the running rollout's step and act on the verdict: roll back on a failed
    check, move to the next step (or promote after the last) on a pass, else record the
    analysis and wait. None when nothing is rolling out."""
    rollout = rt.store.find_running_rollout(rt.model)
    if rollout is None:
        return None
    now = now or rt.now()
    analysis = analyse(rt, rollout, now)
    crash_point("rollout.step_analysed")
    evidence = {"analysis": analysis.to_dict()}
    actor = "opsloop (rollout)"
    done: Rollout | None
    rejected = _rejected_since_start(rt, rollout)
    if rejected is not None:
        # `reject` records the decision, then aborts the rollout; a process killed in
        # between (crash point `reject.after_record`) must not leave the candidate to pass
        done = end_rollout(
            rt.store,
            rt.registry,
            rollout,
            "rolled_back",
            actor=actor,
            event_kind="rolled_back",
            summary=f"rollback of version {rollout.candidate_version} at {rollout.share:g}%: "
            f"rejected by {rejected.actor} during its rollout",
            evidence={
                **evidence,
                "rejected": rejected.id,
                "from_version": rollout.candidate_version,
                "to_version": rollout.stable_version,
            },
        )
        action = "rolled_back"
    elif analysis.verdict == "fail":
        done = end_rollout(
            rt.store,
            rt.registry,
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
        crash_point("rollout.after_advance")
        action = "advanced"
    elif analysis.verdict == "pass":
        done = end_rollout(
            rt.store,
            rt.registry,
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


def _rejected_since_start(rt: Runtime, rollout: Rollout) -> Approval | None:
    """The candidate's rejection recorded after the rollout started (a rollout forced over an
    earlier rejection keeps going), or None."""
    approval = rt.store.find_approval(rt.model, rollout.candidate_version)
    if approval is None or approval.status != "rejected" or approval.ts < rollout.started:
        return None
    return approval


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
            except Exception as exc:  # one line: the ops store down would repeat a traceback
                log.warning("rollout controller step failed, will retry: %s", exception_line(exc))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="opsloop-rollouts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
