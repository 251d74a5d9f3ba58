"""Recording a batch prediction in the ops store: the succeeded run with its
`batch_predicted` event (the run's commit point), the failed one with `batch_failed`, the
input's fingerprint; and the run's PostgreSQL table, copied just before the record."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from typing import TYPE_CHECKING, Any

from opsloop.batch.pgview import RunTable
from opsloop.faults import crash_point
from opsloop.store.records import BatchRun, NewBatchRun, NewEvent

if TYPE_CHECKING:
    from datetime import datetime

    from opsloop.batch.scoring import Scored
    from opsloop.config.batch import OutputTable
    from opsloop.monitor.datasets import DataInput, Source
    from opsloop.runtime import Runtime


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


def copy_table(
    rt: Runtime, target: OutputTable, run_id: str, scored: Scored, batch_rows: int
) -> RunTable:
    """The run's hidden files copied into its own PostgreSQL table (committed)."""
    import pyarrow as pa

    from opsloop.batch.pgtable import copy_run

    cfg = rt.config
    empty = pa.schema(  # the columns of a run that scored no row (and has no view yet)
        [
            (cfg.id_column, pa.string()),
            (cfg.time_column, pa.timestamp("us", tz="UTC")),
            ("prediction", pa.string()),
            ("score", pa.float64()),
            ("model", pa.string()),
            ("version", pa.string()),
            ("run_id", pa.string()),
        ]
    )
    rows = copy_run(
        target,
        rt.model,
        run_id,
        scored.staged,
        rows=scored.rows,
        batch_rows=batch_rows,
        empty=empty,
        written=rt.now(),
    )
    return RunTable.written(target, run_id, rows)


def record_succeeded(
    rt: Runtime,
    run_id: str,
    chosen: str,
    found: Source,
    scored: Scored,
    started: datetime,
    t0: float,
    who: str,
    details: dict[str, Any],
) -> BatchRun:
    """Record the succeeded run and its `batch_predicted` event (`details`: engine, batch
    size, alias, table): the run's commit point, with the renames still to do
    (`recover.py`)."""
    done, final = scored.rows, scored.output
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
            **({} if scored.ranking is None else {"ranking": scored.ranking.to_dict()}),
            **details,
            "renames": [list(r) for r in scored.renames],
        },
    )
    rate = done / seconds if seconds > 0 else 0.0
    ranked = scored.ranking
    what = (
        f"{done} rows scored"
        if ranked is None
        else f"top-{ranked.k} lists for {ranked.users} users ({done} rows) made"
    )
    event = NewEvent(
        "batch_predicted",
        rt.model,
        chosen,
        f"{what} by version {chosen} in {seconds:.1f} s ({rate:,.0f} rows/s)",
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
            "engine": details["engine"],
            **({"table": details["table"]} if "table" in details else {}),
            **({} if ranked is None else {"users": ranked.users, "k": ranked.k}),
        },
        who,
    )
    crash_point("batch.before_record")
    # the run's commit point: recorded with the renames still to do (`recover.py`)
    return rt.store.record_batch_run(run, [event])


def record_failed(
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
