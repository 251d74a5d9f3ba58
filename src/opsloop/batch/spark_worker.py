"""What runs inside Spark's Python workers for a batch prediction (`batch/spark.py`): the
scorer unpickled once per worker process and run (kept by the run's token, so the tasks a
reused worker runs after the first pay nothing), then Arrow batches in, log rows out."""

from __future__ import annotations

import pickle
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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


def score_batches(
    batches: Iterator[pa.RecordBatch], shipped: Any, meta: dict[str, Any]
) -> Iterator[pa.RecordBatch]:
    """Each input batch (id, time, features) scored: the output rows are yielded (Spark
    writes them), the log rows written by this task to one file per partition of the input,
    `<log_tmp>/part-<partition>.parquet`, renamed into place when the partition is done.
    A retried task writes the same name again, so a retry never duplicates log rows."""
    import os
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark import TaskContext

    from opsloop.batch.scoring import plain

    scorer = loaded(meta["token"], shipped)
    utc = pa.timestamp("us", tz="UTC")
    context = TaskContext.get()
    partition = context.partitionId() if context is not None else 0
    attempt = context.attemptNumber() if context is not None else 0
    folder = Path(meta["log_tmp"])
    tmp = folder / f".part-{partition:05d}-{attempt}.parquet.tmp"
    writer: pq.ParquetWriter | None = None
    try:
        for batch in batches:
            n = batch.num_rows
            if n == 0:
                continue
            pred, score = scorer.predict(batch)
            prediction = pa.array(plain(pred), meta["prediction_type"])
            scores = (
                pa.array(score, pa.float64()) if score is not None else pa.nulls(n, pa.float64())
            )
            ids = batch.column(meta["id_column"])
            event = batch.column(meta["time_column"]).cast(utc)
            log: dict[str, Any] = {
                "prediction_id": ids.cast(pa.string()),
                "request_id": pa.repeat(pa.scalar(meta["request_id"]), n),
                "ts": pa.repeat(pa.scalar(meta["answered"], utc), n),
                "event_ts": event,
                "model_version": pa.repeat(pa.scalar(meta["version"]), n),
                "route": pa.repeat(pa.scalar(meta["route"]), n),
            }
            for name in scorer.model.feature_names:
                log[name] = batch.column(name)
            log["prediction"], log["score"] = prediction, scores
            table = pa.table(log)
            if writer is None:
                folder.mkdir(parents=True, exist_ok=True)
                writer = pq.ParquetWriter(tmp, table.schema, compression="snappy")
            writer.write_table(table.cast(writer.schema))
            yield pa.RecordBatch.from_pydict(
                {
                    meta["id_column"]: ids,
                    meta["time_column"]: event,
                    "prediction": prediction,
                    "score": scores,
                    "model": pa.repeat(pa.scalar(meta["model"]), n),
                    "version": pa.repeat(pa.scalar(meta["version"]), n),
                    "run_id": pa.repeat(pa.scalar(meta["run_id"]), n),
                }
            )
    except BaseException:
        if writer is not None:
            writer.close()
            tmp.unlink(missing_ok=True)
        raise
    if writer is not None:
        writer.close()
        os.replace(tmp, folder / f"part-{partition:05d}.parquet")
