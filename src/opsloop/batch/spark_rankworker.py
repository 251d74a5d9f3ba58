"""What runs inside Spark's Python workers for a ranking run (`batch/spark_ranking.py`).

The recommender and its context (`Shipment`) are unpickled once per worker process and run
(`spark_worker.loaded`, kept by the run's token). Each task asks the recommender for the
lists of its partition's users, one call per Arrow batch, and writes the output and log
rows itself (`rankrows.py`, `spark_worker`'s part files: a retried task writes the same
names again); Spark gets back one summary row per task (`SUMMARY`)."""

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

    from opsloop.batch.rankprep import Prepared
    from opsloop.batch.rankrows import RankRows

SUMMARY = "partition INT, rows BIGINT, users BIGINT, unknown BIGINT"


@dataclass(frozen=True, eq=False)
class Shipment:
    """What every worker needs of the run, pickled once on the driver and broadcast: the
    recommender, its context and the user ids it knows."""

    prepared: Prepared
    known: Any  # pandas Index


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

    shipment = cast("Shipment", loaded(plan.token, shipped))
    context = TaskContext.get()
    partition = context.partitionId() if context is not None else 0
    attempt = context.attemptNumber() if context is not None else 0
    output = _PartFile(Path(plan.output_dir), partition, attempt)
    log = _PartFile(Path(plan.log_dir), partition, attempt)
    rows = users = unknown = 0
    try:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            ids = batch.column(0)
            if ids.type != plan.user_type:  # e.g. Spark's large strings
                ids = ids.cast(plan.user_type)
            asked = ids.to_numpy(zero_copy_only=False)
            ranked = flatten(ids, shipment.prepared.recommend(asked))
            output.write(plan.rows.output(ranked))
            log.write(plan.rows.log(ranked, plan.answered))
            rows += ranked.rows
            users += batch.num_rows
            unknown += int((shipment.known.get_indexer(asked) < 0).sum())
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
        }
    )
