"""The request-durability journal of the prediction log (`serve.log_durability: request`).

Before a request is answered its log rows are appended as one JSON line to this process's
open segment and fsync'd (`Journal.append`): an answer the client saw survives a SIGKILL,
or a power loss, of the server. The rows also go to the writer's queue as in batch mode;
when a flush has written them to Parquet, the segments sealed at that flush are deleted
(`rotate` then `release`). A segment left by a process that died is replayed into the log by
the next server to start (`orphans`, `read_segment`).

Each live segment is held under an exclusive `flock` by its writer for as long as it exists,
so that servers sharing a log folder (`serve.workers > 1`, replicas on one disk) replay only
segments nobody holds. A torn last line (the process died inside a write, before the fsync
returned, so before the answer) is skipped on replay.
"""

from __future__ import annotations

import fcntl
import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from opsloop.serve import faults

if TYPE_CHECKING:
    import pandas as pd

    from opsloop.serve.logrows import LoggedRequest


@dataclass
class Segment:
    path: Path
    fd: int  # open, flock'd while the segment exists


def _array(values: Any) -> Any:
    if isinstance(values, np.ndarray):
        return values.tolist()  # object arrays (strings, mixed): orjson takes numbers only
    raise TypeError(f"{type(values).__name__} is not JSON serializable")


def encode(item: LoggedRequest) -> bytes:
    """One answered request as one JSON line (what `decode` turns into log rows)."""
    rows = item.rows
    record = {
        "request_id": item.request_id,
        "ts_us": round(item.ts * 1_000_000),
        "model_version": item.model_version,
        "route": item.route,
        "ids": list(item.prediction_ids),
        "event_us": None if rows.event_us is None else rows.event_us,
        "names": rows.names,
        "matrix": rows.matrix,
        "columns": None if rows.columns is None else [rows.columns[n] for n in rows.names],
        "prediction": item.prediction,
        "score": item.score,
    }
    return orjson.dumps(
        record, default=_array, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE
    )


def decode(record: dict[str, Any]) -> pd.DataFrame:
    """The log rows (the writer's layout, times as UTC microseconds) of one record."""
    import pandas as pd

    from opsloop.data.predlog import META_COLUMNS
    from opsloop.serve.rows import NO_EVENT_TIME

    ids = record["ids"]
    n = len(ids)
    ts = np.full(n, record["ts_us"], dtype=np.int64)
    event = ts if record["event_us"] is None else np.asarray(record["event_us"], dtype=np.int64)
    event = np.where(event == NO_EVENT_TIME, ts, event)
    names = record["names"]
    if record["matrix"] is not None:
        matrix = np.asarray(record["matrix"], dtype=np.float64).reshape(n, len(names))
        features = {name: matrix[:, j] for j, name in enumerate(names)}
    else:
        features = {name: record["columns"][j] for j, name in enumerate(names)}
    utc = "datetime64[us]"
    frame = pd.DataFrame(
        {
            "prediction_id": ids,
            "request_id": [record["request_id"]] * n,
            "ts": pd.DatetimeIndex(ts.astype(utc)).tz_localize("UTC"),
            "event_ts": pd.DatetimeIndex(event.astype(utc)).tz_localize("UTC"),
            "model_version": record["model_version"],
            "route": record["route"],
            **features,
            "prediction": record["prediction"],
            "score": np.nan if record["score"] is None else record["score"],
        }
    )
    assert set(META_COLUMNS) <= set(frame.columns)
    return frame


class Journal:
    """This process's segments in `directory` (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._current: Segment | None = None
        self._lock = threading.Lock()

    def append(self, line: bytes) -> None:
        """Write and fsync one record; raises OSError when the disk refuses it (the
        request must then not be answered)."""
        with self._lock:
            faults.check("predlog.journal")
            if self._current is None:
                self._current = self._open()
            fd = self._current.fd
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)

    def _open(self) -> Segment:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"seg-{os.getpid()}-{uuid.uuid4().hex[:12]}.jsonl"
        tmp = self.directory / f".{name}.tmp"  # locked before any replayer can see it
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.replace(tmp, self.directory / name)
        return Segment(self.directory / name, fd)

    def rotate(self) -> list[Segment]:
        """Seal the open segment: later appends go to a new one. Call while the records
        queued so far are taken for a flush (under the writer's queue lock)."""
        with self._lock:
            sealed, self._current = self._current, None
        return [] if sealed is None else [sealed]

    @staticmethod
    def release(segments: list[Segment]) -> None:
        """Delete segments whose records are all in the Parquet log (or quarantined)."""
        for segment in segments:
            segment.path.unlink(missing_ok=True)
            os.close(segment.fd)

    def orphans(self) -> list[Segment]:
        """Segments no live process holds (a dead server's), now held by this one."""
        found = []
        for path in sorted(self.directory.glob("seg-*.jsonl")) if self.directory.is_dir() else []:
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:  # released meanwhile by its owner
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # a live server's
                os.close(fd)
                continue
            found.append(Segment(path, fd))
        return found


def read_segment(path: Path) -> list[dict[str, Any]]:
    """The records of a segment; a torn or unreadable line (never answered) is skipped."""
    records = []
    for line in path.read_bytes().splitlines():
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records
