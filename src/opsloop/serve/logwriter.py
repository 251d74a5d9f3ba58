"""The prediction-log writer: batches rows off the request path and appends them to
hive-partitioned Parquet (layout in `opsloop.data.predlog`).

Policy when the queue is full: the incoming batch is **dropped and counted**
(`dropped_rows`, the `opsloop_prediction_log_dropped_rows_total` metric, a warning at most
once per flush interval). Serving never blocks on logging; a full queue means the disk
cannot keep up and is visible in /metrics. On `close()` (server shutdown, SIGTERM) the
queue is flushed completely before the process exits.

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
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from opsloop.batch.logfile import write_log
from opsloop.serve.rows import NO_EVENT_TIME, ModelInput, event_times

log = logging.getLogger("opsloop.serve.log")


@dataclass(frozen=True, eq=False)
class LoggedRequest:
    """One answered request, to be logged (see `opsloop.data.predlog` for the layout)."""

    rows: ModelInput
    prediction_ids: Sequence[str]
    request_id: str
    ts: float  # time.time() when it was answered
    model_version: str
    route: str
    prediction: np.ndarray
    score: np.ndarray | None

    def __len__(self) -> int:
        return self.rows.n


def _same_shape(a: LoggedRequest, b: LoggedRequest) -> bool:
    return (
        a.model_version == b.model_version
        and a.rows.names == b.rows.names
        and (a.rows.matrix is None) == (b.rows.matrix is None)
        and (a.score is None) == (b.score is None)
    )


def requests_frame(requests: Sequence[LoggedRequest]) -> pd.DataFrame:
    """The log rows of requests answered by one version (same features), in order."""
    counts = [r.rows.n for r in requests]
    micros = np.repeat(
        np.array([round(r.ts * 1_000_000) for r in requests], dtype=np.int64), counts
    )
    events = event_times([r.rows for r in requests])
    if events is not None:
        events = np.where(events == NO_EVENT_TIME, micros, events)
    frame = pd.DataFrame(
        {
            "prediction_id": [i for r in requests for i in r.prediction_ids],
            "request_id": np.repeat(
                np.array([r.request_id for r in requests], dtype=object), counts
            ),
            "ts": _utc_us(micros),
            "event_ts": _utc_us(micros if events is None else events),
            "model_version": requests[0].model_version,
            "route": np.repeat(np.array([r.route for r in requests], dtype=object), counts),
        }
    )
    features = ModelInput.concat([r.rows for r in requests]).frame()
    frame = pd.concat([frame, features.set_axis(frame.index)], axis=1)
    frame["prediction"] = np.concatenate([r.prediction for r in requests])
    frame["score"] = (
        np.concatenate([r.score for r in requests if r.score is not None])
        if requests[0].score is not None
        else np.nan
    )
    return frame


def _utc_us(micros: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(micros.astype("datetime64[us]")).tz_localize("UTC")


def _frames(items: Sequence[pd.DataFrame | LoggedRequest]) -> list[pd.DataFrame]:
    """DataFrames as they are; runs of like requests as one frame each."""
    frames: list[pd.DataFrame] = []
    run: list[LoggedRequest] = []
    for item in items:
        if isinstance(item, LoggedRequest) and (not run or _same_shape(run[0], item)):
            run.append(item)
            continue
        if run:
            frames.append(requests_frame(run))
            run = []
        if isinstance(item, LoggedRequest):
            run.append(item)
        else:
            frames.append(item)
    if run:
        frames.append(requests_frame(run))
    return frames


class PredictionLogWriter:
    def __init__(
        self, root: Path, model: str, *, flush_interval: float = 2.0, max_queue_rows: int = 100_000
    ) -> None:
        self.root = Path(root)
        self.model = model
        self.flush_interval = flush_interval
        self.max_queue_rows = max_queue_rows
        self.dropped_rows = 0
        self.written_rows = 0
        self._pending: list[pd.DataFrame | LoggedRequest] = []
        self._pending_rows = 0
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_warning = 0.0

    @property
    def queued_rows(self) -> int:
        return self._pending_rows

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="opsloop-predlog", daemon=True)
            self._thread.start()

    def submit(self, frame: pd.DataFrame | LoggedRequest) -> bool:
        """Queue rows for the next flush; False (and counted) if the queue is full."""
        rows = len(frame)
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
            self._pending.append(frame)
            self._pending_rows += rows
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # keep serving; the next flush retries the failed batch
                log.exception("writing the prediction log failed")

    def flush(self) -> None:
        with self._write_lock:
            with self._lock:
                frames, self._pending = self._pending, []
                rows = self._pending_rows
            if not frames:
                return
            try:
                self._write(pd.concat(_frames(frames), ignore_index=True))
            except Exception:
                with self._lock:  # put it back so nothing answered is lost
                    self._pending = frames + self._pending
                raise
            with self._lock:
                self._pending_rows -= rows
                self.written_rows += rows

    def _write(self, frame: pd.DataFrame) -> None:
        write_log(self.root, self.model, frame)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.flush()
