"""`opsloop predict` / `Project.predict`: a registered version scores a data set in bounded
memory, into a run folder and the prediction log, recorded in the ops store.

1. The version: `version`, else the one holding `alias`, else the deployed one.
2. The input (a Parquet or CSV file, a glob, a folder of Parquet files, `sql:SELECT …` in
   DuckDB, or a DataFrame) is described by DuckDB and checked against the version's
   feature contract (`contract.py`) before a row is read: every bad column at once, nothing
   written.
3. DuckDB streams it as Arrow record batches (`fetch_record_batch`, one scan thread); each
   is scored on a worker thread (`workers.py`, one per core; `scoring.py`: the compiled
   path when verified) and written, in input order, to the run folder and the prediction
   log (`sinks.py`), both hidden until the end: memory stays flat in rows.
4. At the end the run is recorded (`batch_runs` + a `batch_predicted` event: rows,
   version, input fingerprint, output, seconds, rows/s, and the renames still to do) — the
   run's commit point — then the run folder and the log files are renamed into place and,
   with `publish`, the run is made the current output (`publish.py`). With an output
   table (`predict.output_table`, `--output-table`), the target is checked before a row
   is scored, and the run's files are copied into a table of their own in PostgreSQL
   (`pgtable.py`), committed before the record; publishing re-points the view readers
   query (`pgview.py`). A failure removes
   what was written and records the run as failed (`batch_failed`). A process killed
   before the record leaves only hidden temporary files, which no reader lists (a rerun
   scores the input again: its rows reach the log once); killed after it, the renames are
   finished by the next agent tick or batch prediction (`recover.py`).

Output rows: the id column, the time column (UTC), `prediction`, `score` (the positive
class's probability for binary classification, else null), `model`, `version`, `run_id`.
Rows may come out in another order than they went in (DuckDB reads files in parallel).

A `task: ranking` project's run (`ranking.py`) makes the top-k lists of every user of
the input instead (columns: the user, `rank`, the item, `score`, `model`, `version`,
`run_id`, plus the fallback list; `spark_ranking.py` on Spark); the record, renames,
output table and publication are the same.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from opsloop.artifacts import find_registration
from opsloop.batch.contract import check_input
from opsloop.batch.duck import connect as _connect
from opsloop.batch.duck import quoted as _quoted
from opsloop.batch.pgview import RunTable
from opsloop.batch.recover import finish_recorded
from opsloop.batch.rows import RunRows
from opsloop.batch.runrecord import copy_table, record_failed, record_succeeded
from opsloop.batch.scoring import ArrowScorer, Scored, scorer_for
from opsloop.batch.sinks import LogSink, RunFolder, apply_renames, discard_hidden
from opsloop.batch.workers import plan_for, scored_in_order
from opsloop.core.aliases import CHAMPION
from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.faults import crash_point
from opsloop.inference import PATH_TAG
from opsloop.store.records import BatchPublication, BatchRun

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from opsloop.config import StackConfig
    from opsloop.config.batch import OutputTable
    from opsloop.monitor.datasets import DataInput, Source
    from opsloop.registry.base import LoadedModel
    from opsloop.runtime import Runtime

Engine = Literal["duckdb", "spark"]

# (rows scored so far, rows in all, or None when the input does not say) after each batch
OnRows = Callable[[int, int | None], None]
DEFAULT_BATCH_ROWS = 65_536


@dataclass(frozen=True)
class PredictResult:
    """A finished batch prediction: its recorded run, the inference path used, and the
    publication when it was published."""

    run: BatchRun
    inference: str
    inference_reason: str
    log_rows: int
    publication: BatchPublication | None = None

    @property
    def output(self) -> Path:
        assert self.run.output is not None
        return Path(self.run.output)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run.to_dict(),
            "rows_per_second": self.run.rows_per_second,
            "inference": self.inference,
            "inference_reason": self.inference_reason,
            "log_rows": self.log_rows,
            "publication": None if self.publication is None else self.publication.to_dict(),
        }


def new_run_id(now: datetime) -> str:
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def resolve_version(rt: Runtime, version: str | None, alias: str | None) -> str:
    """`version` as given (checked with the registry unless the ops store recorded its
    registration); else the version holding `alias`; else the deployed one (or the champion
    alias when nothing is recorded as deployed)."""
    if version is not None and alias is not None:
        raise InvalidInputError(
            "give either a version or an alias, not both", fix="drop --version or --alias"
        )
    if version is not None:
        if find_registration(rt.store, rt.model, version).run_id is not None:
            return version  # the ops store registered it: no MLflow (the model cache may hold it)
        return str(rt.registry.get_version(rt.model, version).version)
    if alias is None:
        deployed = rt.store.find_deployment(rt.model)
        if deployed is not None:
            return deployed.version
    found = rt.registry.find_alias(rt.model, alias or CHAMPION)
    if found is None:
        raise NotFoundError(
            f"{rt.model!r} has no version "
            + (f"with the alias {alias!r}" if alias else "deployed"),
            fix="train and promote one (`opsloop train`), or pass --version",
        )
    return found.version


def _parquet_rows(found: Source) -> int | None:
    """Rows in all, from the Parquet footers (None for CSV, queries and DataFrames)."""
    if not found.files or not all(
        f.lower().endswith((".parquet", ".pq", ".parq")) for f in found.files
    ):
        return None
    import pyarrow.parquet as pq

    return sum(int(pq.ParquetFile(f).metadata.num_rows) for f in found.files)


@dataclass
class _Job:
    """One run's moving parts (so a failure can undo them)."""

    scorer: ArrowScorer
    folder: RunFolder
    log: LogSink
    rows: RunRows

    def write(
        self, batch: pa.RecordBatch, pred: np.ndarray, score: np.ndarray | None, answered: datetime
    ) -> None:
        """The scored `batch` into the run folder and the prediction log."""
        prediction, scores = self.rows.answers(pred, score, batch.num_rows)
        output, log = self.rows.tables(batch, prediction, scores, answered)
        self.folder.write(output)
        self.log.write(log, answered)


def run_predict(
    rt: Runtime,
    data: DataInput,
    output: str | os.PathLike[str],
    *,
    version: str | None = None,
    alias: str | None = None,
    publish: bool = False,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    on_rows: OnRows | None = None,
    actor: str | None = None,
    engine: Engine | None = None,
    output_table: OutputTable | None = None,
) -> PredictResult:
    """Score `data` with a version of the project's model into `output` (see the module
    docstring); the recorded run, published when `publish`. `engine`: DuckDB in this
    process, or Spark (`batch/spark.py`); default the stack's `engine`. `output_table`:
    also write the rows to this PostgreSQL table (`pgtable.py`)."""

    if batch_rows < 1:
        raise InvalidInputError(
            "the batch size must be a positive number of rows", got=str(batch_rows)
        )
    from opsloop.runtime import check_pipeline_task

    check_pipeline_task(rt.config, "predict")
    stack = _stack(rt)
    chosen_engine = engine or stack.engine
    ranking = rt.config.task == "ranking"
    who = actor or rt.actor
    out_root = Path(output).expanduser().resolve()
    # a run killed after its record: finish it first (and clear a dead run's hidden files)
    finish_recorded(rt, output_table, out_root)
    chosen = resolve_version(rt, version, alias)
    started = rt.now()
    t0 = time.perf_counter()
    run_id = new_run_id(started)
    seen: list[Source] = []
    try:
        if output_table is not None:  # before a row is scored: nothing written if it fails
            from opsloop.batch.pgconn import check_target

            check_target(output_table, rt.model)
        if chosen_engine == "spark":
            from opsloop.batch.spark import score_on_spark
            from opsloop.batch.spark_ranking import rank_on_spark
            from opsloop.engines.spark_session import get_session

            spark = get_session(stack.spark.master, stack.spark.conf)
            run_spark = rank_on_spark if ranking else score_on_spark
            scored = run_spark(
                rt,
                spark,
                data,
                out_root,
                Path(rt_log_root(rt)),
                run_id,
                chosen,
                seen.append,
                batch_rows,
            )
        elif ranking:
            from opsloop.batch.ranking import score_ranking

            log_root = Path(rt_log_root(rt))
            scored = score_ranking(
                rt, data, out_root, log_root, run_id, chosen, batch_rows, on_rows, seen
            )
        else:
            scored = _score_duckdb(rt, data, out_root, run_id, chosen, batch_rows, on_rows, seen)
    except BaseException as exc:
        record_failed(rt, run_id, chosen, seen[0] if seen else None, data, started, t0, exc, who)
        raise
    found, done = seen[0], scored.rows
    if on_rows is not None and chosen_engine == "spark":
        on_rows(done, done)
    table: RunTable | None = None
    try:
        if output_table is not None:  # committed before the record: see the module docstring
            table = copy_table(rt, output_table, run_id, scored, batch_rows)
        # `publish`: the intent, so that recovery publishes a run killed before it was
        details: dict[str, Any] = {"batch_rows": batch_rows, "alias": alias, "publish": publish}
        details["engine"] = chosen_engine
        if table is not None:
            details["table"] = table.to_dict()
        recorded = record_succeeded(rt, run_id, chosen, found, scored, started, t0, who, details)
    except BaseException as exc:
        if table is not None and output_table is not None:
            from opsloop.batch.pgtable import drop_run_table

            with contextlib.suppress(Exception):  # the original error is the one to report
                drop_run_table(output_table, run_id)
        discard_hidden(scored.renames)
        record_failed(rt, run_id, chosen, found, data, started, t0, exc, who)
        raise
    crash_point("batch.after_record")
    apply_renames(scored.renames)
    publication = None
    if publish:
        from opsloop.batch.publish import publish_run

        crash_point("batch.before_publish")
        publication = publish_run(rt, run_id, actor=who, output_table=output_table)
    return PredictResult(
        recorded, scored.scorer.path, scored.scorer.reason, scored.log_rows, publication
    )


def _score_duckdb(
    rt: Runtime,
    data: DataInput,
    out_root: Path,
    run_id: str,
    chosen: str,
    batch_rows: int,
    on_rows: OnRows | None,
    seen: list[Source],
) -> Scored:
    """Stream `data` through DuckDB in Arrow batches, scored in this process."""
    from threadpoolctl import threadpool_limits

    from opsloop.monitor.datasets import describe_source, source

    con = _connect()
    job: _Job | None = None
    try:
        found = source(data, "input", con)
        seen.append(found)
        columns = describe_source(con, found, "input")
        model = _load(rt, chosen)
        cfg = rt.config
        check_input(
            columns,
            model.features,
            id_column=cfg.id_column,
            time_column=cfg.time_column,
            version=chosen,
            label=found.label,
        )
        verdict = model.registered_inference  # the registration's, from the ops store
        tags = (
            {PATH_TAG: verdict.path}
            if verdict is not None
            else rt.registry.get_version(rt.model, chosen).tags
        )
        with threadpool_limits(limits=1, user_api="openmp"):  # 12 probe rows: no OpenMP team
            scorer = scorer_for(model, tags)
        job = _Job(
            scorer,
            RunFolder(out_root, run_id),
            LogSink(Path(rt_log_root(rt)), rt.model),
            RunRows(
                rt.model,
                chosen,
                run_id,
                cfg.id_column,
                cfg.time_column,
                tuple(model.feature_names),
            ),
        )
        total = _parquet_rows(found)
        wanted = [cfg.id_column, cfg.time_column, *model.feature_names]
        select = ", ".join(
            f"CAST({_quoted(c)} AS TIMESTAMPTZ) AS {_quoted(c)}"
            if c == cfg.time_column
            else _quoted(c)
            for c in wanted
        )
        # a RecordBatchReader (DuckDB 2's name for `fetch_record_batch`): streamed, not fetched
        reader = con.sql(f"SELECT {select} FROM {found.sql}").to_arrow_reader(batch_rows)
        done = 0
        # scored on worker threads (one OpenMP thread each), read and written here, in
        # order (workers.py; docs/benchmarks.md)
        batches = (b for b in reader if b.num_rows)
        with contextlib.closing(scored_in_order(batches, job.scorer.predict, plan_for())) as it:
            for batch, (pred, score) in it:
                job.write(batch, pred, score, rt.now())
                done += batch.num_rows
                if on_rows is not None:
                    on_rows(done, total)
        renames = job.folder.close() + job.log.close()
    except BaseException:
        if job is not None:
            job.folder.discard()
            job.log.discard()
        raise
    finally:
        con.close()
    return Scored(done, job.folder.final, job.folder.files, job.log.rows, job.scorer, renames)


def _load(rt: Runtime, version: str) -> LoadedModel:
    """The version from the project's model cache (a server's or an earlier batch
    prediction's copy: no MLflow), else from the registry with its artifact checked against
    the ops store's digest, then cached (`modelcache.py`)."""
    from opsloop.modelcache import project_cache

    return project_cache(rt).load(version)


def _stack(rt: Runtime) -> StackConfig:
    from opsloop.runtime import resolve_stack

    return resolve_stack(rt.config, rt.paths)


def project_path(rt: Runtime, text: str) -> str:
    """A path of `opsloop.yaml`, relative to the project folder (queries as they are)."""
    from opsloop.monitor.datasets import SQL_PREFIX

    if text.startswith(SQL_PREFIX):
        return text
    path = Path(text).expanduser()
    return str(path if path.is_absolute() else rt.root / path)


def run_configured(
    rt: Runtime, *, on_rows: OnRows | None = None, actor: str | None = None
) -> PredictResult:
    """The `predict:` section's job: its input, output, alias and `publish`."""
    cfg = rt.config.predict
    if cfg is None:
        from opsloop.errors import ConfigError

        raise ConfigError(
            "opsloop.yaml has no `predict:` section",
            expected="predict: {input: …, output: …}",
            fix="add one (docs/batch.md), or pass --input and --output",
        )
    return run_predict(
        rt,
        project_path(rt, cfg.input),
        project_path(rt, cfg.output),
        alias=cfg.alias,
        publish=cfg.publish,
        batch_rows=cfg.batch_rows,
        on_rows=on_rows,
        actor=actor,
        engine=cfg.engine,  # None: the stack's
        output_table=output_table_of(cfg.output_table),
    )


def output_table_of(text: str | None) -> OutputTable | None:
    """`--output-table` / `predict.output_table` parsed; InvalidInputError when malformed."""
    if text is None:
        return None
    from opsloop.config.batch import OUTPUT_TABLE_FORM, parse_output_table

    try:
        return parse_output_table(text)
    except ValueError as exc:
        raise InvalidInputError(
            f"the batch output table is not usable: {exc}",
            expected=OUTPUT_TABLE_FORM,
            fix="e.g. --output-table 'postgresql://opsloop@db/analytics?table=scores.churn'",
        ) from None


def rt_log_root(rt: Runtime) -> str:
    """The stack's prediction-log root (the server's)."""
    from opsloop.runtime import resolve_stack

    root = resolve_stack(rt.config, rt.paths).prediction_log
    assert root is not None
    return root
