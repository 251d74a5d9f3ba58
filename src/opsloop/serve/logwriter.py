"""The prediction-log writer: batches rows off the request path and appends them to
hive-partitioned Parquet (layout in `opsloop.data.predlog`).

Policy when the queue is full: the incoming batch is **dropped and counted**
(`dropped_rows`, the `opsloop_prediction_log_dropped_rows_total` metric, a warning at most
once per flush interval). Serving never blocks on logging; a full queue means the disk
cannot keep up and is visible in /metrics. On `close()` (server shutdown, SIGTERM) the
queue is flushed completely before the process exits.

Rows are flushed every `flush_interval`, or at once when the queued rows hold about
`flush_bytes` (`serve.log_flush_bytes`, 8 MiB; `logrows.approx_bytes`): under heavy traffic
the queue, and the frame and Parquet file a flush builds from it, stay that size instead of
growing with the request rate (one 2-second flush of 100-row churn requests at 330 req/s
took a server ~110 MiB above its working set, 8 MiB flushes ~30–50 MiB: docs/benchmarks.md,
"Serving memory"). After each flush the freed memory is handed back to the OS.

Each flush writes one file per (date, hour) partition, to a temporary name first and then
renamed, so readers never see a partial file (`opsloop.batch.write_log`, shared with batch
scoring).

The server submits `LoggedRequest`s: the pieces of an answered request as they are (the
validated input, ids, predictions, a timestamp). Building the rows — one DataFrame for all
the requests of a flush rather than one per request — happens in the writer's thread, off
the request path. DataFrames in the log layout are accepted too.

`event_ts` is the rows' event time (`ModelInput.event_us`, validated when the request was
parsed), the answer time where a record had none; a DataFrame without the column gets
`event_ts = ts`. Both are written at microsecond precision, UTC.

Faults (docs/reliability.md):

- A batch that cannot be stored (anything but an OSError while converting or writing it)
  is split; each request that still fails alone is **quarantined** (serve/logquarantine.py)
  and counted (`quarantined_rows`); the rest is written. Nothing is re-queued forever.
- A storage fault (an OSError: disk full, folder unwritable) keeps the rows queued, sets
  `degraded` (readiness and `opsloop_prediction_log_degraded` say so) and logs one line —
  then at most one a minute while it lasts; the next flush that succeeds clears it.
- `durability="request"` (`serve.log_durability`) appends each request to an fsync'd
  journal before it is answered (serve/logjournal.py); otherwise a SIGKILL loses the rows
  of up to one flush interval. Journal segments a dead server left are replayed at the
  first flush of the next writer on the same folder.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from opsloop.batch.logfile import write_log
from opsloop.config.deploy import LOG_FLUSH_BYTES
from opsloop.data.predlog import journal_dir, quarantine_dir
from opsloop.serve import faults
from opsloop.serve.logjournal import Journal, Segment, decode, encode, read_segment
from opsloop.serve.logquarantine import quarantine
from opsloop.serve.logrows import LoggedRequest, _frames, approx_bytes, requests_frame

__all__ = ["Durability", "LoggedRequest", "PredictionLogWriter", "requests_frame"]

Durability = Literal["batch", "request"]

log = logging.getLogger("opsloop.serve.log")


class PredictionLogWriter:
    def __init__(
        self,
        root: Path,
        model: str,
        *,
        flush_interval: float = 2.0,
        max_queue_rows: int = 100_000,
        flush_bytes: int = LOG_FLUSH_BYTES,
        durability: Durability = "batch",
    ) -> None:
        self.root = Path(root)
        self.model = model
        self.flush_interval = flush_interval
        self.max_queue_rows = max_queue_rows
        self.flush_bytes = flush_bytes
        self.durability = durability
        self.journal = Journal(journal_dir(self.root, model)) if durability == "request" else None
        self.dropped_rows = 0
        self.written_rows = 0
        self.quarantined_rows = 0
        self.replayed_rows = 0
        self.degraded: str | None = None  # one line: why the log cannot be written now
        self._pending: list[pd.DataFrame | LoggedRequest] = []
        self._pending_rows = 0
        self._pending_bytes = 0  # approx_bytes of what is queued (flush early past flush_bytes)
        self._unreleased: list[Segment] = []  # journal segments whose rows are not written
        self._replay_due = True
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_warning = 0.0
        self._errors = _OneLine(log, every=60.0)  # failures other than storage faults
        self._faults = _OneLine(log, every=60.0)  # storage faults, while they last

    @property
    def queued_rows(self) -> int:
        return self._pending_rows

    @property
    def queued_bytes(self) -> int:
        """The memory the queued rows hold, roughly (`logrows.approx_bytes`)."""
        return self._pending_bytes

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="opsloop-predlog", daemon=True)
            self._thread.start()

    def submit(self, frame: pd.DataFrame | LoggedRequest) -> bool:
        """Queue rows for the next flush; False (and counted) if the queue is full.

        With `durability="request"` a `LoggedRequest` is first appended to the journal and
        fsync'd; an OSError from that write propagates (the request is not answered)."""
        rows, size = len(frame), approx_bytes(frame)
        line = (
            encode(frame) if self.journal is not None and isinstance(frame, LoggedRequest) else None
        )
        with self._lock:
            if self._pending_rows + rows > self.max_queue_rows:
                self.dropped_rows += rows
                now = time.monotonic()
                if now - self._last_warning > self.flush_interval:
                    self._last_warning = now
                    log.warning(
                        "prediction log queue full (%d rows): dropped %d rows so far",
                        self._pending_rows,
                        self.dropped_rows,
                    )
                return False
            if line is not None:  # under the queue lock: a flush seals it with its rows
                assert self.journal is not None
                try:
                    self.journal.append(line)
                except OSError as exc:
                    self._storage_fault(exc, "journal")
                    raise
            self._pending.append(frame)
            self._pending_rows += rows
            self._pending_bytes += size
            if self._pending_bytes >= self.flush_bytes:
                self._wake.set()  # under pressure: flush now, not at the next interval
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            try:
                self.flush()
            except OSError:  # storage fault: reported by flush, retried next time
                pass
            except Exception as exc:  # keep serving; one line, rate-limited
                self._errors.report(f"writing the prediction log failed: {_one_line(exc)}")

    def flush(self) -> None:
        """Write every queued row; a row that cannot be stored is quarantined. On a storage
        fault (OSError: disk full, folder unwritable) the rows stay queued, the writer is
        `degraded`, and the OSError propagates; the next flush retries."""
        with self._write_lock:
            if self._replay_due:
                self._replay()
            with self._lock:
                frames, self._pending = self._pending, []
                rows, size = self._pending_rows, self._pending_bytes
                sealed = [] if self.journal is None else self.journal.rotate()
            self._unreleased.extend(sealed)
            quarantined = self.quarantined_rows
            try:
                if frames:
                    self._write_items(frames)
            except OSError as exc:
                left = sum(len(f) for f in frames)  # those written alone were taken out
                left_bytes = sum(approx_bytes(f) for f in frames)
                with self._lock:  # put the rest back so nothing answered is lost
                    self._pending = frames + self._pending
                    self._pending_rows -= rows - left
                    self._pending_bytes -= size - left_bytes
                    self.written_rows += rows - left - (self.quarantined_rows - quarantined)
                self._storage_fault(exc, "write")
                raise
            with self._lock:
                self._pending_rows -= rows
                self._pending_bytes -= size
                self.written_rows += rows - (self.quarantined_rows - quarantined)
            Journal.release(self._unreleased)
            self._unreleased = []
            self._recovered()
        if frames:
            _release_freed_memory()

    def _write_items(self, items: list[pd.DataFrame | LoggedRequest]) -> None:
        """Write `items`; those that cannot be stored are quarantined (counted in
        `quarantined_rows`). On a storage fault the OSError propagates with `items` holding
        what is not written yet."""
        try:
            self._write(pd.concat(_frames(items), ignore_index=True))
            return
        except OSError:
            raise
        except Exception as exc:
            if len(items) == 1:
                quarantine(self.root, self.model, items[0], _one_line(exc))
                with self._lock:
                    self.quarantined_rows += len(items[0])
                self._errors.report(
                    f"quarantined {len(items[0])} prediction-log row(s) that cannot be "
                    f"stored ({_one_line(exc)}) in {quarantine_dir(self.root, self.model)}"
                )
                return
        while items:  # the batch holds a bad item: each alone, so only it is set aside
            self._write_items(items[:1])
            del items[0]  # done: a storage fault later must not queue it again

    def _write(self, frame: pd.DataFrame) -> None:
        write_log(self.root, self.model, frame, before_write=lambda: faults.check("predlog.write"))

    def _replay(self) -> None:
        """Write the journal segments a dead server left (any durability: a server may have
        run with `request` before) into the log, then delete them."""
        orphans = Journal(journal_dir(self.root, self.model)).orphans()
        try:
            for segment in orphans:
                items: list[pd.DataFrame | LoggedRequest] = []
                for record in read_segment(segment.path):
                    try:
                        items.append(decode(record))
                    except Exception as exc:  # a record this version cannot read
                        bad = pd.DataFrame([{"record": json.dumps(record, default=str)}])
                        quarantine(self.root, self.model, bad, _one_line(exc))
                rows, quarantined = sum(len(i) for i in items), self.quarantined_rows
                if items:
                    self._write_items(items)
                Journal.release([segment])
                rows -= self.quarantined_rows - quarantined
                self.replayed_rows += rows
                if rows:
                    log.warning(
                        "replayed %d answered prediction(s) from %s into the prediction log",
                        rows,
                        segment.path.name,
                    )
        except OSError as exc:
            for segment in orphans:  # unlock: retried at the next flush
                if segment.path.exists():
                    os.close(segment.fd)
            self._storage_fault(exc, "replay")
            raise
        self._replay_due = False

    def _storage_fault(self, exc: OSError, what: str) -> None:
        text = f"prediction log {what} failed: {_one_line(exc)}; {self._pending_rows} row(s) queued"
        first = self.degraded is None
        self._faults.report(
            text + (" (retried every flush; answers go on)" if first else ""), first
        )
        self.degraded = text

    def _recovered(self) -> None:
        if self.degraded is not None:
            self.degraded = None
            log.warning("prediction log writable again: every queued row is written")

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        try:
            self.flush()
        except OSError:
            kept = (
                "kept in the journal, replayed by the next server to start"
                if self.journal is not None
                else "lost: the disk refused them (serve.log_durability: request keeps them)"
            )
            log.error(
                "prediction log: %d row(s) not written at shutdown, %s", self._pending_rows, kept
            )


class _OneLine:
    """At most one log line per `every` seconds for a repeated failure (with the count)."""

    def __init__(self, logger: logging.Logger, every: float) -> None:
        self.logger = logger
        self.every = every
        self._last = -float("inf")
        self._skipped = 0

    def report(self, text: str, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.every:
            self._skipped += 1
            return
        more = f" (and {self._skipped} more since the last report)" if self._skipped else ""
        self.logger.error("%s%s", text, more)
        self._last, self._skipped = now, 0


def _release_freed_memory() -> None:
    """Hand the memory freed by a flush back to the OS: Arrow's pool (mimalloc by default
    in pyarrow's wheels) and glibc's heap (`malloc_trim`).

    A flush builds a DataFrame, Arrow tables and a Parquet file out of seconds of requests
    and frees them; both allocators keep the freed pages, so a server's RSS ratchets up
    with the largest flush it has seen. Measured here on one flush of 66,000 churn rows
    (two seconds of 100-row requests at 330 req/s): mimalloc kept ~47 MiB after it until
    `release_unused` (~0.4–14 ms); `malloc_trim` ~0.1 ms (churn example, one short load of
    every cell: 313 -> 303 MiB). Both run in the writer's thread. Elsewhere than glibc the
    trim does nothing."""
    global _trim
    arrow = sys.modules.get("pyarrow")  # imported by the flush that wrote Parquet
    if arrow is not None:
        arrow.default_memory_pool().release_unused()
    if _trim is None:
        import ctypes
        import ctypes.util

        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _trim = libc.malloc_trim
        except (OSError, AttributeError):
            _trim = False
    if _trim:
        _trim(0)


_trim: Any = None  # glibc's malloc_trim once looked up; False where there is none


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text[:200]}"
