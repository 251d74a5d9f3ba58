"""The agent's batch prediction: the `predict:` section's job when its cron schedule is due.

Due when no batch run (succeeded or failed) started at or after the schedule's latest
time: a failed run waits for the next scheduled time rather than retrying every tick
(`opsloop predict` runs it by hand). A run is recorded by `opsloop.batch` whatever
happens; here a failure becomes a note of the tick."""

from __future__ import annotations

import logging
from datetime import datetime

from opsloop.batch.predict import PredictResult, run_configured
from opsloop.errors import OpsloopError
from opsloop.runtime import Runtime

log = logging.getLogger("opsloop.agent")


def predict_due(rt: Runtime, now: datetime) -> datetime | None:
    """The scheduled time a batch prediction is due for, or None."""
    cfg = rt.config.predict
    if cfg is None or cfg.schedule is None:
        return None
    from croniter import croniter

    slot: datetime = croniter(cfg.schedule, now).get_prev(datetime)
    runs = rt.store.list_batch_runs(rt.model, limit=1)
    if runs and runs[0].started >= slot:
        return None
    return slot


def predict_if_due(rt: Runtime, now: datetime, notes: list[str]) -> PredictResult | None:
    slot = predict_due(rt, now)
    if slot is None:
        return None
    try:
        result = run_configured(rt, actor=rt.actor)
    except OpsloopError as exc:
        notes.append(f"batch prediction due at {slot:%Y-%m-%d %H:%M} UTC failed: {exc.message}")
        log.warning("batch prediction failed: %s", exc.message)
        return None
    notes.append(
        f"batch prediction {result.run.run_id}: {result.run.rows} rows by version "
        f"{result.run.version}" + (" (published)" if result.publication else "")
    )
    return result
