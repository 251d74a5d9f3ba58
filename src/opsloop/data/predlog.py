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
"""

from __future__ import annotations

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
