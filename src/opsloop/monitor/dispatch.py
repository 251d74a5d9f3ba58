"""`opsloop monitor` for any task: a recommender's window is judged by
`opsloop.monitor.ranking` (its lists, visits and reference), every other model's by the
tabular job (`opsloop.monitor.job`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opsloop.runtime import Runtime

if TYPE_CHECKING:
    from opsloop.data.window import Window
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
