"""A ranking run on Spark (`predict.engine: spark`, `--engine spark`, or a Spark stack): the
DuckDB path's lists, fallback list, record and files (`ranking.py`), with the users spread
over Spark's Python workers by `mapInArrow`.

1. Spark reads the input (as `batch/spark.py` does); its user column is checked (present,
   no nulls — one small job that also counts the distinct users — and of the users table's
   kind) before the recommender and the context are loaded on the driver (`rankprep.py`).
2. The recommender, its context and the known user ids are pickled once and broadcast; each
   Python worker unpickles them once per run (`spark_rankworker.py`).
3. One job: the distinct user ids, in as many partitions as Spark has cores
   (`defaultParallelism`: each task's recommender builds its statistics of the history once
   per call, so a few large tasks beat many small ones), Arrow batches of at most
   `batch_rows` users. Each task scores on the cores Spark gave it (one), writes its own
   output and log files into the hidden folders of `batch/spark.py` and hands back
   (partition, rows, users, unknown, fallback): the fallback list its first call made
   with its users.
4. The driver writes the fallback list of the first partition that made one beside them
   (asking the recommender itself only when no task had users), and returns the renames,
   applied after the run is recorded, as for DuckDB.

Memory: every worker holds the whole context (the history window and both tables) besides
its batch's lists; the driver holds it too.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsloop.batch.rankprep import (
    check_no_nulls,
    check_user_column,
    prepare,
    ranked_run,
    ranking_of,
)
from opsloop.batch.scoring import Scored
from opsloop.batch.sinks import ParquetAppender
from opsloop.batch.spark import _check_files, _tidy, duck_type, read_input
from opsloop.batch.spark_rankworker import (
    SUMMARY,
    RankPlan,
    Shipment,
    from_ipc,
    rank_partition,
)
from opsloop.data.predlog import partition_dir
from opsloop.errors import DataValidationError

if TYPE_CHECKING:
    from collections.abc import Callable

    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

    from opsloop.monitor.datasets import DataInput, Source
    from opsloop.runtime import Runtime


def _arrow_type(spark_type: str, column: str, label: str) -> pa.DataType:
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "bigint": pa.int64(),
        "int": pa.int32(),
        "smallint": pa.int16(),
        "tinyint": pa.int8(),
    }
    if spark_type not in types:
        raise DataValidationError(
            f"the input {label!r} holds the user ids {column!r} as {spark_type}",
            expected="text or whole numbers",
            fix=f"cast them, e.g. sql:SELECT CAST({column} AS STRING) AS {column} FROM …",
        )
    return types[spark_type]


def _partitions(spark: SparkSession) -> int:
    try:
        return max(1, int(spark.sparkContext.defaultParallelism))
    except Exception:  # Spark Connect has no SparkContext
        return 2


def rank_on_spark(
    rt: Runtime,
    spark: SparkSession,
    data: DataInput,
    out_root: Path,
    log_root: Path,
    run_id: str,
    version: str,
    found: Callable[[Source], None],
    batch_rows: int,
) -> Scored:
    """The lists of every user of `data` by `version`, on Spark, into
    `out_root/run=<run_id>/` and the log under `log_root` (module docstring)."""
    from pyspark.sql import functions as F

    column = ranking_of(rt).user_column
    source, frame = read_input(spark, data)
    found(source)
    spark_types = dict(frame.dtypes)
    check_user_column({n: duck_type(t) for n, t in spark_types.items()}, column, source.label)
    user_type = _arrow_type(spark_types[column], column, source.label)
    nulls = frame.agg(F.sum(F.col(column).isNull().cast("long"))).first()
    check_no_nulls(int((nulls[0] if nulls is not None else 0) or 0), source.label, column)
    prepared = prepare(rt, version, run_id, duck_type(spark_types[column]), source.label)
    answered = rt.now()
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch_rows))
    users = frame.select(F.col(column)).distinct().coalesce(_partitions(spark))
    run_tmp = out_root / f".run={run_id}.tmp"
    directory = partition_dir(log_root, rt.model, answered)
    log_tmp = directory / f".spark-{run_id}.tmp"
    plan = RankPlan(
        f"{run_id}-{uuid.uuid4().hex[:6]}",
        prepared.rows,
        answered,
        user_type,
        str(run_tmp),
        str(log_tmp),
    )
    shipment = Shipment(prepared)
    try:
        done = _ranked(spark, users, shipment, plan).collect()  # the one job
        listed = sum(int(r["rows"]) for r in done)
        written = sorted(int(r["partition"]) for r in done if r["rows"])
        for folder in (run_tmp, log_tmp):  # every task's files, or refuse (no gap)
            _check_files(folder, written)
        made = [r["fallback"] for r in sorted(done, key=lambda r: int(r["partition"]))]
        made = [m for m in made if m is not None]
        fallback = from_ipc(bytes(made[0])) if made else prepared.fallback(user_type)
        run_tmp.mkdir(parents=True, exist_ok=True)
        appender = ParquetAppender(run_tmp / "part-fallback.parquet")
        appender.write(fallback)
        appender.close()
        files = _tidy(run_tmp, "part-{:05d}.parquet")
        logged = sorted(log_tmp.glob("part-*.parquet"))
    except BaseException:
        shutil.rmtree(run_tmp, ignore_errors=True)
        shutil.rmtree(log_tmp, ignore_errors=True)
        raise
    final = out_root / f"run={run_id}"
    renames = [(str(run_tmp), str(final))]
    renames += [(str(p), str(directory / f"part-{uuid.uuid4().hex}.parquet")) for p in logged]
    n_users = sum(int(r["users"]) for r in done)
    unknown = sum(int(r["unknown"]) for r in done)
    run = ranked_run(prepared, n_users, unknown, listed, fallback.num_rows)
    return Scored(run.rows, final, files, listed, prepared.scorer, renames, run)


def _ranked(spark: SparkSession, users: DataFrame, shipment: Shipment, plan: RankPlan) -> DataFrame:
    """`users` ranked by `mapInArrow`: each task writes its rows and returns its summary."""
    import cloudpickle

    payload = cloudpickle.dumps(shipment)
    try:  # broadcast: each executor fetches it once (Spark Connect: with the function)
        shipped: Any = spark.sparkContext.broadcast(payload)
    except Exception:
        shipped = payload

    def rank(batches: Any) -> Any:
        return rank_partition(batches, shipped, plan)

    return users.mapInArrow(rank, SUMMARY)
