"""Steps for an external orchestrator (Airflow): the agent's tick split in two.

`check_triggers` is a tick that fires and records triggers without training (the monitor
always runs: the orchestrator's schedule decides when); `verdict` turns what fired into
the payload the orchestrator passes from its monitoring job to its training job; and
`train_for_trigger` runs the training pipeline for one firing, at most once per trigger
key, so a re-run of the orchestrator's training job does not retrain twice.

Each step keeps opsloop's own recording: firings are `try_fire`d under the agent lease
(one per trigger and key, cooled down), trainings are pipeline runs whose `trigger` names
the firing (`drift:<window key>`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opsloop.config import RETRAIN_TRIGGERS
from opsloop.errors import InvalidInputError
from opsloop.orchestrate.agent import TickResult, tick_with_lease
from opsloop.orchestrate.loop import TrainOutcome, run_loop
from opsloop.runtime import Runtime
from opsloop.store._util import jsonable
from opsloop.store.records import PipelineRun

# every trigger `retrain.on` can list, plus the ones that are always on or come from outside
TRIGGERS = (*RETRAIN_TRIGGERS, "resume", "manual", "airflow")


def check_triggers(rt: Runtime) -> TickResult:
    """Monitor now, evaluate every trigger, record firings; never train. StateError while
    an agent holds the agent lease."""
    return tick_with_lease(rt, force_monitor=True, train=False)


def verdict(rt: Runtime, result: TickResult) -> dict[str, Any] | None:
    """What fired and why, JSON-safe (the Airflow asset event's `extra`); None when
    nothing fired. `trigger` is what to pass to `opsloop train --trigger`."""
    if not result.fired:
        return None
    first = result.fired[0]
    out: dict[str, Any] = {
        "model": rt.model,
        "trigger": f"{first.trigger}:{first.key}",
        "reason": first.trigger,
        "key": first.key,
        "firings": [{"id": f.id, "trigger": f.trigger, "key": f.key} for f in result.fired],
    }
    m = result.monitored
    if m is not None:
        out.update(
            {
                "monitor_result": m.id,
                "version": m.version,
                "window": [m.window_start, m.window_end],
                "n_rows": m.n_rows,
                "n_labelled": m.n_labelled,
                "drift_detected": m.drift_detected,
                "drift_share": m.drift_share,
                "drifted_features": m.summary_model.drifted_features,
                "performance": {m.performance_metric: m.performance_value}
                if m.performance_metric
                else {},
                "performance_degraded": m.performance_degraded,
            }
        )
    result_dict: dict[str, Any] = jsonable(out)
    return result_dict


@dataclass(frozen=True)
class TriggeredTraining:
    """The training run for a trigger: `outcome` when it ran now, `previous` when a run
    with the same trigger had already succeeded or is running (nothing was done)."""

    trigger: str
    outcome: TrainOutcome | None
    previous: PipelineRun | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "trigger": self.trigger,
            "trained": self.outcome is not None,
            "outcome": None if self.outcome is None else self.outcome.to_dict(),
            "previous_run": None if self.previous is None else self.previous.to_dict(),
        }


def check_trigger(trigger: str) -> str:
    name, sep, key = trigger.partition(":")
    if name not in TRIGGERS or (sep and not key):
        raise InvalidInputError(
            "--trigger must name what started the training",
            expected=f"<name>[:<key>] with name one of {', '.join(TRIGGERS)}, e.g. "
            "drift:2026-11-25T10:00Z/PT1H",
            got=repr(trigger),
        )
    return trigger


def find_run_for_trigger(rt: Runtime, trigger: str) -> PipelineRun | None:
    """A training run of this trigger that succeeded or is still running."""
    for run in rt.store.list_runs(rt.model, limit=200):
        if run.pipeline == "train" and run.trigger == trigger and run.status != "failed":
            return run
    return None


def train_for_trigger(rt: Runtime, trigger: str) -> TriggeredTraining:
    """Train once for `trigger` (`<name>:<key>`); a keyless trigger (`manual`) always
    trains. `resume:<run id>` retrains on the crashed run's data window."""
    check_trigger(trigger)
    if ":" in trigger:
        previous = find_run_for_trigger(rt, trigger)
        if previous is not None:
            return TriggeredTraining(trigger, None, previous)
    window = None
    if trigger.startswith("resume:"):
        from opsloop.orchestrate.recovery import crashed_window

        crashed = next(
            (
                r
                for r in rt.store.list_runs(rt.model, limit=200)
                if str(r.id) == trigger.partition(":")[2]
            ),
            None,
        )
        window = None if crashed is None else crashed_window(crashed)
    elif trigger.startswith("manual:"):  # a retraining request may name its data window
        from opsloop.orchestrate.manual import request_window

        key = trigger.partition(":")[2]
        firing = next(
            (f for f in rt.store.list_firings(rt.model) if f.trigger == "manual" and f.key == key),
            None,
        )
        asked = None if firing is None else request_window(firing.evidence)
        return TriggeredTraining(trigger, run_loop(rt, window=asked, trigger=trigger), None)
    return TriggeredTraining(trigger, run_loop(rt, window=window, trigger=trigger), None)
