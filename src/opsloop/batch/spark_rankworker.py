"""What runs inside Spark's Python workers for a ranking run (`batch/spark_ranking.py`).

The recommender and its context (`Shipment`) are unpickled once per worker process and run
(`spark_worker.loaded`, kept by the run's token). Each task asks the recommender for the
lists of its partition's users, one call per Arrow batch, and writes the output and log
rows itself (`rankrows.py`, `spark_worker`'s part files: a retried task writes the same
names again); Spark gets back one summary row per task (`SUMMARY`), with the fallback list
the task's first call gave (`Prepared.recommend_with_fallback`), as Arrow IPC bytes.

A task scores on as many threads as Spark gave it cores (`TaskContext.cpus()`, one unless
`spark.task.cpus` says more): Spark already runs one task per core, so a recommender
scoring on every core of the machine in each task (TwoStageRecommender's default
`n_threads`) would oversubscribe them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from opsloop.batch.rankrows import flatten
from opsloop.batch.spark_worker import _PartFile, loaded

if TYPE_CHECKING:
    from datetime import datetime

    import pyarrow as pa
    from pyspark import TaskContext

    from opsloop.batch.rankprep import Prepared
    from opsloop.batch.rankrows import RankRows

SUMMARY = "partition INT, rows BIGINT, users BIGINT, unknown BIGINT, fallback BINARY"


@dataclass(frozen=True, eq=False)
class Shipment:
    """What every worker needs of the run, pickled once on the driver and broadcast: the
    recommender, its context and the user ids it knows (`Prepared`)."""

    prepared: Prepared


@dataclass(frozen=True)
class RankPlan:
    """What every task of a ranking run needs besides the shipment."""

    token: str
    rows: RankRows
    answered: datetime  # the log's `ts`: one answer time per run
    user_type: pa.DataType  # the output's user column (the input's, as the driver reads it)
    output_dir: str
    log_dir: str


def rank_partition(
    batches: Iterator[pa.RecordBatch], shipped: Any, plan: RankPlan
) -> Iterator[pa.RecordBatch]:
    """Each batch of user ids ranked and written to the partition's output and log files;
    then one summary row (`SUMMARY`)."""
    import pyarrow as pa
    from pyspark import TaskContext

    prepared = cast("Shipment", loaded(plan.token, shipped)).prepared
    context = TaskContext.get()
    partition = context.partitionId() if context is not None else 0
    attempt = context.attemptNumber() if context is not None else 0
    use_threads(prepared.recommender, _task_cores(context))
    output = _PartFile(Path(plan.output_dir), partition, attempt)
    log = _PartFile(Path(plan.log_dir), partition, attempt)
    rows = users = unknown = 0
    fallback: bytes | None = None
    try:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            ids = batch.column(0)
            if ids.type != plan.user_type:  # e.g. Spark's large strings
                ids = ids.cast(plan.user_type)
            asked = ids.to_numpy(zero_copy_only=False)
            if fallback is None:
                top, nobody = prepared.recommend_with_fallback(asked)
                fallback = to_ipc(prepared.fallback(plan.user_type, nobody))
            else:
                top = prepared.recommend(asked)
            ranked = flatten(ids, top)
            output.write(plan.rows.output(ranked))
            log.write(plan.rows.log(ranked, plan.answered))
            rows += ranked.rows
            users += batch.num_rows
            unknown += int((prepared.known.get_indexer(asked) < 0).sum())
        output.finish()
        log.finish()
    except BaseException:
        output.discard()
        log.discard()
        raise
    yield pa.RecordBatch.from_pydict(
        {
            "partition": pa.array([partition], pa.int32()),
            "rows": pa.array([rows], pa.int64()),
            "users": pa.array([users], pa.int64()),
            "unknown": pa.array([unknown], pa.int64()),
            "fallback": pa.array([fallback], pa.binary()),
        }
    )


def use_threads(recommender: Any, threads: int) -> None:
    """A recommender with an `n_threads` parameter (TwoStageRecommender) set to score on
    `threads` threads (this worker's unpickled copy: the driver's is untouched)."""
    if hasattr(recommender, "n_threads"):
        recommender.n_threads = threads


def _task_cores(context: TaskContext | None) -> int:
    """The cores Spark gave this task (`spark.task.cpus`; one by default)."""
    try:
        return max(1, int(context.cpus())) if context is not None else 1
    except (AttributeError, TypeError, ValueError):  # a PySpark without TaskContext.cpus
        return 1


def to_ipc(table: pa.Table) -> bytes:
    """`table` as Arrow IPC stream bytes (`from_ipc` reads them back)."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def from_ipc(data: bytes) -> pa.Table:
    import pyarrow as pa

    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()
