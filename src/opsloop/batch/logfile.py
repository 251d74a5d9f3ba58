"""Appending rows in the prediction-log layout (`opsloop.data.predlog`): one Parquet file
per (date, hour) partition of the answer time `ts`, written under a temporary name and
renamed, so readers never see a partial file. Shared by the server's writer and batch
scoring."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from opsloop.data.predlog import partition_dir

if TYPE_CHECKING:
    import pandas as pd


def with_times(frame: pd.DataFrame) -> pd.DataFrame:
    """`ts` and `event_ts` as UTC microsecond timestamps (`event_ts = ts` where missing),
    `event_ts` right after `ts`."""
    import pandas as pd

    ts = pd.to_datetime(frame["ts"], utc=True).astype("datetime64[us, UTC]")
    if "event_ts" in frame.columns:
        event = pd.to_datetime(frame["event_ts"], utc=True).astype("datetime64[us, UTC]")
        event = event.fillna(ts)
    else:
        event = ts
    frame = frame.assign(ts=ts, event_ts=event)
    columns = list(frame.columns)  # event_ts next to ts
    columns.remove("event_ts")
    columns.insert(columns.index("ts") + 1, "event_ts")
    return frame[columns]


def write_log(
    root: Path, model: str, frame: pd.DataFrame, before_write: Callable[[], None] | None = None
) -> int:
    """Append `frame` (log rows) to the prediction log of `model` under `root`; the rows
    written. Every partition is converted to Arrow before any file is written, so a row
    Arrow refuses writes nothing; `before_write` runs between the two (a fault hook)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    if frame.empty:
        return 0
    frame = with_times(frame)
    hours = frame["ts"].dt.floor("h")
    tables = [
        (hour, pa.Table.from_pandas(part.reset_index(drop=True), preserve_index=False))
        for hour, part in frame.groupby(hours, sort=True)
    ]
    if before_write is not None:
        before_write()
    for hour, table in tables:
        directory = partition_dir(Path(root), model, pd.Timestamp(hour).to_pydatetime())
        directory.mkdir(parents=True, exist_ok=True)
        name = f"part-{uuid.uuid4().hex}.parquet"
        tmp = directory / f".{name}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, directory / name)
    return len(frame)
