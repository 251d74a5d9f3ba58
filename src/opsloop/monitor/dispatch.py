"""`opsloop monitor` for any task: a recommender's windows are judged by
`opsloop.monitor.ranking` (its lists, visits and reference), every other model's by the
tabular job (`opsloop.monitor.job`, a series of windows by `opsloop.monitor.backfill`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from opsloop.runtime import Runtime

if TYPE_CHECKING:
    from opsloop.data.window import Window
    from opsloop.monitor.backfill import BackfillResult, OnWindow
    from opsloop.store.records import MonitorResult


def monitor_window(
    rt: Runtime, *, window: Window | None = None, version: str | None = None
) -> MonitorResult:
    """Monitor `window` (default: the last `monitor.window`) for `version` (default: the
    deployed one) and record the result."""
    if rt.config.task == "ranking":
        from opsloop.monitor.ranking.job import run_ranking_job

        return run_ranking_job(rt, window=window, version=version)
    from opsloop.monitor.job import run_monitor_job

    return run_monitor_job(rt, window=window, version=version)


def backfill_windows(
    rt: Runtime,
    *,
    start: datetime,
    end: datetime,
    every: timedelta,
    version: str | None = None,
    replace: bool = False,
    on_window: OnWindow | None = None,
    fork_workers: bool = False,
) -> BackfillResult:
    """`opsloop monitor --from … --to …` for any task: the windows of `every` between
    `start` and `end` (`opsloop.monitor.backfill`; `fork_workers`: a tabular model's
    windows may be judged in forked processes — only from a short-lived process, the
    CLI's)."""
    if rt.config.task == "ranking":
        from opsloop.monitor.ranking.job import backfill_ranking

        return backfill_ranking(
            rt,
            start=start,
            end=end,
            every=every,
            version=version,
            replace=replace,
            on_window=on_window,
        )
    from opsloop.monitor.backfill import backfill

    return backfill(
        rt,
        start=start,
        end=end,
        every=every,
        version=version,
        replace=replace,
        on_window=on_window,
        fork_workers=fork_workers,
    )
