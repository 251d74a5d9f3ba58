"""The agent: runs the monitor on its schedule and turns breaches into retraining.

One tick: (1) expire approvals and advance a running rollout; (2) mark crashed pipeline
runs failed (heartbeat timeout) and pick crashed trainings to run again
(`orchestrate/recovery.py`); (3) ingest the label files waiting in `data.inbox`
(`orchestrate/inbox.py`); (4) run the monitor if its cron schedule is due (or when
forced): on the event clock (`monitor.clock: event`) the complete event windows not yet
monitored, up to the log's watermark (`monitor/eventtime.py`), on the answered clock the
last window ending now; (5) for each breach listed in `retrain.on` (drift, performance,
estimated_performance — the CBPE estimate below its floor or alert band), a due retrain
schedule, enough new data (`orchestrate/newdata.py`) and enough new labels, fire a trigger
— idempotently, keyed by the monitored event window (answered clock: the aligned
window holding now), the cron time, the message or arrival
range, and not within `retrain.cooldown` of the previous firing; retraining requests
(`orchestrate/manual.py`) fire once each, without the cooldown; while a training of the
model runs, triggers are recorded as skipped instead; (6) if anything fired, run the
training pipeline once; (7) run the `predict:` batch prediction when its schedule is due
(`orchestrate/batchjob.py`; the agent's own mode only — with an external orchestrator the
Airflow batch DAG runs it). Every firing is an event with its evidence.

Only the holder of the agent lease (`agent:<model>` in the ops store) ticks: `run_agent`
acquires or renews it before every tick and renews it in the background during long ticks;
a standby agent takes it over when the holder's lease expires (`agent.lease_ttl`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from opsloop.batch.predict import PredictResult
from opsloop.batch.recover import finish_recorded
from opsloop.data.window import Window, WindowRequest
from opsloop.deploy import Step, advance
from opsloop.deploy.reconcile import AliasDrift, reconcile_challenger, reconcile_champion
from opsloop.errors import OpsloopError, StateError
from opsloop.faults import crash_point
from opsloop.lease import HeldLease, agent_lease_name
from opsloop.orchestrate.loop import TrainOutcome, run_loop
from opsloop.orchestrate.outlook import next_run
from opsloop.orchestrate.recovery import busy_training, recover_crashed
from opsloop.runtime import Runtime
from opsloop.stages import Progress
from opsloop.store.records import MonitorResult, PipelineRun, TriggerFiring

log = logging.getLogger("opsloop.agent")


@dataclass
class TickResult:
    monitored: MonitorResult | None = None  # the newest window monitored this tick
    fired: list[TriggerFiring] = field(default_factory=list)
    trained: TrainOutcome | None = None
    rollout: Step | None = None
    notes: list[str] = field(default_factory=list)
    crashed: list[PipelineRun] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)  # inbox files handled
    repaired: AliasDrift | None = None  # the champion alias drift this tick repaired
    windows: list[MonitorResult] = field(default_factory=list)  # every window monitored
    predicted: PredictResult | None = None  # the scheduled batch prediction, when it ran

    def to_dict(self) -> dict[str, Any]:
        return {
            "monitored": None if self.monitored is None else self.monitored.to_dict(),
            "monitored_windows": [r.id for r in self.windows],
            "fired": [f.to_dict() for f in self.fired],
            "trained": None if self.trained is None else self.trained.to_dict(),
            "rollout": None if self.rollout is None else self.rollout.to_dict(),
            "notes": self.notes,
            "crashed": [r.to_dict() for r in self.crashed],
            "skipped": self.skipped,
            "labels": self.labels,
            "repaired": None if self.repaired is None else self.repaired.to_dict(),
            "predicted": None if self.predicted is None else self.predicted.to_dict(),
        }


def _reconcile(rt: Runtime, notes: list[str]) -> AliasDrift | None:
    """Repair the champion alias from the committed deployment (`deploy/reconcile.py`); a
    registry that cannot be reached is a note, the tick goes on."""
    try:
        drift = reconcile_champion(rt.registry, rt.store, rt.model)
        dropped = reconcile_challenger(rt.registry, rt.store, rt.model)
    except OpsloopError as exc:
        notes.append(f"champion alias not checked: {exc.what}")
        return None
    if drift is not None:
        notes.append(f"repaired: {drift.summary}")
    if dropped is not None:
        notes.append(f"repaired: the challenger alias left the rejected version {dropped}")
    try:  # batch runs a killed process recorded but did not finish (batch/recover.py)
        notes.extend(finish_recorded(rt).notes())
    except OSError as exc:
        notes.append(f"batch outputs not finished: {exc}")
    return drift


def _cron_prev(expr: str, now: datetime) -> datetime:
    from croniter import croniter

    prev: datetime = croniter(expr, now).get_prev(datetime)
    return prev


def monitor_due(rt: Runtime, now: datetime) -> bool:
    last = rt.store.find_last_monitor(rt.model)
    return last is None or last.ts < _cron_prev(rt.config.monitor.schedule, now)


def _in_cooldown(rt: Runtime, now: datetime) -> datetime | None:
    firings = [f for f in rt.store.list_firings(rt.model) if f.trigger != "resume"]
    if not firings:
        return None
    last = firings[-1].ts
    return last if now - last < rt.config.retrain.cooldown else None


def tick(
    rt: Runtime,
    *,
    force_monitor: bool = False,
    progress: Progress | None = None,
    train: bool = True,
) -> TickResult:
    """One tick; with `train=False` triggers are fired and recorded but the training is
    left to an external orchestrator (`opsloop triggers check`, the Airflow DAGs)."""
    cfg = rt.config
    now = rt.now()
    result = TickResult()
    from opsloop.deploy import expire_pending

    for approval in expire_pending(rt, now):
        result.notes.append(f"pending approval of version {approval.version} expired")
    result.repaired = _reconcile(rt, result.notes)
    step = result.rollout = advance(rt, now)
    if step is not None:
        result.notes.append(
            f"rollout {step.rollout.id} of version "
            f"{step.rollout.candidate_version}: {step.action} "
            f"({'; '.join(step.analysis.reasons)})"
        )
    result.crashed, resumes = recover_crashed(rt)
    for run in result.crashed:
        result.notes.append(f"pipeline run {run.id} ({run.pipeline}) marked failed: {run.error}")
    if cfg.data.inbox is not None:
        from opsloop.orchestrate.inbox import ingest_inbox

        result.labels = ingest_inbox(rt, result.notes)
    deployed = rt.store.find_deployment(rt.model) is not None
    if not deployed:
        result.notes.append("nothing deployed: monitoring skipped")
    elif force_monitor or monitor_due(rt, now):
        if progress:
            progress("monitor", "started")
        _monitor(rt, result, now, forced=force_monitor)
        if progress:
            progress("monitor", "done")
    else:
        result.notes.append(
            f"monitor not due (schedule {cfg.monitor.schedule!r}, next "
            f"{next_run(cfg.monitor.schedule, now):%Y-%m-%d %H:%M} UTC)"
        )

    if deployed and train:
        from opsloop.orchestrate.batchjob import predict_if_due

        result.predicted = predict_if_due(rt, now, result.notes)

    candidates = _candidates(rt, result, now)
    from opsloop.orchestrate.manual import manual_candidates, request_window

    manual = manual_candidates(rt)
    busy = busy_training(rt)
    if busy is not None:
        for trigger, key, _ in manual + candidates:
            _skip(rt, result, trigger, key, busy)
        for resume in resumes:
            _skip(rt, result, "resume", str(resume.run.id), busy)
        return result

    for resume in resumes:  # redoing fired work: no cooldown
        firing = rt.store.try_fire(rt.model, "resume", str(resume.run.id), resume.evidence())
        if firing is not None:
            result.fired.append(firing)
    cooling = _in_cooldown(rt, now)  # judged once: breaches of one tick fire together
    for trigger, key, evidence in manual:  # a person asked: no cooldown
        firing = rt.store.try_fire(rt.model, trigger, key, evidence)
        if firing is not None:
            result.fired.append(firing)
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

    if result.fired and not train:
        result.notes.append("training left to the orchestrator")
    elif result.fired and not _trainable(rt, result):
        pass
    elif result.fired:
        first = result.fired[0]
        window: Window | WindowRequest | None = None
        if first.trigger == "resume":
            window = next((r.window for r in resumes if str(r.run.id) == first.key), None)
        elif first.trigger == "manual":  # a request may name its data window
            window = request_window(first.evidence)
        try:
            result.trained = run_loop(
                rt, window=window, trigger=f"{first.trigger}:{first.key}", progress=progress
            )
        except StateError as exc:  # lost the race for the training slot
            _skip(rt, result, first.trigger, first.key, None, reason=exc.what)
    return result


def _trainable(rt: Runtime, result: TickResult) -> bool:
    """Whether this opsloop trains the project's task (`runtime.RANKING_COMMANDS`); if
    not, the triggers stay fired and recorded and the tick says why nothing trained."""
    from opsloop.runtime import check_pipeline_task

    try:
        check_pipeline_task(rt.config, "train")
    except StateError as exc:
        result.notes.append(f"triggers fired, training not run: {exc.what}")
        return False
    return True


def monitor_breaches(m: MonitorResult, on: Iterable[str]) -> list[tuple[str, dict[str, Any]]]:
    """The retrain triggers among `on` that a monitored window breaches (drift,
    performance, estimated_performance, quality), each with its evidence — what
    `retrain.on` fires on; the backtest judges its policies with it too."""
    on = set(on)
    summary = m.summary_model
    evidence: dict[str, Any] = {
        "monitor_result": m.id,
        "window": [m.window_start, m.window_end],
        "n_rows": m.n_rows,
        "n_labelled": m.n_labelled,
        "drift_share": m.drift_share,
        "drifted_features": summary.drifted_features,
        # what each drifted feature was judged against (monitor.reference)
        "references": {
            f.name: f.reference.to_json()
            for f in summary.features
            if f.drifted and f.name and f.reference is not None
        },
        "multivariate": None if summary.multivariate is None else summary.multivariate.to_json(),
        "performance": {m.performance_metric: m.performance_value},
    }
    breaches: list[tuple[str, dict[str, Any]]] = []
    if m.drift_detected and "drift" in on:
        breaches.append(("drift", evidence))
    if m.performance_degraded and "performance" in on:
        breaches.append(("performance", evidence))
    estimated = summary.estimated_performance
    if estimated is not None and estimated.degraded and "estimated_performance" in on:
        breaches.append(
            ("estimated_performance", {**evidence, "estimated_performance": estimated.to_json()})
        )
    quality = summary.quality
    if quality is not None and quality.passed is False and "quality" in on:
        breaches.append(
            ("quality", {**evidence, "quality_breaches": [c.to_json() for c in quality.breaches]})
        )
    return breaches


def _monitor(rt: Runtime, result: TickResult, now: datetime, *, forced: bool = False) -> None:
    """On the event clock, the complete event windows not yet monitored
    (`monitor/eventtime.py`; `monitored` is the newest); on the answered clock, the last
    `monitor.window` ending now. A forced tick (`agent --once --force-monitor`, `triggers
    check`) on a live feed with no complete window due monitors the open window ending now,
    as `opsloop monitor` does: traffic just sent is judged without waiting for the hour."""
    from opsloop.monitor.dispatch import monitor_window

    if rt.config.monitor.clock == "answered":
        result.monitored = monitor_window(rt)
        result.windows = [result.monitored]
        return
    from opsloop.monitor.eventtime import monitor_event_windows

    caught = monitor_event_windows(rt, now)
    if forced and not caught.monitored and caught.due.watermark == now:
        result.monitored = monitor_window(rt, window=Window.last(rt.config.monitor.window, end=now))
        result.windows = [result.monitored]
        result.notes.append(
            "monitor: forced on a live feed: the open event window ending now was monitored "
            f"({caught.due.reason})"
        )
        return
    result.windows = caught.monitored
    result.monitored = caught.monitored[-1] if caught.monitored else None
    if caught.result is None:
        result.notes.append(f"monitor: {caught.due.reason}")
    elif not caught.monitored:
        result.notes.append(
            f"monitor: no rows of version {caught.version} in the {len(caught.due.windows)} "
            "event window(s) completed since the last one monitored"
        )
    elif len(caught.monitored) > 1:
        result.notes.append(
            f"monitor: {len(caught.monitored)} event windows monitored up to "
            f"{caught.monitored[-1].window_end:%Y-%m-%d %H:%M} UTC; the triggers judge the newest"
        )


def trigger_key(rt: Runtime, m: MonitorResult, now: datetime) -> str:
    """A monitor trigger's key: the monitored event window on the event clock; the
    epoch-aligned `monitor.window` holding now on the answered clock (whose windows end at
    the tick's time)."""
    if rt.config.monitor.clock == "event":
        return Window(m.window_start, m.window_end).key
    return Window.aligned(rt.config.monitor.window, now=now).key


def _candidates(
    rt: Runtime, result: TickResult, now: datetime
) -> list[tuple[str, str, dict[str, Any]]]:
    cfg = rt.config
    candidates: list[tuple[str, str, dict[str, Any]]] = []
    if result.monitored is not None:
        key = trigger_key(rt, result.monitored, now)
        for trigger, evidence in monitor_breaches(result.monitored, cfg.retrain.on):
            candidates.append((trigger, key, evidence))
    if cfg.retrain.schedule and "schedule" in cfg.retrain.on:
        due_at = _cron_prev(cfg.retrain.schedule, now)
        runs = rt.store.list_runs(rt.model, limit=1)
        if not runs or runs[0].started < due_at:
            candidates.append(
                ("schedule", f"{due_at:%Y-%m-%dT%H:%MZ}", {"schedule": cfg.retrain.schedule})
            )
    if "new_data" in cfg.retrain.on:
        from opsloop.orchestrate.newdata import new_data_candidate

        found = new_data_candidate(rt, result.notes)
        if found is not None:
            candidates.append(found)
    if "labels" in cfg.retrain.on:
        from opsloop.orchestrate.inbox import labels_candidate

        found = labels_candidate(rt, result.notes)
        if found is not None:
            candidates.append(found)
    return candidates


def _skip(
    rt: Runtime,
    result: TickResult,
    trigger: str,
    key: str,
    busy: PipelineRun | None,
    *,
    reason: str | None = None,
) -> None:
    """Record (once per trigger, key and running run) that a trigger waited for a
    running training: the concurrency limit is one training per model."""
    reason = reason or (
        f"training run {busy.id} ({busy.trigger}) is still running"
        if busy
        else "another training is running"
    )
    skip = {
        "trigger": trigger,
        "key": key,
        "running_run": None if busy is None else busy.id,
        "reason": reason,
    }
    result.skipped.append(skip)
    result.notes.append(f"{trigger} trigger for {key} skipped: {reason}")
    recent = rt.store.list_events(rt.model, kinds=["trigger_skipped"], limit=20)
    if any(
        all(e.evidence.get(k) == skip[k] for k in ("trigger", "key", "running_run")) for e in recent
    ):  # several triggers may wait on one run
        return
    rt.store.add_event(
        "trigger_skipped",
        rt.model,
        summary=f"{trigger} trigger for {key} skipped: {reason}",
        evidence=skip,
    )


def tick_with_lease(
    rt: Runtime,
    *,
    force_monitor: bool = False,
    progress: Progress | None = None,
    train: bool = True,
) -> TickResult:
    """One tick under the agent lease (`opsloop agent --once`, `Project.tick`); a
    StateError while another agent holds it."""
    lease = HeldLease(rt.store, agent_lease_name(rt.model), rt.config.agent.lease_ttl)
    if not lease.acquire():
        held = lease.current()
        raise StateError(
            f"another agent is acting for {rt.model!r}: {held.holder if held else '?'} holds "
            f"the agent lease" + (f" until {held.expires:%H:%M:%S} UTC" if held else ""),
            fix="let that agent work, or stop it; a dead agent's lease expires after "
            f"agent.lease_ttl ({rt.config.agent.lease_ttl})",
        )
    try:
        with lease.keep_alive():
            crash_point("agent.tick_leased")
            result = tick(rt, force_monitor=force_monitor, progress=progress, train=train)
            from opsloop.notify.dispatch import notify_pending

            notify_pending(rt, may_act=lambda: lease.held)
            return result
    finally:
        lease.release()


def _log_tick(outcome: TickResult) -> None:
    for note in outcome.notes:
        log.info(note)
    for firing in outcome.fired:
        log.warning("trigger %s fired for %s", firing.trigger, firing.key)
    if outcome.trained is not None:
        log.warning(
            "retrained: version %s, gate %s, promoted=%s",
            outcome.trained.version,
            "passed" if outcome.trained.gate_passed else "failed",
            outcome.trained.promoted,
        )


def run_agent(rt: Runtime, *, interval: timedelta, stop: threading.Event | None = None) -> None:
    """Tick while holding the agent lease, until stopped; stand by while another agent
    holds it. A failing tick is logged and the loop goes on."""
    from opsloop.notify.dispatch import Dispatcher

    ttl = rt.config.agent.lease_ttl
    if interval >= ttl:
        from opsloop.errors import ConfigError

        raise ConfigError(
            f"the agent interval ({interval}) must be shorter than "
            f"agent.lease_ttl ({ttl}), or the lease expires between ticks",
            fix="pass a shorter --interval or raise agent.lease_ttl",
        )
    stop = stop or threading.Event()
    lease = HeldLease(rt.store, agent_lease_name(rt.model), ttl, model=rt.model)
    dispatcher = Dispatcher(rt, may_act=lambda: lease.held)
    log.info("agent %s started for %s", lease.holder, rt.model)
    standing_by = False
    try:
        while not stop.is_set():
            try:
                if lease.acquire():
                    if standing_by:
                        log.warning("agent %s now holds the lease", lease.holder)
                    standing_by = False
                    with lease.keep_alive():
                        _log_tick(tick(rt))
                    dispatcher.wake()
                elif not standing_by:
                    held = lease.current()
                    log.info("standing by: %s holds the agent lease", held.holder if held else "?")
                    standing_by = True
            except OpsloopError as exc:
                log.error("agent tick failed: %s", exc)
            stop.wait(interval.total_seconds())
    finally:
        dispatcher.close()
        lease.release()
