"""Batch prediction on Spark (`stack.engine: spark`, or `opsloop predict --engine spark`):
the same contract check, output and prediction-log layout as the DuckDB path, with the
scoring spread over Spark's Python workers by `mapInArrow`.

1. The input (Parquet or CSV files, a glob or folder, a DataFrame, or `sql:` — a Spark SQL
   query over the session's catalog) is read by Spark; its schema, in DuckDB's type names,
   goes through the same `contract.check_input` before anything is scored.
2. The verified scorer (`scoring.scorer_for`: the compiled path where registration proved
   it) is pickled once on the driver and broadcast; each Python worker unpickles it once
   (`spark_worker.py` keeps it per run) and scores Arrow record batches — numbers straight
   from Arrow, no pandas round-trip on the compiled path.
3. One Spark job reads, scores and writes: Spark writes the output columns into
   `<output>/.run=<id>.tmp/`, and each task writes its partition's prediction-log rows
   into one file of a hidden folder beside the log (a retried task rewrites the same
   file). Then, on the driver, the rows of both are counted from the Parquet footers
   (they must agree). The renames that put the run folder in place and the log files
   into their `date=/hour=` partition (one answer time per run) are returned, recorded
   with the run and applied after it, as for DuckDB (`sinks.py`): a failed or killed run
   leaves only hidden files.

The output and log roots must be paths the driver and every executor see (local on
`local[*]`; a shared file system on a cluster).
"""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsloop.batch.contract import check_input
from opsloop.batch.score import BATCH_ROUTE
from opsloop.batch.scoring import ArrowScorer, Scored, scorer_for
from opsloop.data.predlog import partition_dir
from opsloop.errors import InvalidInputError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

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
    try:
        scored = _scored(spark, picked, scorer, rt.model, version, run_id, answered, log_tmp)
        scored.write.parquet(str(run_tmp))  # the one job: read, score, write both
        files = _tidy(run_tmp, "part-{:05d}.parquet")
        rows = _rows(run_tmp.glob("part-*.parquet"))
        logged = sorted(log_tmp.glob("part-*.parquet"))
        log_rows = _rows(logged)
        if log_rows != rows:  # a task's log file lost: refuse rather than record a gap
            raise RuntimeError(f"Spark wrote {rows} output rows but {log_rows} log rows")
    except BaseException:
        shutil.rmtree(run_tmp, ignore_errors=True)
        shutil.rmtree(log_tmp, ignore_errors=True)
        raise
    final = out_root / f"run={run_id}"
    renames = [(str(run_tmp), str(final))]
    renames += [(str(p), str(directory / f"part-{uuid.uuid4().hex}.parquet")) for p in logged]
    return Scored(rows, final, files, log_rows, scorer, renames)


def _rows(files: Iterable[Path]) -> int:
    import pyarrow.parquet as pq

    return sum(int(pq.ParquetFile(f).metadata.num_rows) for f in files)


def _tidy(folder: Path, name: str) -> int:
    """Spark's part files renamed as `RunFolder` names them; its markers and checksums
    removed. The number of data files."""
    for extra in [*folder.glob("_*"), *folder.glob(".*.crc")]:
        extra.unlink()
    parts = sorted(folder.glob("part-*.parquet"))
    for i, part in enumerate(parts):
        part.rename(folder / name.format(i))
    return len(parts)


def _scored(
    spark: SparkSession,
    picked: DataFrame,
    scorer: ArrowScorer,
    model: str,
    version: str,
    run_id: str,
    answered: datetime,
    log_tmp: Path,
) -> DataFrame:
    """`picked` scored by `mapInArrow`: the output rows (the log rows are written by the
    tasks, `spark_worker.score_batches`)."""
    import cloudpickle
    import pyarrow as pa
    from pyspark.sql.pandas.types import from_arrow_type
    from pyspark.sql.types import StructField, StructType

    from opsloop.batch.spark_worker import score_batches

    id_column, time_column = picked.columns[0], picked.columns[1]
    payload = cloudpickle.dumps(scorer)
    prediction = _prediction_type(scorer, picked)
    fields = {f.name: f for f in picked.schema.fields}
    text = from_arrow_type(pa.string())
    schema = StructType(
        [
            fields[id_column],
            StructField(time_column, from_arrow_type(pa.timestamp("us", tz="UTC"))),
            StructField("prediction", from_arrow_type(prediction)),
            StructField("score", from_arrow_type(pa.float64())),
            StructField("model", text),
            StructField("version", text),
            StructField("run_id", text),
        ]
    )
    # broadcast: each executor fetches the model once; Spark Connect has no SparkContext,
    # so there the bytes travel with the function (still unpickled once per worker)
    try:
        shipped: Any = spark.sparkContext.broadcast(payload)
    except Exception:
        shipped = payload
    meta = {
        "token": f"{run_id}-{uuid.uuid4().hex[:6]}",
        "request_id": f"batch-{run_id}",
        "answered": answered,
        "version": version,
        "route": BATCH_ROUTE,
        "id_column": id_column,
        "time_column": time_column,
        "model": model,
        "run_id": run_id,
        "prediction_type": prediction,
        "log_tmp": str(log_tmp),
    }

    def score(batches: Any) -> Any:
        return score_batches(batches, shipped, meta)

    return picked.mapInArrow(score, schema)


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
