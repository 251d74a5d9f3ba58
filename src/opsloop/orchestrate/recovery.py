"""Crashed pipeline runs: detected by heartbeat timeout, marked failed, and a crashed
training re-run once.

A run whose process died (SIGKILL, OOM, a lost machine) stops writing its heartbeat. Each
agent tick marks runs whose heartbeat is older than `agent.heartbeat_timeout` as `failed`
("crashed: no heartbeat since …") with a `training_failed` event carrying
`evidence.crashed = true`, so nothing stays "running" forever.

With `agent.resume_crashed`, a crashed training is run again once (trigger
`resume:<run id>`; the `resume` firing keyed by the run id makes it once), on the same data
window as the crashed run. It restarts from the first stage rather than from the last
completed one: the stages before the fit (load, validate, split) are cheap and
deterministic for a fixed window, the fit itself is not checkpointed (estimators have no
common checkpoint API), and persisting every stage's output (the training frame, the split)
would copy the training data into the ops store's storage on every run to save seconds on a
rare crash. A crash after `register` leaves a registered challenger without a gate
decision; the re-run registers a newer version, which supersedes it. A re-run that crashes
too is not resumed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opsloop.data.window import Window
from opsloop.runtime import Runtime
from opsloop.store.records import PipelineRun


@dataclass(frozen=True)
class Resume:
    run: PipelineRun
    window: Window | None

    @property
    def trigger(self) -> str:
        return f"resume:{self.run.id}"

    def evidence(self) -> dict[str, Any]:
        return {
            "pipeline_run": self.run.id,
            "crashed_trigger": self.run.trigger,
            "error": self.run.error,
            "heartbeat": self.run.heartbeat,
            "window": None if self.window is None else self.window.key,
        }


def crashed_window(run: PipelineRun) -> Window | None:
    """The data window the crashed run was loading, if its load stage got that far."""
    for stage in run.stages:
        if stage.get("name") == "load":
            key = (stage.get("detail") or {}).get("window")
            if key:
                return Window.from_key(key)
    return None


def recover_crashed(rt: Runtime) -> tuple[list[PipelineRun], list[Resume]]:
    """Mark stale runs failed; the crashed trainings to run again. Heartbeats are stamped
    by the ops store's clock (the wall clock unless `Project(clock=...)` set it), so this
    compares with the store's time, not the runtime's (a backtest's simulated) clock."""
    cutoff = rt.store.now() - rt.config.agent.heartbeat_timeout
    crashed = rt.store.fail_stale_runs(rt.model, cutoff)
    resumes = [
        Resume(run, crashed_window(run))
        for run in crashed
        if run.pipeline == "train"
        and rt.config.agent.resume_crashed
        and not (run.trigger or "").startswith("resume:")
    ]
    return crashed, resumes


def busy_training(rt: Runtime) -> PipelineRun | None:
    """A training of this model that is running now (its heartbeat is fresh)."""
    cutoff = rt.store.now() - rt.config.agent.heartbeat_timeout
    for run in rt.store.list_running_runs(rt.model, "train"):
        if (run.heartbeat or run.started) >= cutoff:
            return run
    return None
