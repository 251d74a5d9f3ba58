"""`opsloop predict` / `Project.predict`: a registered version scores a data set in bounded
memory, into a run folder and the prediction log, recorded in the ops store.

1. The version: `version`, else the one holding `alias`, else the deployed one.
2. The input (a Parquet or CSV file, a glob, a folder of Parquet files, `sql:SELECT …` in
   DuckDB, or a DataFrame) is described by DuckDB and checked against the version's
   feature contract (`contract.py`) before a row is read: every bad column at once, nothing
   written.
3. DuckDB streams it as Arrow record batches (`fetch_record_batch`, one scan thread); each
   is scored (`scoring.py`: the compiled path when verified) and written to the run folder
   and the prediction log (`sinks.py`), both hidden until the end: memory stays flat in
   rows.
4. At the end the run is recorded (`batch_runs` + a `batch_predicted` event: rows,
   version, input fingerprint, output, seconds, rows/s, and the renames still to do) — the
   run's commit point — then the run folder and the log files are renamed into place and,
   with `publish`, the run is made the current output (`publish.py`). A failure removes
   what was written and records the run as failed (`batch_failed`). A process killed
   before the record leaves only hidden temporary files, which no reader lists (a rerun
   scores the input again: its rows reach the log once); killed after it, the renames are
   finished by the next agent tick or batch prediction (`recover.py`).

Output rows: the id column, the time column (UTC), `prediction`, `score` (the positive
class's probability for binary classification, else null), `model`, `version`, `run_id`.
Rows may come out in another order than they went in (DuckDB reads files in parallel).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from opsloop.batch.contract import check_input
from opsloop.batch.recover import finish_recorded
from opsloop.batch.rows import RunRows
from opsloop.batch.scoring import ArrowScorer, Scored, scorer_for
from opsloop.batch.sinks import LogSink, RunFolder, apply_renames, discard_hidden
from opsloop.core.aliases import CHAMPION
from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.faults import crash_point
from opsloop.store.records import BatchPublication, BatchRun, NewBatchRun, NewEvent

if TYPE_CHECKING:
    import duckdb
    import numpy as np
    import pyarrow as pa

    from opsloop.config import StackConfig
    from opsloop.monitor.datasets import DataInput, Source
    from opsloop.runtime import Runtime

Engine = Literal["duckdb", "spark"]

# (rows scored so far, rows in all, or None when the input does not say) after each batch
OnRows = Callable[[int, int | None], None]
DEFAULT_BATCH_ROWS = 65_536
SCAN_THREADS = 1
MEMORY_LIMIT = "1GB"  # DuckDB's; the scan streams, this caps a runaway query


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
    """`version` as given; else the version holding `alias`; else the deployed one (or
    the champion alias when nothing is recorded as deployed)."""
    if version is not None and alias is not None:
        raise InvalidInputError(
            "give either a version or an alias, not both", fix="drop --version or --alias"
        )
    if version is not None:
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


def fingerprint(found: Source) -> str:
    """The input as named: each file's path, size and modification time (no content read),
    or the query's text / the DataFrame's label."""
    parts: list[Any] = []
    for name in found.files:
        st = os.stat(name)
        parts.append([os.path.abspath(name), st.st_size, st.st_mtime_ns])
    if not found.files:
        parts.append(found.label)
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _parquet_rows(found: Source) -> int | None:
    """Rows in all, from the Parquet footers (None for CSV, queries and DataFrames)."""
    if not found.files or not all(
        f.lower().endswith((".parquet", ".pq", ".parq")) for f in found.files
    ):
        return None
    import pyarrow.parquet as pq

    return sum(int(pq.ParquetFile(f).metadata.num_rows) for f in found.files)


def _connect() -> duckdb.DuckDBPyConnection:
    import duckdb

    # one scan thread: the model's OpenMP threads take the cores while DuckDB decodes the
    # next batch, and two scan threads only competed with them (docs/benchmarks.md)
    con = duckdb.connect(config={"threads": SCAN_THREADS, "memory_limit": MEMORY_LIMIT})
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET disable_parquet_prefetching = true")  # flat memory (docs/benchmarks.md)
    return con


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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
) -> PredictResult:
    """Score `data` with a version of the project's model into `output` (see the module
    docstring); the recorded run, published when `publish`. `engine`: DuckDB in this
    process, or Spark (`batch/spark.py`); default the stack's `engine`."""

    if batch_rows < 1:
        raise InvalidInputError(
            "the batch size must be a positive number of rows", got=str(batch_rows)
        )
    who = actor or rt.actor
    finish_recorded(rt)  # a run killed after its record: make its files visible first
    chosen = resolve_version(rt, version, alias)
    stack = _stack(rt)
    chosen_engine = engine or stack.engine
    started = rt.now()
    t0 = time.perf_counter()
    run_id = new_run_id(started)
    out_root = Path(output).expanduser().resolve()
    seen: list[Source] = []
    try:
        if chosen_engine == "spark":
            from opsloop.batch.spark import score_on_spark
            from opsloop.engines.spark_session import get_session

            spark = get_session(stack.spark.master, stack.spark.conf)
            scored = score_on_spark(
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
        else:
            scored = _score_duckdb(rt, data, out_root, run_id, chosen, batch_rows, on_rows, seen)
    except BaseException as exc:
        _record_failure(rt, run_id, chosen, seen[0] if seen else None, data, started, t0, exc, who)
        raise
    found, done, final = seen[0], scored.rows, scored.output
    if on_rows is not None and chosen_engine == "spark":
        on_rows(done, done)
    seconds = time.perf_counter() - t0
    run = NewBatchRun(
        run_id=run_id,
        model=rt.model,
        version=chosen,
        status="succeeded",
        started=started,
        finished=rt.now(),
        rows=done,
        input=found.label,
        input_fingerprint=fingerprint(found),
        output=str(final),
        seconds=seconds,
        details={
            "inference": scored.scorer.path,
            "inference_reason": scored.scorer.reason,
            "files": scored.files,
            "log_rows": scored.log_rows,
            "batch_rows": batch_rows,
            "alias": alias,
            "engine": chosen_engine,
            "renames": [list(r) for r in scored.renames],
        },
    )
    rate = done / seconds if seconds > 0 else 0.0
    event = NewEvent(
        "batch_predicted",
        rt.model,
        chosen,
        f"{done} rows scored by version {chosen} in {seconds:.1f} s ({rate:,.0f} rows/s)",
        {
            "run_id": run_id,
            "rows": done,
            "version": chosen,
            "input": found.label,
            "input_fingerprint": run.input_fingerprint,
            "output": run.output,
            "seconds": seconds,
            "rows_per_second": rate,
            "inference": scored.scorer.path,
            "engine": chosen_engine,
        },
        who,
    )
    try:
        crash_point("batch.before_record")
        # the run's commit point: recorded with the renames still to do (`recover.py`)
        recorded = rt.store.record_batch_run(run, [event])
    except BaseException as exc:
        discard_hidden(scored.renames)
        _record_failure(rt, run_id, chosen, found, data, started, t0, exc, who)
        raise
    crash_point("batch.after_record")
    apply_renames(scored.renames)
    publication = None
    if publish:
        from opsloop.batch.publish import publish_run

        crash_point("batch.before_publish")
        publication = publish_run(rt, run_id, actor=who)
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
    from opsloop.monitor.datasets import describe_source, source

    con = _connect()
    job: _Job | None = None
    try:
        found = source(data, "input", con)
        seen.append(found)
        columns = describe_source(con, found, "input")
        model = rt.registry.load(rt.model, chosen)
        cfg = rt.config
        check_input(
            columns,
            model.features,
            id_column=cfg.id_column,
            time_column=cfg.time_column,
            version=chosen,
            label=found.label,
        )
        tags = rt.registry.get_version(rt.model, chosen).tags
        job = _Job(
            scorer_for(model, tags),
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
        # one batch at a time: reading the next batch and writing the last one in threads
        # while the trees run was measured slower here (docs/benchmarks.md: every core is
        # the trees' already, and a preempted OpenMP thread stalls the whole tree)
        for batch in reader:
            if batch.num_rows == 0:
                continue
            pred, score = job.scorer.predict(batch)
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
    )


def rt_log_root(rt: Runtime) -> str:
    """The stack's prediction-log root (the server's)."""
    from opsloop.runtime import resolve_stack

    root = resolve_stack(rt.config, rt.paths).prediction_log
    assert root is not None
    return root


def _record_failure(
    rt: Runtime,
    run_id: str,
    version: str,
    found: Source | None,
    data: DataInput,
    started: datetime,
    t0: float,
    exc: BaseException,
    actor: str,
) -> None:
    error = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
    label = (
        found.label
        if found is not None
        else str(data)
        if isinstance(data, str | os.PathLike)
        else "DataFrame"
    )
    try:
        fp = fingerprint(found) if found is not None else ""
    except OSError:
        fp = ""
    run = NewBatchRun(
        run_id=run_id,
        model=rt.model,
        version=version,
        status="failed",
        started=started,
        finished=rt.now(),
        rows=0,
        input=label,
        input_fingerprint=fp,
        output=None,
        seconds=time.perf_counter() - t0,
        error=error[:2000],
    )
    event = NewEvent(
        "batch_failed",
        rt.model,
        version,
        f"batch prediction {run_id} failed: {error[:300]}",
        {"run_id": run_id, "input": label, "error": error[:2000]},
        actor,
    )
    with contextlib.suppress(Exception):  # the original error is the one to report
        rt.store.record_batch_run(run, [event])
