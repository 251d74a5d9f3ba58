"""When each trigger fired last and when it can fire next, for `opsloop status` and the API.

Built from the configuration and the ops store alone (no broker, no MLflow). "Next" is the
earliest time the agent will judge the trigger again with a chance to fire: the next
monitor run for the triggers judged on a monitor result (drift, performance, estimated
performance, quality), the cron time for schedule, both not before the cooldown ends;
new data and labels fire on volume, so they report progress toward their threshold
instead; retraining requests fire at the agent's next tick.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsloop.config import ProjectConfig
    from opsloop.store.ports import StoreReads
    from opsloop.store.records import TriggerFiring


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _hm(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC"


def next_run(expr: str, after: datetime) -> datetime:
    """The first time after `after` that the cron expression names."""
    return _slot(expr, after)[1]


def _cron_prev(expr: str, now: datetime) -> datetime:
    return _slot(expr, now)[0]


# expr → the last slot computed: (previous, next) cron times around some instant. A cron
# expression's times are a function of the expression alone, so an instant strictly
# inside a known slot has the same neighbours: nothing here can go stale. (croniter takes
# ~1 ms a call here; `opsloop status` and the dashboard's overview ask ~3 times a model.)
_slots: dict[tuple[str, object], tuple[datetime, datetime]] = {}


def _slot(expr: str, at: datetime) -> tuple[datetime, datetime]:
    """The cron times just before and just after `at` (croniter's get_prev/get_next)."""
    key = (expr, at.tzinfo)
    known = _slots.get(key)
    if known is not None and known[0] < at < known[1]:
        return known
    from croniter import croniter

    prev: datetime = croniter(expr, at).get_prev(datetime)
    nxt: datetime = croniter(expr, at).get_next(datetime)
    if len(_slots) > 256:  # a bound, not a policy: expressions are few
        _slots.clear()
    _slots[key] = (prev, nxt)
    return prev, nxt


def cooldown_until(
    cfg: ProjectConfig, firings: list[TriggerFiring], now: datetime
) -> datetime | None:
    """When the cooldown after the last firing ends; None when not cooling down."""
    counted = [f for f in firings if f.trigger != "resume"]
    if not counted:
        return None
    until = counted[-1].ts + cfg.retrain.cooldown
    return until if until > now else None


def next_monitor(
    store: StoreReads,
    cfg: ProjectConfig,
    model: str,
    now: datetime,
    not_before: datetime | None = None,
) -> datetime:
    """The next monitor run the agent makes (now if one is overdue), not before
    `not_before`."""
    schedule = cfg.monitor.schedule
    last = store.find_last_monitor(model)
    due = now if last is None or last.ts < _cron_prev(schedule, now) else next_run(schedule, now)
    if not_before is not None and due < not_before:
        due = next_run(schedule, not_before - timedelta(microseconds=1))
    return due


# triggers that fire on a monitor result's verdict: their next chance is a monitor run
MONITOR_TRIGGERS = ("drift", "performance", "estimated_performance", "quality")


def trigger_outlook(
    store: StoreReads, cfg: ProjectConfig, model: str, now: datetime
) -> list[dict[str, Any]]:
    """One entry per trigger in `retrain.on`, plus `manual` and `resume`."""
    firings = store.list_firings(model)
    last_by_trigger = {f.trigger: f for f in firings}
    cooling = cooldown_until(cfg, firings, now)
    deployed = store.find_deployment(model) is not None
    entries = []
    for trigger in dict.fromkeys((*cfg.retrain.on, "manual", "resume")):
        last = last_by_trigger.get(trigger)
        entry: dict[str, Any] = {
            "trigger": trigger,
            "last_key": last.key if last else None,
            "last_ts": _iso(last.ts) if last else None,
            "next": None,
            "cooldown_until": None if trigger in ("manual", "resume") else _iso(cooling),
            "progress": None,
            "pending": None,
            "detail": "",
        }
        _fill(entry, store, cfg, model, now, cooling, deployed)
        entries.append(entry)
    return entries


def _fill(
    entry: dict[str, Any],
    store: StoreReads,
    cfg: ProjectConfig,
    model: str,
    now: datetime,
    cooling: datetime | None,
    deployed: bool,
) -> None:
    """`next`, `progress`, `pending` and `detail` (one phrase that reads after "next: ")."""
    trigger = entry["trigger"]
    cool = "" if cooling is None else f" (cooldown until {_hm(cooling)})"
    if trigger in MONITOR_TRIGGERS:
        if not deployed:
            entry["detail"] = "once a version is deployed and monitored"
            return
        at = next_monitor(store, cfg, model, now, cooling)
        entry["next"] = _iso(at)
        entry["detail"] = (
            "the monitor run at the agent's next tick (due)"
            if at == now
            else f"the monitor run at {_hm(at)}{cool}"
        )
    elif trigger == "schedule" and cfg.retrain.schedule:
        expr = cfg.retrain.schedule
        due_at = _cron_prev(expr, now)
        runs = store.list_runs(model, limit=1)
        at = now if not runs or runs[0].started < due_at else next_run(expr, now)
        if cooling is not None and at < cooling:
            at = cooling
        entry["next"] = _iso(at)
        entry["detail"] = (
            f"the agent's next tick (due; {expr})" if at == now else f"{_hm(at)} ({expr}){cool}"
        )
    elif trigger == "schedule":
        entry["detail"] = "never: no retrain.schedule set"
    elif trigger in ("new_data", "labels"):
        rows, need = _volume(store, cfg, model, trigger)
        entry["progress"] = {"rows": rows, "min_rows": need}
        have = f"{rows} of {need} rows since the last training"
        entry["detail"] = (
            f"the agent's next tick ({have}){cool}"
            if rows >= need
            else f"when {need - rows} more rows arrive ({have}){cool}"
        )
    elif trigger == "manual":
        from opsloop.orchestrate.manual import list_requests

        pending = [r.id for r in list_requests(store, model, limit=1000) if r.status == "pending"]
        entry["pending"] = pending
        entry["detail"] = (
            "when someone asks (opsloop retrain)"
            if not pending
            else f"the agent's next tick: {len(pending)} pending request(s) "
            f"({', '.join(f'#{i}' for i in pending)})"
        )
    elif trigger == "resume":
        entry["detail"] = (
            "when a training crashes (re-run once)"
            if cfg.agent.resume_crashed
            else "never (agent.resume_crashed: false)"
        )


def _volume(store: StoreReads, cfg: ProjectConfig, model: str, trigger: str) -> tuple[int, int]:
    from opsloop.orchestrate.newdata import last_training_start

    since = last_training_start(store, model)
    if trigger == "labels":
        from opsloop.orchestrate.labels import LABELS_SOURCE

        arrivals = store.list_arrivals(model, since=since, source=LABELS_SOURCE)
        return sum(a.rows for a in arrivals), cfg.retrain.labels.min_rows
    nd = cfg.retrain.new_data
    assert nd is not None
    from opsloop.orchestrate.newdata import model_stream_name

    arrivals = store.list_arrivals(model, since=since, source=model_stream_name(model, nd))
    return sum(a.rows for a in arrivals), nd.min_rows
