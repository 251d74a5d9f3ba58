"""Replaying history through the real loop, one policy at a time, each in its own sandbox.

At `start` (the simulated now) a version is trained as of `start` (`run_loop` on the
`retrain.training_window` ending there), gated and promoted. Then for each period
``[t, t + every)`` up to `end`, at the simulated now ``t + every``:

1. the user's `load()` gives the period's rows (history); the champion scores them in
   batches (`opsloop.batch`) into the sandbox's prediction log, event time = the rows'
   `time_column`;
2. the labels of events older than ``t + every - label_delay`` are delivered through the
   labels path (`orchestrate.labels.store_labels`);
3. the monitor job judges the period by event time (drift, quality, performance on the
   labels in so far); a period whose labels have all arrived since it was monitored is
   monitored again, replacing its earlier result (so `performance` sees delayed labels);
4. the policy's triggers are judged on those results (`orchestrate.agent.monitor_breaches`,
   what `retrain.on` fires on) and its schedule; when one fires, the loop retrains as of
   ``t + every`` and the gate promotes or rejects the challenger.

Recorded per period: the realised performance of the version that answered (computed from
all of the period's labels, the truth whatever the delay), alarms (new drift, quality and
performance events; each kind once per window), triggers fired, the training they started
and the seconds spent.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from opsloop.backtest.policy import Policy, parse_policies
from opsloop.backtest.result import ALARM_KINDS, BacktestResult, Period, PolicyResult, Training
from opsloop.backtest.sandbox import Sandbox, SandboxRegistry, open_sandbox
from opsloop.config import ProjectConfig
from opsloop.data.window import Window
from opsloop.errors import InvalidInputError, OpsloopError, StateError
from opsloop.runtime import Runtime

if TYPE_CHECKING:
    import pandas as pd

    from opsloop.batch import BatchScorer
    from opsloop.monitor.job import VersionInputs
    from opsloop.store.records import MonitorResult

MAX_PERIODS = 1000
# (policy, period index, periods, the period's record)
OnPeriod = Callable[[str, int, int, Period], None]


@dataclass(frozen=True)
class Plan:
    """What a backtest replays: checked before anything is trained."""

    start: datetime
    end: datetime
    every: timedelta
    label_delay: timedelta
    periods: list[Window]
    policies: list[Policy]
    metric: str
    notes: list[str] = field(default_factory=list)


def plan_backtest(
    config: ProjectConfig,
    *,
    start: datetime,
    end: datetime,
    every: timedelta,
    policies: list[str] | None = None,
    label_delay: timedelta = timedelta(0),
) -> Plan:
    """The periods and policies of a backtest; InvalidInputError for what cannot be replayed."""
    for name, value in (("--from", start), ("--to", end)):
        if value.tzinfo is None:
            raise InvalidInputError(f"{name} must be a UTC time", got=value.isoformat())
    if end <= start:
        raise InvalidInputError(
            "--to must be after --from",
            got=f"--from {start.isoformat()} --to {end.isoformat()}",
            fix="swap them, or move --to later",
        )
    if every <= timedelta(0):
        raise InvalidInputError("--every must be a positive duration", got=str(every))
    if label_delay < timedelta(0):
        raise InvalidInputError(
            "--label-delay must not be negative", got=str(label_delay), fix="use e.g. 0d or 7d"
        )
    n = int((end - start) / every)
    if n == 0:
        raise InvalidInputError(
            f"the range {start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} is shorter than one "
            f"period ({every})",
            expected="--to at least one --every after --from",
            fix="move --to later or use a shorter --every",
        )
    if n > MAX_PERIODS:
        raise InvalidInputError(
            f"{n} periods of {every} is more than a backtest replays ({MAX_PERIODS})",
            fix="use a longer --every or a shorter range",
        )
    periods = [Window(start + i * every, start + (i + 1) * every) for i in range(n)]
    notes = []
    if periods[-1].end < end:
        notes.append(f"the last {end - periods[-1].end} (shorter than a period) is not replayed")
    metric = _metric(config, notes)
    chosen = parse_policies(policies, every=every, config=config)
    return Plan(start, end, every, label_delay, periods, chosen, metric, notes)


_METRICS = {
    "regression": ("rmse", "mae", "r2"),
    "multiclass_classification": ("accuracy", "f1_macro", "log_loss"),
    "binary_classification": ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"),
}


def _metric(config: ProjectConfig, notes: list[str]) -> str:
    """The monitor's performance metric when it is computed from predictions and labels
    alone (`opsloop.metrics`), else the gate's."""
    known = _METRICS.get(config.task, ())
    metric, gate = config.monitor.performance.metric, config.gate.primary.metric
    if metric in known or gate not in known:
        return metric
    notes.append(
        f"realised performance is {gate} (the monitor's {metric} is not computed from "
        "predictions and labels alone)"
    )
    return gate


def run_backtest(
    config: ProjectConfig,
    root: Path,
    plan: Plan,
    *,
    registry: SandboxRegistry = "mlflow",
    on_period: OnPeriod | None = None,
) -> BacktestResult:
    """Replay every policy of `plan` with the project's configuration and code (`root`),
    each in its own sandbox: the project's own backends are never opened."""
    results = [_replay(config, root, plan, policy, registry, on_period) for policy in plan.policies]
    return BacktestResult(
        model=config.model,
        metric=plan.metric,
        floor=config.monitor.performance.floor,
        start=plan.start,
        end=plan.periods[-1].end,
        every=plan.every,
        label_delay=plan.label_delay,
        policies=results,
        notes=list(plan.notes),
    )


def _replay(
    config: ProjectConfig,
    root: Path,
    plan: Plan,
    policy: Policy,
    registry: SandboxRegistry,
    on_period: OnPeriod | None,
) -> PolicyResult:
    with open_sandbox(config, root, start=plan.start, registry=registry) as sb:
        return _Replay(sb, plan, policy, on_period).run()


class _Replay:
    def __init__(self, sb: Sandbox, plan: Plan, policy: Policy, on_period: OnPeriod | None) -> None:
        from opsloop.batch import BatchScorer

        self.sb, self.rt, self.plan, self.policy = sb, sb.rt, plan, policy
        self.on_period = on_period
        cfg = self.rt.config
        self.scorer: BatchScorer = BatchScorer(
            lambda v: self.rt.registry.load(self.rt.model, v),
            id_column=cfg.id_column,
            time_column=cfg.time_column,
        )
        self.inputs: dict[str, VersionInputs] = {}
        self.pending: list[pd.DataFrame] = []  # labels not delivered yet (id, target, time)
        # periods monitored before all their labels arrived: (window, version, result id)
        self.awaiting: list[tuple[Window, str, int]] = []
        self.seen_alarms: set[tuple[str, str]] = set()
        self.last_trained = plan.start

    def run(self) -> PolicyResult:
        initial = self._train(self.plan.start, "backtest:initial")
        if not initial.promoted:
            why = initial.failed or "; ".join(initial.reasons) or "not promoted"
            raise StateError(
                f"the first version, trained as of {self.plan.start:%Y-%m-%d %H:%M} UTC, "
                f"was not deployed: {why}",
                fix="start the backtest later (--from) so retrain.training_window holds "
                "enough history, or check the gate's floor",
            )
        periods: list[Period] = []
        total = len(self.plan.periods)
        for i, window in enumerate(self.plan.periods):
            period = self._period(window)
            periods.append(period)
            if self.on_period is not None:
                self.on_period(self.policy.name, i, total, period)
        return PolicyResult(self.policy.name, initial, periods)

    # ---- one period -------------------------------------------------------------
    def _period(self, window: Window) -> Period:
        from opsloop.batch import write_log

        rt = self.rt
        self.sb.clock.now = window.end
        version = _champion(rt)
        frame = self._load(window)
        rows, performance, seconds = 0, None, 0.0
        if len(frame):
            scored = self.scorer.score(frame, version, answered=window.end)
            write_log(self.sb.prediction_root, rt.model, scored.rows)
            rows, seconds = scored.n, scored.seconds
            performance = self._performance(frame, scored.rows)
            cfg = rt.config
            self.pending.append(frame[[cfg.id_column, cfg.target, cfg.time_column]])
        delivered = self._deliver(window.end - self.plan.label_delay)
        results: list[MonitorResult] = []
        alarms: list[str] = []
        if rows:
            results.append(self._monitor(window, version, alarms))
            if self.plan.label_delay > timedelta(0):
                self.awaiting.append((window, version, results[-1].id))
        results += self._monitor_labelled(window.end - self.plan.label_delay, alarms)
        fired = self._fired(results, window.end)
        training = None
        if fired:
            training = self._train(window.end, f"{fired[0]}:{window.key}")
        return Period(
            start=window.start,
            end=window.end,
            version=version if rows else None,
            rows=rows,
            performance=performance,
            labels_delivered=delivered,
            monitored=[r.id for r in results],
            drift=results[0].drift_detected if rows else None,
            alarms=alarms,
            fired=fired,
            training=training,
            scoring_seconds=round(seconds, 4),
        )

    def _load(self, window: Window) -> pd.DataFrame:
        import pandas as pd

        frame = self.rt.load_data(window)
        column = self.rt.config.time_column
        if column not in frame.columns:
            raise InvalidInputError(
                f"load(window) returned no time column {column!r}",
                expected=f"the time_column {column!r}: a backtest replays by event time",
                got=f"columns {list(frame.columns)}",
            )
        times = pd.to_datetime(frame[column], utc=True)
        keep = (times >= pd.Timestamp(window.start)) & (times < pd.Timestamp(window.end))
        return frame[keep.to_numpy()].reset_index(drop=True)

    def _performance(self, frame: pd.DataFrame, log: pd.DataFrame) -> float | None:
        from opsloop.metrics import metric_value

        cfg = self.rt.config
        score = None if log["score"].isna().all() else log["score"].to_numpy()
        return metric_value(
            cfg.task, self.plan.metric, frame[cfg.target].to_numpy(), log["prediction"], score
        )

    def _deliver(self, cutoff: datetime) -> int:
        """Deliver the labels of events before `cutoff` (the labels path); how many."""
        import pandas as pd

        from opsloop.orchestrate.labels import store_labels

        if not self.pending:
            return 0
        cfg = self.rt.config
        waiting = pd.concat(self.pending, ignore_index=True)
        due = pd.to_datetime(waiting[cfg.time_column], utc=True) < pd.Timestamp(cutoff)
        self.pending = [waiting[~due.to_numpy()]]
        now = waiting[due.to_numpy()]
        if now.empty:
            return 0
        added = store_labels(
            now[[cfg.id_column, cfg.target]],
            config=cfg,
            store=self.rt.store,
            engine=self.rt.engine,
            labels_root=self.rt.paths.labels,
            part_name=f"part-{uuid.uuid4().hex}.parquet",
        )
        return added.rows

    def _monitor(
        self, window: Window, version: str, alarms: list[str], *, replaces: tuple[int, ...] = ()
    ) -> MonitorResult:
        """The monitor job on `window` for `version`; new alarms appended to `alarms`."""
        from opsloop.monitor.job import evaluate_window, load_version, record_window

        rt = self.rt
        if version not in self.inputs:
            self.inputs[version] = load_version(rt, version)
        inputs = self.inputs[version]
        last = rt.store.last_event_id()
        report = evaluate_window(rt, window, inputs)
        result = record_window(rt, report, inputs.reference, version, html=False, replaces=replaces)
        for event in rt.store.list_events_after(rt.model, last, kinds=list(ALARM_KINDS), limit=100):
            key = (event.kind, window.key)
            if key not in self.seen_alarms:
                self.seen_alarms.add(key)
                alarms.append(event.kind)
        return result

    def _monitor_labelled(self, cutoff: datetime, alarms: list[str]) -> list[MonitorResult]:
        """Monitor again the periods whose labels have all arrived by `cutoff`."""
        done = [a for a in self.awaiting if a[0].end <= cutoff]
        self.awaiting = [a for a in self.awaiting if a[0].end > cutoff]
        return [
            self._monitor(window, version, alarms, replaces=(result_id,))
            for window, version, result_id in done
        ]

    def _fired(self, results: list[MonitorResult], now: datetime) -> list[str]:
        """The policy's triggers that fire at `now`."""
        from opsloop.orchestrate.agent import monitor_breaches

        fired: list[str] = []
        for result in results:
            for trigger, _ in monitor_breaches(result, self.policy.monitor):
                if trigger not in fired:
                    fired.append(trigger)
        interval, cron = self.policy.interval, self.policy.cron
        if interval is not None and now - self.last_trained >= interval:
            fired.append("schedule")
        if cron is not None and "schedule" not in fired:
            from croniter import croniter

            due: datetime = croniter(cron, now).get_prev(datetime)
            if due > self.last_trained:
                fired.append("schedule")
        return fired

    # ---- the loop -----------------------------------------------------------------
    def _train(self, at: datetime, trigger: str) -> Training:
        """One turn of the real loop as of `at`: train on the training window ending there,
        gate, promote."""
        from opsloop.orchestrate.loop import run_loop

        rt = self.rt
        self.sb.clock.now = at
        self.last_trained = at
        window = Window.last(rt.config.retrain.training_window, end=at)
        t0 = time.perf_counter()
        try:
            outcome = run_loop(rt, window=window, trigger=trigger)
        except OpsloopError as exc:
            return Training(
                at=at,
                trigger=trigger,
                version=None,
                gate_passed=False,
                promoted=False,
                failed=exc.message,
                seconds=round(time.perf_counter() - t0, 3),
            )
        seconds = time.perf_counter() - t0
        runs = rt.store.list_runs(rt.model, limit=1)
        fit = sum(
            float(s.get("seconds") or 0.0)
            for s in (runs[0].stages if runs else [])
            if s.get("name") == "fit"
        )
        return Training(
            at=at,
            trigger=trigger,
            version=outcome.version,
            gate_passed=outcome.gate_passed,
            promoted=outcome.promoted,
            skipped=outcome.skipped,
            reasons=list(outcome.gate_reasons),
            fit_seconds=round(fit, 3),
            seconds=round(seconds, 3),
        )


def _champion(rt: Runtime) -> str:
    deployment = rt.store.find_deployment(rt.model)
    if deployment is None:  # the initial training promotes, so only a bug gets here
        raise StateError(f"nothing deployed in the backtest sandbox of {rt.model!r}")
    return deployment.version
