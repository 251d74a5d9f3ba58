"""Backfill: monitor a series of consecutive windows, e.g. to build the history of a
version from an existing prediction log.

The windows are ``[from + i·every, from + (i+1)·every)`` that end by ``to`` (a remainder
shorter than ``every`` is not monitored: its statistics would not be comparable). They are
monitored oldest first, so each is compared with the one before it, and read by the engine
in one series scan (`Engine.scan_windows`: one pass over the log groups every row by its
window, so empty windows cost nothing), then judged one by one and stored
`COMMIT_EVERY` windows per ops-store transaction (`_SeriesWriter`). When the caller allows
it (`fork_workers`: `opsloop monitor --from`, a short-lived process of its own), above
`PARALLEL_MIN` windows with rows, on Linux with more than one CPU, the windows are judged in
forked worker processes while this one stores their results in window order
(`_judge_in_processes`: why it is safe is said there). Every other caller — the agent, the
server, the API, `Project.backfill_monitor` by default — judges them here, one by one: a
fork copies only the forking thread, so a lock another thread of a long-lived process held
at that moment (a logging handler's, an HTTP client pool's, the allocator's) stays locked
in the child forever. Idempotent per window:
a window that already has a result for the version is skipped, or with ``replace``
monitored again and its old result replaced (deleted in the same transaction as the new
one is stored; the events of the old one stay in the audit log). Windows in which the
version answered no request are skipped and not stored. Each window writes its JSON
report; the HTML report, which charts the whole history, is written for the last window
monitored.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from opsloop.data.window import Window
from opsloop.errors import InvalidInputError
from opsloop.runtime import Runtime
from opsloop.store.records import MonitorResult

if TYPE_CHECKING:
    from opsloop.engines.base import WindowScan
    from opsloop.monitor.job import VersionInputs
    from opsloop.monitor.run import MonitorReport

MAX_WINDOWS = 10_000
COMMIT_EVERY = 200  # windows stored per ops-store transaction
# windows with rows from which they are judged in worker processes (below, forking and
# sending the reports back costs more than the second core saves: ~0.1 s)
PARALLEL_MIN = 100
JUDGE_WORKERS = 2  # at most; never more than the CPUs this process may use
JUDGE_CHUNK = 25  # windows per task sent to a worker
# rows of scanned windows held at once for the workers (the engine's series scan reads
# 2M rows per batch: memory stays bounded as when judging here)
GROUP_ROWS = 2_000_000

# (window, outcome): outcome is "monitored", "replaced", "skipped: <why>"
OnWindow = Callable[[Window, str], None]


@dataclass
class BackfillResult:
    version: str
    windows: list[str] = field(default_factory=list)
    monitored: list[MonitorResult] = field(default_factory=list)
    replaced: list[int] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    report_path: str | None = None
    remainder: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "windows": self.windows,
            "monitored": [
                {
                    "id": r.id,
                    "window_start": r.window_start.isoformat(),
                    "window_end": r.window_end.isoformat(),
                    "n_rows": r.n_rows,
                    "drift_detected": r.drift_detected,
                    "drift_share": r.drift_share,
                    "performance_value": r.performance_value,
                    "newly_drifted": r.summary_model.newly_drifted,
                }
                for r in self.monitored
            ],
            "replaced": self.replaced,
            "skipped": self.skipped,
            "report_path": self.report_path,
            "remainder": self.remainder,
        }


def plan_windows(start: datetime, end: datetime, every: timedelta) -> list[Window]:
    """The whole windows of length `every` from `start` that end by `end`."""
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInputError("backfill bounds must be timezone-aware (UTC)")
    if every <= timedelta(0):
        raise InvalidInputError("--every must be a positive duration", got=str(every))
    if end - start < every:
        raise InvalidInputError(
            f"no whole {every} window fits between {start:%Y-%m-%d %H:%M} and "
            f"{end:%Y-%m-%d %H:%M} UTC",
            fix="move --from earlier, --to later or make --every shorter",
        )
    count = (end - start) // every
    if count > MAX_WINDOWS:
        raise InvalidInputError(
            f"{count} windows of {every} between --from and --to",
            expected=f"at most {MAX_WINDOWS:,}",
            fix="use a longer --every or a shorter range",
        )
    return [Window(start + i * every, start + (i + 1) * every) for i in range(count)]


def backfill(
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
    """Monitor every window of `plan_windows` for `version` (default: deployed);
    `fork_workers`: judge them in forked processes when many (module docstring: only for a
    short-lived process that runs nothing else, as the CLI's)."""
    from opsloop.monitor.job import deployed_version, load_version

    windows = plan_windows(start, end, every)
    inputs = load_version(rt, version or deployed_version(rt))
    result = BackfillResult(version=inputs.version, windows=[w.key for w in windows])
    if windows[-1].end < end:
        result.remainder = f"{windows[-1].end.isoformat()}/{end.isoformat()}"
    monitor_series(
        rt,
        windows,
        inputs,
        result,
        replace=replace,
        on_window=on_window,
        fork_workers=fork_workers,
    )
    return result


def monitor_series(
    rt: Runtime,
    windows: list[Window],
    inputs: VersionInputs,
    result: BackfillResult,
    *,
    replace: bool = False,
    on_window: OnWindow | None = None,
    fork_workers: bool = False,
) -> None:
    """Monitor consecutive `windows` of equal length (oldest first) into `result`: the
    ones not yet monitored (all with `replace`) are read by the engine in one series scan
    (`Engine.scan_windows`); windows without rows of the version are skipped. Judged in
    forked worker processes only with `fork_workers` (module docstring)."""
    from opsloop.monitor.drift import exact_features
    from opsloop.monitor.job import judge_scan

    cfg, version, reference = rt.config, inputs.version, inputs.reference
    known = rt.store.list_monitor_span(rt.model, version, windows[0].end, windows[-1].end)
    existing: dict[str, list[MonitorResult]] = {w.key: [] for w in windows}
    for r in known:
        key = Window(r.window_start, r.window_end).key
        if key in existing:
            existing[key].append(r)
    todo = [i for i, w in enumerate(windows) if replace or not existing[w.key]]
    scans = rt.engine.scan_windows(
        rt.model,
        windows[0].start,
        windows[0].end - windows[0].start,
        todo,
        reference,
        version=version,
        clock=cfg.monitor.clock,
        scores=inputs.cbpe is not None,
        transform=inputs.transform,
        exact=lambda current: exact_features(reference, current, cfg.monitor.drift),
        limit=cfg.monitor.drift.exact_max_rows,
    )
    workers = _judge_workers(rt, inputs, len(todo)) if fork_workers else 0
    judged = (
        _judge_in_processes(rt, windows, inputs, scans, workers)
        if workers > 1
        else ((i, judge_scan(rt, windows[i], inputs, scan)) for i, scan in scans)
    )
    scanned = next(judged, None)
    writer = _SeriesWriter(rt, inputs, known, result)
    # Judged windows wait in `pending` and are stored `COMMIT_EVERY` at a time in window
    # order (each is compared with the one stored before it); the last one monitored is
    # stored with the HTML report, so one always waits until the next is judged.
    pending: list[tuple[MonitorReport, tuple[int, ...]]] = []
    for i, window in enumerate(windows):
        found = existing[window.key]
        if found and not replace:
            outcome = f"skipped: already monitored (result {found[-1].id})"
        elif scanned is None or scanned[0] != i:
            outcome = f"skipped: no predictions of version {version}"
        else:
            pending.append((scanned[1], tuple(r.id for r in found)))
            scanned = next(judged, None)
            if len(pending) > COMMIT_EVERY:
                writer.store(pending[:-1], html_last=False)
                del pending[:-1]
            outcome = "replaced" if found else "monitored"
        if outcome.startswith("skipped"):
            result.skipped.append(
                {"window": window.key, "reason": outcome.removeprefix("skipped: ")}
            )
        if on_window is not None:
            on_window(window, outcome)
    if pending:
        writer.store(pending, html_last=True)
        result.report_path = result.monitored[-1].report_path


def _judge_workers(rt: Runtime, inputs: VersionInputs, count: int) -> int:
    """How many worker processes judge `count` windows: 0 (here, one by one) below
    `PARALLEL_MIN`, without the fork start method (Linux has it) or a second CPU, or when a
    feature, the score or the multivariate check is judged against a period of the log
    (`monitor.reference` other than `training`: that reads the engine, which only this
    process may use)."""
    import multiprocessing

    from opsloop.config.monitor import DriftReference

    if count < PARALLEL_MIN or "fork" not in multiprocessing.get_all_start_methods():
        return 0
    cfg = rt.config.monitor
    names = [*(f.name for f in inputs.features), *inputs.reference.features]
    if DriftReference.parse(cfg.reference).kind != "training" or any(
        cfg.drift_reference(n).kind != "training" for n in names
    ):
        return 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = min(JUDGE_WORKERS, cpus or 1)
    return workers if workers > 1 else 0


# What the forked workers judge: set by `_judge_in_processes` before it forks them, read by
# `_judge_chunk` in each worker (inherited memory: nothing of it is pickled).
_FORKED: tuple[Runtime, list[Window], VersionInputs, list[tuple[int, WindowScan]]] | None = None


def _judge_in_processes(
    rt: Runtime,
    windows: list[Window],
    inputs: VersionInputs,
    scans: Iterator[tuple[int, WindowScan]],
    workers: int,
) -> Iterator[tuple[int, MonitorReport]]:
    """(window index, report) of every scanned window, in window order, judged by `workers`
    forked processes (`_judge_group`), a group of windows of up to `GROUP_ROWS` rows at a
    time so that memory stays bounded on large logs."""
    group: list[tuple[int, WindowScan]] = []
    rows = 0
    for item in scans:
        group.append(item)
        rows += item[1].profile.n_rows
        if rows >= GROUP_ROWS:
            yield from _judge_group(rt, windows, inputs, group, workers)
            group, rows = [], 0
    if group:
        yield from _judge_group(rt, windows, inputs, group, workers)


def _judge_group(
    rt: Runtime,
    windows: list[Window],
    inputs: VersionInputs,
    found: list[tuple[int, WindowScan]],
    workers: int,
) -> Iterator[tuple[int, MonitorReport]]:
    """(window index, report) of the scanned windows `found`, in window order, judged by
    `workers` forked processes `JUDGE_CHUNK` windows per task, while the caller stores the
    reports already judged. The group's scans are read first (here, by this process), then
    the workers are forked: they inherit the scans, the version's inputs and the configuration,
    and send back only the reports (pickled: ~5 kB, ~0.2 ms a window). Safe because
    judging is pure computation on those inputs — `_judge_workers` keeps the backfill here
    when a judgement would read the engine — so a worker never uses the ops store's or the
    engine's connections it inherited (nor their threads, which a fork does not copy), and
    it leaves by `os._exit`, so it closes none of them. The reports equal those judged
    here (same code, same inputs; nothing random). A window whose judgement fails in a
    worker is judged again here, to raise its error as it is (not as the worker's pickle
    of it). The workers are stopped and their pending tasks cancelled when the caller
    stops early (an error while storing)."""
    import multiprocessing
    import warnings
    from concurrent.futures import ProcessPoolExecutor

    from opsloop.monitor.job import judge_scan

    global _FORKED
    chunks = [(a, min(a + JUDGE_CHUNK, len(found))) for a in range(0, len(found), JUDGE_CHUNK)]
    _FORKED = (rt, windows, inputs, found)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"))
    try:
        with warnings.catch_warnings():
            # Python ≥ 3.12 warns on any fork of a process with threads (DuckDB's here): the
            # workers use nothing those threads guard (the docstring above)
            warnings.filterwarnings(
                "ignore", "This process .* is multi-threaded", DeprecationWarning
            )
            futures = [pool.submit(_judge_chunk, a, b) for a, b in chunks]  # forks the workers
        for (a, b), future in zip(chunks, futures, strict=True):
            reports = future.result()
            for k in range(b - a):
                i, scan = found[a + k]
                report = reports[k] if k < len(reports) else None
                if report is None:  # failed in the worker (or after): judged here
                    report = judge_scan(rt, windows[i], inputs, scan)
                yield i, report
    finally:
        _FORKED = None
        pool.shutdown(wait=True, cancel_futures=True)


def _judge_chunk(a: int, b: int) -> list[MonitorReport | None]:
    """In a worker: the reports of the scanned windows `a` to `b`, up to the first whose
    judgement fails (None)."""
    from opsloop.monitor.job import judge_scan

    assert _FORKED is not None, "_judge_chunk runs in a worker forked by _judge_in_processes"
    rt, windows, inputs, found = _FORKED
    out: list[MonitorReport | None] = []
    for i, scan in found[a:b]:
        try:
            out.append(judge_scan(rt, windows[i], inputs, scan))
        except Exception:
            out.append(None)
            break  # the caller raises it when it reaches this window
    return out


class _SeriesWriter:
    """Stores a series' results in window order, up to `COMMIT_EVERY` windows per ops-store
    transaction (`OpsStore.batch`), written after they are judged so that the transaction
    is short: a crash or an error mid-backfill leaves the windows of the transactions
    already committed, each whole (result, events, deletion of what it replaced), and none
    of the open one — their JSON reports may be on disk, and are rewritten by the re-run,
    which skips the committed windows. Each result is compared with the stored result of
    the version whose window ends last before its own (as `find_previous_monitor` would
    answer), known here without a query per window: the results already stored in the
    span (read once), the one before the span, and the ones this series stores."""

    def __init__(
        self,
        rt: Runtime,
        inputs: VersionInputs,
        known: list[MonitorResult],
        result: BackfillResult,
    ) -> None:
        self.rt, self.inputs, self.result = rt, inputs, result
        self.known = known  # by window end, then id: they become candidates in turn
        self.next_known = 0
        self.best: MonitorResult | None = None
        self.best_full = True  # `best` holds its full summary (else its digest)
        self.first = True
        self.deleted: set[int] = set()

    def _previous(self, end: datetime) -> MonitorResult | None:
        """The result that window (…, `end`) is compared with."""
        if self.first:
            self.first = False
            self.best = self.rt.store.find_previous_monitor(self.rt.model, self.inputs.version, end)
        while self.next_known < len(self.known) and self.known[self.next_known].window_end < end:
            r = self.known[self.next_known]
            self.next_known += 1
            if r.id not in self.deleted and (
                self.best is None or (r.window_end, r.id) > (self.best.window_end, self.best.id)
            ):
                self.best, self.best_full = r, False
        if self.best is not None and not self.best_full:  # a digest: read the whole result
            self.best = self.rt.store.find_monitor(self.rt.model, self.best.id)
            self.best_full = True
        return self.best

    def store(self, items: list[tuple[MonitorReport, tuple[int, ...]]], *, html_last: bool) -> None:
        """Store judged windows (report, ids of the results it replaces) in one transaction;
        the last one with the HTML report when `html_last`."""
        from opsloop.monitor.job import record_window

        with self.rt.store.batch():
            for n, (report, replaces) in enumerate(items):
                stored = record_window(
                    self.rt,
                    report,
                    self.inputs.reference,
                    self.inputs.version,
                    html=html_last and n == len(items) - 1,
                    replaces=replaces,
                    previous=self._previous(report.window_end),
                )
                self.deleted.update(replaces)
                self.best, self.best_full = stored, True
                self.result.monitored.append(stored)
                self.result.replaced += replaces
