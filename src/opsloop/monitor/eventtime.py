"""Which windows to monitor on the event clock (`monitor.clock: event`).

The prediction log's own times say how far the data has come, not the wall clock: the
**watermark** is the newest event time among the version's rows — or now, when that event
is less than one `monitor.window` old (a live feed: time itself completes its windows)
or dated in the future (which so closes no window early). A window is **complete** once
the watermark has reached its end. The agent monitors, oldest first and each once, the
complete windows aligned to `monitor.window` (multiples of it since 1970-01-01 UTC, so the
keys are stable) that follow the version's last monitored window — from the window of the
version's oldest event when it has none — at most `MAX_CATCHUP` per tick. A history
replayed through the server is so monitored by its own dates, as it arrives, and the
triggers it fires are keyed by those event windows. A feed that stops leaves its last
window open (nothing after it completes it): the tick's notes show the watermark.

Rows that arrive for a window already monitored (late data) do not reopen it: monitor it
again with `opsloop monitor --from … --replace`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from opsloop.data.window import Window
from opsloop.runtime import Runtime

if TYPE_CHECKING:
    from opsloop.monitor.backfill import BackfillResult
    from opsloop.store.records import MonitorResult

MAX_CATCHUP = 1000  # windows one tick monitors at most (the next tick goes on)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class DueWindows:
    """The complete windows not yet monitored (oldest first); `watermark` is None when the
    version has no rows; `reason` says why `windows` is empty."""

    watermark: datetime | None
    windows: list[Window]
    reason: str = ""


def floor_to(t: datetime, length: timedelta) -> datetime:
    """The start of the window of `length` aligned to the epoch that holds `t`."""
    return EPOCH + ((t - EPOCH) // length) * length


def watermark(rt: Runtime, version: str, now: datetime) -> tuple[datetime, datetime] | None:
    """(the version's oldest time on `monitor.clock`, the watermark); None without rows.
    A live feed — its newest event within one `monitor.window` of now — is complete up
    to now; otherwise (a replay, a stopped feed) up to its newest event."""
    span = rt.engine.log_span(rt.model, version=version, clock=rt.config.monitor.clock)
    if span is None:
        return None
    oldest, newest = span
    live = now - newest <= rt.config.monitor.window
    return oldest, now if live else newest


def due_windows(rt: Runtime, version: str, now: datetime) -> DueWindows:
    """The complete event windows of `version` that follow its last monitored one."""
    length = rt.config.monitor.window
    found = watermark(rt, version, now)
    if found is None:
        return DueWindows(None, [], f"no predictions of version {version} in the log")
    oldest, mark = found
    last = rt.store.find_previous_monitor(rt.model, version, mark + TICK)
    if last is None:
        first = floor_to(oldest, length)
    else:  # the first aligned window starting at or after the last one's end
        first = floor_to(last.window_end - TICK, length) + length
    count = max(0, (mark - first) // length)
    windows = [Window(first + i * length, first + (i + 1) * length) for i in range(count)]
    windows = windows[:MAX_CATCHUP]
    reason = (
        ""
        if windows
        else f"no {length} event window complete since "
        f"{first:%Y-%m-%d %H:%M} UTC (watermark {mark:%Y-%m-%d %H:%M:%S} UTC)"
    )
    return DueWindows(mark, windows, reason)


@dataclass(frozen=True)
class EventMonitoring:
    """One catch-up: the windows that were due and what monitoring them stored."""

    version: str
    due: DueWindows
    result: BackfillResult | None = None

    @property
    def monitored(self) -> list[MonitorResult]:
        return [] if self.result is None else self.result.monitored


def monitor_event_windows(rt: Runtime, now: datetime) -> EventMonitoring:
    """Monitor the deployed version's complete event windows not yet monitored (one series
    scan of the log); windows without its rows are skipped, as in a backfill."""
    from opsloop.monitor.backfill import BackfillResult, monitor_series
    from opsloop.monitor.job import deployed_version, load_version

    version = deployed_version(rt)
    due = due_windows(rt, version, now)
    if not due.windows:
        return EventMonitoring(version, due)
    result = BackfillResult(version=version, windows=[w.key for w in due.windows])
    if rt.config.task == "ranking":  # a recommender's windows: its lists and visits
        from opsloop.monitor.ranking.job import run_ranking_job

        for window in due.windows:
            result.monitored.append(run_ranking_job(rt, window=window, version=version))
        return EventMonitoring(version, due, result)
    inputs = load_version(rt, version)
    monitor_series(rt, due.windows, inputs, result)
    return EventMonitoring(version, due, result)
