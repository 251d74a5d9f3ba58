"""The rows of the prediction log built from answered requests (layout in
`opsloop.data.predlog`): `LoggedRequest` is what the server submits — the pieces of an
answered request as they are — and `requests_frame` builds the log rows of many at once, in
the writer's thread, off the request path. Used by the writer (serve/logwriter.py), the
journal (serve/logjournal.py) and the quarantine (serve/logquarantine.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from opsloop.serve.rows import NO_EVENT_TIME, ModelInput, event_times


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


# What an item costs while it waits for a flush, roughly: a NumPy array's header, a short
# Python string (a categorical value or a 32-character hex id) and its list/array slot.
_ARRAY_BYTES = 112
_STR_BYTES = 90


def approx_bytes(item: pd.DataFrame | LoggedRequest) -> int:
    """Memory an item of the log queue holds, roughly (an upper bound for short strings):
    array buffers plus a Python string per object value and per prediction id."""
    if isinstance(item, pd.DataFrame):
        strings = sum(1 for dtype in item.dtypes if dtype.kind == "O")
        return int(item.memory_usage(index=False).sum()) + _STR_BYTES * len(item) * strings
    rows = item.rows
    arrays = [item.prediction, item.score, rows.event_us, rows.matrix]
    if rows.columns is not None:
        arrays += list(rows.columns.values())
    total = _STR_BYTES * len(item.prediction_ids)
    for values in arrays:
        if values is None:
            continue
        total += _ARRAY_BYTES
        if isinstance(values, np.ndarray):
            total += values.nbytes + (_STR_BYTES * values.size if values.dtype == object else 0)
        else:  # a list or pandas Series of values
            total += _STR_BYTES * len(values)
    return total


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
