"""Batch prediction on Spark (`stack.engine: spark`, or `opsloop predict --engine spark`):
the same contract check, output and prediction-log layout as the DuckDB path, with the
scoring spread over Spark's Python workers by `mapInArrow`.

1. The input (Parquet or CSV files, a glob or folder, a DataFrame, or `sql:` — a Spark SQL
   query over the session's catalog) is read by Spark; its schema, in DuckDB's type names,
   goes through the same `contract.check_input` before anything is scored.
2. The verified scorer (`scoring.scorer_for`: the compiled path where registration proved
   it) is pickled once on the driver and broadcast; each Python worker unpickles it once
   (`spark_worker.py` keeps it per run) and scores Arrow record batches — numbers straight
   from Arrow, text as Arrow's dictionary codes, no pandas round-trip on the compiled path.
3. One Spark job reads and scores; each task writes its partition's output rows and
   prediction-log rows itself (the DuckDB path's row builders and Parquet writer, so the
   same columns and types), into one file of each of two hidden folders — the run's
   `<output>/.run=<id>.tmp/` and one beside the log partition — and hands Spark back one
   summary row (partition, rows): the scored rows never cross back into the JVM. The
   driver adds up the summaries (no file is read) and checks that every partition that
   scored rows left both its files (a retried task rewrites the same names). The renames
   that put the run folder in place and the log files into their `date=/hour=` partition
   (one answer time per run) are returned, recorded with the run and applied after it, as
   for DuckDB (`sinks.py`): a failed or killed run leaves only hidden files.

The output and log roots must be paths the driver and every executor see (local on
`local[*]`; a shared file system on a cluster).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsloop.batch.contract import check_input
from opsloop.batch.rows import RunRows
from opsloop.batch.scoring import ArrowScorer, Scored, scorer_for
from opsloop.batch.spark_worker import TaskPlan
from opsloop.data.predlog import partition_dir
from opsloop.errors import InvalidInputError

if TYPE_CHECKING:
    from collections.abc import Callable

    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

    from opsloop.monitor.datasets import DataInput, Source
    from opsloop.runtime import Runtime

# Spark's type names (`DataFrame.dtypes`) as DuckDB names them, for the contract check
_DUCK_TYPES = {
    "tinyint": "TINYINT",
    "smallint": "SMALLINT",
    "int": "INTEGER",
    "bigint": "BIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "string": "VARCHAR",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
    "timestamp_ntz": "TIMESTAMP",
    "binary": "BLOB",
}


def duck_type(spark_type: str) -> str:
    if spark_type.startswith("decimal"):
        return spark_type.upper()
    return _DUCK_TYPES.get(spark_type, spark_type.upper())


def read_input(spark: SparkSession, data: DataInput) -> tuple[Source, DataFrame]:
    """`data` as a Spark DataFrame, and what it is (label, files) for the run record."""
    import pandas as pd

    from opsloop.engines.spark import merged_schema
    from opsloop.monitor.datasets import CSV, SQL_PREFIX, Source, input_files

    if isinstance(data, pd.DataFrame):
        return Source("", f"DataFrame ({len(data)} rows)"), spark.createDataFrame(data)
    if not isinstance(data, str | os.PathLike):
        raise InvalidInputError(
            f"the input data is a {type(data).__name__}",
            expected="a path, a glob, sql:SELECT … or a pandas DataFrame",
        )
    text = os.fspath(data)
    if text.startswith(SQL_PREFIX):
        query = text[len(SQL_PREFIX) :].strip().rstrip(";")
        if not query:
            raise InvalidInputError("the input query is empty", expected="sql:SELECT … FROM …")
        return Source("", text), spark.sql(query)
    files = input_files(text, "input")
    if all(f.lower().endswith(CSV) for f in files):
        frame = spark.read.options(header=True, inferSchema=True).csv(files)
    else:  # the schema from the footers here: Spark starts no inference job
        frame = spark.read.schema(merged_schema(files)).parquet(*files)
    return Source("", text, tuple(files)), frame


def score_on_spark(
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
    """Score `data` with `version` on Spark into `out_root/run=<run_id>/` and the log under
    `log_root`, in Arrow batches of at most `batch_rows`; `found` hears the input as soon as
    it is read (for the failure record)."""
    from pyspark.sql import functions as F

    cfg = rt.config
    source, frame = read_input(spark, data)
    found(source)
    columns = {name: duck_type(t) for name, t in frame.dtypes}
    model = rt.registry.load(rt.model, version)
    check_input(
        columns,
        model.features,
        id_column=cfg.id_column,
        time_column=cfg.time_column,
        version=version,
        label=source.label,
    )
    scorer = scorer_for(model, rt.registry.get_version(rt.model, version).tags)
    answered = rt.now()
    # the Arrow batch size of `mapInArrow` (a SQL setting of the session opsloop owns)
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch_rows))
    picked = frame.select(
        F.col(cfg.id_column),
        F.col(cfg.time_column).cast("timestamp").alias(cfg.time_column),
        *[F.col(name) for name in model.feature_names],
    )
    run_tmp = out_root / f".run={run_id}.tmp"
    # the log files wait in a hidden folder of the partition they go to (same directory:
    # each rename is atomic, and the folder is hidden from every reader of the log)
    directory = partition_dir(log_root, rt.model, answered)
    log_tmp = directory / f".spark-{run_id}.tmp"
    plan = TaskPlan(
        token=f"{run_id}-{uuid.uuid4().hex[:6]}",
        rows=RunRows(
            rt.model,
            version,
            run_id,
            cfg.id_column,
            cfg.time_column,
            tuple(model.feature_names),
        ),
        answered=answered,
        prediction_type=_prediction_type(scorer, picked),
        output_dir=str(run_tmp),
        log_dir=str(log_tmp),
    )
    try:
        done = _scored(spark, picked, scorer, plan).collect()  # the one job
        rows = sum(int(r["rows"]) for r in done)
        written = sorted(int(r["partition"]) for r in done if r["rows"])
        for folder in (run_tmp, log_tmp):  # every task's files, or refuse (no gap)
            _check_files(folder, written)
        files = _tidy(run_tmp, "part-{:05d}.parquet")
        logged = sorted(log_tmp.glob("part-*.parquet"))
    except BaseException:
        shutil.rmtree(run_tmp, ignore_errors=True)
        shutil.rmtree(log_tmp, ignore_errors=True)
        raise
    final = out_root / f"run={run_id}"
    renames = [(str(run_tmp), str(final))]
    renames += [(str(p), str(directory / f"part-{uuid.uuid4().hex}.parquet")) for p in logged]
    return Scored(rows, final, files, rows, scorer, renames)


def _check_files(folder: Path, partitions: list[int]) -> None:
    """`folder` holds the file of each partition that scored rows (a lost task's file is a
    failed run, not a gap); the files of attempts that died are removed."""
    for stale in folder.glob(".part-*.tmp"):
        stale.unlink(missing_ok=True)
    found = sorted(int(p.stem.removeprefix("part-")) for p in folder.glob("part-*.parquet"))
    if found != partitions:
        raise RuntimeError(
            f"Spark's tasks scored partitions {partitions} but {folder} holds the files of {found}"
        )


def _tidy(folder: Path, name: str) -> int:
    """The part files renamed as `RunFolder` names them (numbered from 0); the folder made
    when no task wrote a file. The number of data files."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = sorted(folder.glob("part-*.parquet"))
    for i, part in enumerate(parts):
        part.rename(folder / name.format(i))
    return len(parts)


def _scored(
    spark: SparkSession, picked: DataFrame, scorer: ArrowScorer, plan: TaskPlan
) -> DataFrame:
    """`picked` scored by `mapInArrow`: each task writes its rows and returns its summary
    (`spark_worker.score_partition`)."""
    import cloudpickle

    from opsloop.batch.spark_worker import SUMMARY, score_partition

    payload = cloudpickle.dumps(scorer)
    # broadcast: each executor fetches the model once; Spark Connect has no SparkContext,
    # so there the bytes travel with the function (still unpickled once per worker)
    try:
        shipped: Any = spark.sparkContext.broadcast(payload)
    except Exception:
        shipped = payload

    def score(batches: Any) -> Any:
        return score_partition(batches, shipped, plan)

    return picked.mapInArrow(score, SUMMARY)


def _prediction_type(scorer: ArrowScorer, picked: DataFrame) -> pa.DataType:
    """The Arrow type of the version's predictions: from its input example (stored at
    registration), else from a few of the input's rows (one small Spark job)."""
    import pyarrow as pa

    from opsloop.batch.scoring import plain

    example = scorer.model.input_example
    if example is not None and not example.empty:
        pred, _ = scorer.model.predict_frame(example)
        return pa.array(plain(pred)).type
    sample = picked.limit(8).toArrow()
    if sample.num_rows == 0:
        return pa.float64()
    pred, _ = scorer.predict(sample.combine_chunks().to_batches()[0])
    return pa.array(plain(pred)).type
