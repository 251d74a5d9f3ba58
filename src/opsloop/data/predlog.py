"""The prediction-log layout, shared by the writer (serve/) and the readers (engines/).

Files are hive-partitioned Parquet::

    <root>/model=<name>/date=YYYY-MM-DD/hour=HH/part-<uuid>.parquet

Each row: ``prediction_id`` (string: the request's id-column value, else a generated id
returned to the caller), ``request_id`` (string), ``ts`` (timestamp, UTC: when it was
answered; the partitions are by ``ts``), ``event_ts`` (timestamp, UTC: the event's time —
the request record's ``time_column`` value, else ``ts``; files written before it existed
lack the column and are read with ``event_ts = ts``), ``model_version`` (string),
``route`` (``stable`` today; ``candidate``/``shadow`` with rollouts; ``batch`` for batch
scoring, `opsloop.batch`), ``prediction`` (the predicted class or value), ``score``
(float: the positive class probability for binary classification, else null), then one
column per feature with its native type. The ``model=``, ``date=`` and ``hour=``
directories are for pruning only: readers do not turn them into columns, so features may
be named ``model``, ``date`` or ``hour``. ``ts`` is written in microseconds, UTC, whatever
precision and time zone it came with (naive times are UTC); readers cast it so, too, for
files from elsewhere.

Labels live beside it::

    <labels_root>/part-<uuid>.parquet   columns: prediction_id (string), label, label_ts

Two folders of the writer's own sit under the root, outside any reader's glob::

    <root>/_quarantine/model=<name>/batch-<UTC time>-<rows>-<id>.json
    <root>/_journal/model=<name>/seg-<pid>-<id>.jsonl

A quarantined batch is one the writer could not store as Parquet (e.g. text UTF-8 cannot
encode): kept as JSON (`error`, `rows`: one object per log row, non-UTF-8 text escaped) so
nothing answered is silently gone and the rows behind it are written. The journal holds the
answered requests of `serve.log_durability: request` (one fsync'd JSON line each) until
they are in the Parquet log; a server replays the segments no live server holds on start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from opsloop.config.monitor import Clock

META_COLUMNS = (
    "prediction_id",
    "request_id",
    "ts",
    "event_ts",
    "model_version",
    "route",
    "prediction",
    "score",
)
LABEL_COLUMNS = ("prediction_id", "label", "label_ts")
# a reader's column for the hour of `ts` (the partition a row was written to)
HOUR_KEY = "__opsloop_hour"
# a reader's column for the index of the window a row falls in (a series of windows)
WINDOW_KEY = "__opsloop_window"
# what a feature may not be named: the log's own columns, the labels', a reader's
RESERVED_NAMES = frozenset({*META_COLUMNS, *LABEL_COLUMNS, HOUR_KEY, WINDOW_KEY})
CLOCK_COLUMNS: dict[Clock, str] = {"event": "event_ts", "answered": "ts"}


def clock_column(clock: Clock) -> str:
    """The log column a window is chosen by under `monitor.clock`."""
    return CLOCK_COLUMNS[clock]


def partition_dir(root: Path, model: str, ts: datetime) -> Path:
    return root / f"model={model}" / f"date={ts:%Y-%m-%d}" / f"hour={ts:%H}"


QUARANTINE = "_quarantine"
JOURNAL = "_journal"


def quarantine_dir(root: Path, model: str) -> Path:
    return root / QUARANTINE / f"model={model}"


def journal_dir(root: Path, model: str) -> Path:
    return root / JOURNAL / f"model={model}"


def quarantine_name(stamp: datetime, rows: int, token: str) -> str:
    return f"batch-{stamp:%Y%m%dT%H%M%S}-{rows}-{token}.json"


@dataclass(frozen=True)
class LogHealth:
    """What is on disk beside the prediction log of one model (`opsloop status`)."""

    quarantine: str  # the folder of quarantined batches
    quarantined_batches: int
    quarantined_rows: int
    journal_segments: int  # request-durability segments not yet in the Parquet log


def log_health(root: Path, model: str) -> LogHealth:
    """Counts from file names only (no file is opened), so `status` stays fast."""
    folder = quarantine_dir(root, model)
    batches = sorted(folder.glob("batch-*.json")) if folder.is_dir() else []
    rows = 0
    for path in batches:
        parts = path.stem.split("-")
        rows += int(parts[2]) if len(parts) == 4 and parts[2].isdigit() else 0
    journal = journal_dir(root, model)
    segments = len(list(journal.glob("seg-*.jsonl"))) if journal.is_dir() else 0
    return LogHealth(str(folder), len(batches), rows, segments)
