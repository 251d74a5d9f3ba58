"""The agent: runs the monitor on its schedule and turns breaches into retraining.

One tick: (1) run the monitor if its cron schedule is due (or when forced); (2) for each
breach listed in `retrain.on` (drift, performance) and for a due retrain schedule, fire a
trigger — idempotently, keyed by the aligned monitor window (or the cron time), and not
within `retrain.cooldown` of the previous firing; (3) if anything fired, run the training
pipeline once (train → gate → approval → promotion). Every firing is an event with its
evidence.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from opsloop.data.window import Window
from opsloop.deploy.rollout import Step, advance
from opsloop.errors import OpsloopError
from opsloop.runtime import Runtime
from opsloop.stages import Progress
from opsloop.store.records import MonitorResult, TriggerFiring
from opsloop.train.pipeline import TrainOutcome

log = logging.getLogger("opsloop.agent")


@dataclass
class TickResult:
    monitored: MonitorResult | None = None
    fired: list[TriggerFiring] = field(default_factory=list)
    trained: TrainOutcome | None = None
    rollout: Step | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "monitored": None if self.monitored is None else self.monitored.to_dict(),
            "fired": [f.to_dict() for f in self.fired],
            "trained": None if self.trained is None else self.trained.to_dict(),
            "rollout": None if self.rollout is None else self.rollout.to_dict(),
            "notes": self.notes,
        }


def _cron_prev(expr: str, now: datetime) -> datetime:
    from croniter import croniter

    prev: datetime = croniter(expr, now).get_prev(datetime)
    return prev


def monitor_due(rt: Runtime, now: datetime) -> bool:
    last = rt.store.find_last_monitor(rt.model)
    return last is None or last.ts < _cron_prev(rt.config.monitor.schedule, now)


def next_run(expr: str, now: datetime) -> datetime:
    from croniter import croniter

    nxt: datetime = croniter(expr, now).get_next(datetime)
    return nxt


def _in_cooldown(rt: Runtime, now: datetime) -> datetime | None:
    firings = rt.store.list_firings(rt.model)
    if not firings:
        return None
    last = firings[-1].ts
    return last if now - last < rt.config.retrain.cooldown else None


def tick(
    rt: Runtime, *, force_monitor: bool = False, progress: Progress | None = None
) -> TickResult:
    cfg = rt.config
    now = rt.now()
    result = TickResult()
    from opsloop.deploy.controller import expire_pending

    for approval in expire_pending(rt, now):
        result.notes.append(f"pending approval of version {approval.version} expired")
    step = result.rollout = advance(rt, now)
    if step is not None:
        result.notes.append(f"rollout {step.rollout.id} of version "
                            f"{step.rollout.candidate_version}: {step.action} "
                            f"({'; '.join(step.analysis.reasons)})")
    deployed = rt.store.find_deployment(rt.model) is not None
    if not deployed:
        result.notes.append("nothing deployed: monitoring skipped")
    elif force_monitor or monitor_due(rt, now):
        from opsloop.monitor.job import run_monitor_job

        if progress:
            progress("monitor", "started")
        result.monitored = run_monitor_job(rt)
        if progress:
            progress("monitor", "done")
    else:
        result.notes.append(
            f"monitor not due (schedule {cfg.monitor.schedule!r}, next "
            f"{next_run(cfg.monitor.schedule, now):%Y-%m-%d %H:%M} UTC)"
        )

    candidates: list[tuple[str, str, dict[str, Any]]] = []
    m = result.monitored
    if m is not None:
        key = Window.aligned(cfg.monitor.window, now=now).key
        evidence = {"monitor_result": m.id, "window": [m.window_start, m.window_end],
                    "n_rows": m.n_rows, "n_labelled": m.n_labelled,
                    "drift_share": m.drift_share,
                    "drifted_features": m.summary.get("drifted_features", []),
                    "performance": {m.performance_metric: m.performance_value}}
        if m.drift_detected and "drift" in cfg.retrain.on:
            candidates.append(("drift", key, evidence))
        if m.performance_degraded and "performance" in cfg.retrain.on:
            candidates.append(("performance", key, evidence))
    if cfg.retrain.schedule and "schedule" in cfg.retrain.on:
        due_at = _cron_prev(cfg.retrain.schedule, now)
        runs = rt.store.list_runs(rt.model, limit=1)
        if not runs or runs[0].started < due_at:
            candidates.append(("schedule", f"{due_at:%Y-%m-%dT%H:%MZ}",
                               {"schedule": cfg.retrain.schedule}))

    cooling = _in_cooldown(rt, now)  # judged once: breaches of one tick fire together
    for trigger, key, evidence in candidates:
        if cooling is not None:
            result.notes.append(
                f"{trigger} breach not fired: cooldown {cfg.retrain.cooldown} since the "
                f"firing at {cooling:%H:%M:%S} UTC"
            )
            continue
        firing = rt.store.try_fire(rt.model, trigger, key, evidence)
        if firing is None:
            result.notes.append(f"{trigger} trigger already fired for {key}")
        else:
            result.fired.append(firing)

    if result.fired:
        from opsloop.train.pipeline import run_training

        first = result.fired[0]
        result.trained = run_training(rt, trigger=f"{first.trigger}:{first.key}",
                                      progress=progress)
    return result


def run_agent(rt: Runtime, *, interval: timedelta, stop: threading.Event | None = None) -> None:
    """Tick until stopped; a failing tick is logged and the loop goes on."""
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            outcome = tick(rt)
            for note in outcome.notes:
                log.info(note)
            for firing in outcome.fired:
                log.warning("trigger %s fired for %s", firing.trigger, firing.key)
            if outcome.trained is not None:
                log.warning("retrained: version %s, gate %s, promoted=%s",
                            outcome.trained.version,
                            "passed" if outcome.trained.gate_passed else "failed",
                            outcome.trained.promoted)
        except OpsloopError as exc:
            log.error("agent tick failed: %s", exc)
        stop.wait(interval.total_seconds())
