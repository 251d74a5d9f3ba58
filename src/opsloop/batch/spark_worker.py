"""What runs inside Spark's Python workers for a batch prediction (`batch/spark.py`).

The scorer is unpickled once per worker process and run (kept by the run's token, so the
tasks a reused worker runs after the first pay nothing). Each task scores its partition's
Arrow batches and writes the rows itself, with the DuckDB path's row builders and Parquet
writer (`rows.py`, `sinks.ParquetAppender`): one output file and one log file per
partition, under names of this attempt until the partition is done, then renamed to
`part-<partition>.parquet` (a retried task writes the same name again: a retry never
duplicates rows). Spark gets back one summary row per task (partition, rows), not the
scored rows: nothing of the output crosses back into the JVM."""

from __future__ import annotations

import os
import pickle
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsloop.batch.sinks import ParquetAppender

if TYPE_CHECKING:
    from datetime import datetime

    import pyarrow as pa

    from opsloop.batch.rows import RunRows
    from opsloop.batch.scoring import ArrowScorer

_scorers: dict[str, ArrowScorer] = {}
_lock = threading.Lock()
KEEP = 4  # scorers kept per worker (the newest runs')
SUMMARY = "partition INT, rows BIGINT"  # what each task hands back (Spark's DDL)


@dataclass(frozen=True)
class TaskPlan:
    """What every task of a run needs besides the scorer (pickled with the function)."""

    token: str  # the run's scorer in a worker's cache
    rows: RunRows
    answered: datetime  # the log's `ts`: one answer time per run
    prediction_type: pa.DataType
    output_dir: str  # the run's hidden output folder
    log_dir: str  # the hidden folder beside the log partition the files go to


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


class _PartFile:
    """A task's Parquet file in `folder`: written as this attempt's, renamed when done."""

    def __init__(self, folder: Path, partition: int, attempt: int) -> None:
        self.final = folder / f"part-{partition:05d}.parquet"
        self.appender = ParquetAppender(folder / f".part-{partition:05d}-{attempt}.parquet.tmp")

    def write(self, table: pa.Table) -> None:
        if self.appender.rows == 0:
            self.final.parent.mkdir(parents=True, exist_ok=True)
        self.appender.write(table)

    def finish(self) -> None:
        self.appender.close()
        if self.appender.rows:
            os.replace(self.appender.path, self.final)

    def discard(self) -> None:
        self.appender.close()
        self.appender.path.unlink(missing_ok=True)


def score_partition(
    batches: Iterator[pa.RecordBatch], shipped: Any, plan: TaskPlan
) -> Iterator[pa.RecordBatch]:
    """Each input batch (id, time, features) scored and written to the partition's output
    and log files; then one summary row (`SUMMARY`)."""
    import pyarrow as pa
    from pyspark import TaskContext

    scorer = loaded(plan.token, shipped)
    context = TaskContext.get()
    partition = context.partitionId() if context is not None else 0
    attempt = context.attemptNumber() if context is not None else 0
    output = _PartFile(Path(plan.output_dir), partition, attempt)
    log = _PartFile(Path(plan.log_dir), partition, attempt)
    rows = 0
    try:
        for batch in batches:
            n = batch.num_rows
            if n == 0:
                continue
            pred, score = scorer.predict(batch)
            prediction, scores = plan.rows.answers(pred, score, n, plan.prediction_type)
            out, logged = plan.rows.tables(batch, prediction, scores, plan.answered)
            output.write(out)
            log.write(logged)
            rows += n
        output.finish()
        log.finish()
    except BaseException:
        output.discard()
        log.discard()
        raise
    yield pa.RecordBatch.from_pydict(
        {"partition": pa.array([partition], pa.int32()), "rows": pa.array([rows], pa.int64())}
    )
