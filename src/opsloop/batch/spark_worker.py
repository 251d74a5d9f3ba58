"""What runs inside Spark's Python workers for a batch prediction (`batch/spark.py`): the
scorer unpickled once per worker process and run (kept by the run's token, so the tasks a
reused worker runs after the first pay nothing), then Arrow batches in, log rows out."""

from __future__ import annotations

import pickle
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from opsloop.batch.scoring import ArrowScorer

_scorers: dict[str, ArrowScorer] = {}
_lock = threading.Lock()
KEEP = 4  # scorers kept per worker (the newest runs')


def loaded(token: str, shipped: Any) -> ArrowScorer:
    """The run's scorer in this worker: unpickled from the broadcast (or the bytes) once."""
    with _lock:
        scorer = _scorers.get(token)
        if scorer is None:
            payload = shipped if isinstance(shipped, bytes) else shipped.value
            scorer = pickle.loads(payload)
            while len(_scorers) >= KEEP:
                _scorers.pop(next(iter(_scorers)))
            _scorers[token] = scorer
        return scorer


def loads() -> int:
    """Scorers held by this worker process (tests read it through a Spark job)."""
    return len(_scorers)


def plain(values: np.ndarray) -> Any:
    """Predictions as Arrow takes them (object arrays of numbers stay numbers)."""
    import numpy as np

    arr = np.asarray(values)
    return arr.tolist() if arr.dtype == object else arr


def score_batches(
    batches: Iterator[pa.RecordBatch], shipped: Any, meta: dict[str, Any]
) -> Iterator[pa.RecordBatch]:
    """Each input batch (id, time, features) as a batch of log rows plus the id as given."""
    import pyarrow as pa

    scorer = loaded(meta["token"], shipped)
    utc = pa.timestamp("us", tz="UTC")
    for batch in batches:
        n = batch.num_rows
        if n == 0:
            continue
        pred, score = scorer.predict(batch)
        ids = batch.column(meta["id_column"])
        columns: dict[str, Any] = {
            "prediction_id": ids.cast(pa.string()),
            "request_id": pa.repeat(pa.scalar(meta["request_id"]), n),
            "ts": pa.repeat(pa.scalar(meta["answered"], utc), n),
            "event_ts": batch.column(meta["time_column"]).cast(utc),
            "model_version": pa.repeat(pa.scalar(meta["version"]), n),
            "route": pa.repeat(pa.scalar(meta["route"]), n),
        }
        for name in scorer.model.feature_names:
            columns[name] = batch.column(name)
        columns["prediction"] = pa.array(plain(pred))
        columns["score"] = (
            pa.array(score, pa.float64()) if score is not None else pa.nulls(n, pa.float64())
        )
        columns["__opsloop_id"] = ids
        yield pa.RecordBatch.from_pydict(columns)
