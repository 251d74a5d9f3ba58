"""`opsloop predict` and `opsloop batch …`: run a batch prediction with a progress bar
(rows and rows/s), list, publish and roll back outputs (options declared in `cli/app.py`)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from rich.console import Console

    from opsloop.batch import BatchHistoryRow, CurrentBatch, PredictResult
    from opsloop.project import Project


def run_predict_command(
    p: Project,
    console: Console,
    *,
    input_: str | None,
    output: str | None,
    version: str | None,
    alias: str | None,
    publish: bool,
    batch_rows: int | None,
    show_progress: bool,
    engine: Literal["duckdb", "spark"] | None = None,
    output_table: str | None = None,
) -> PredictResult:
    """Run it, with a live bar on a terminal (rows, rows/s, time left when the input's
    size is known from Parquet footers)."""
    if not show_progress or not console.is_terminal:
        return p.predict(
            input_,
            output,
            version=version,
            alias=alias,
            publish=publish,
            batch_rows=batch_rows,
            engine=engine,
            output_table=output_table,
        )
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    started = time.perf_counter()
    with Progress(
        TextColumn(f"Scoring with {p.name}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} rows/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("score", total=None, rate="-")

        def on_rows(done: int, total: int | None) -> None:
            rate = done / max(time.perf_counter() - started, 1e-9)
            bar.update(task, completed=done, total=total, rate=f"{rate:,.0f}")

        return p.predict(
            input_,
            output,
            version=version,
            alias=alias,
            publish=publish,
            batch_rows=batch_rows,
            on_rows=on_rows,
            engine=engine,
            output_table=output_table,
        )


def print_predicted(console: Console, result: PredictResult) -> None:
    run = result.run
    ranked = run.details.get("ranking")
    what = (
        f"[green]Ranked[/] the top {ranked['k']} for {ranked['users']:,} users "
        f"({run.rows:,} rows with the {ranked['fallback_rows']} of the fallback list)"
        if isinstance(ranked, dict)
        else f"[green]Scored[/] {run.rows:,} rows"
    )
    console.print(
        f"{what} with version {run.version} in {run.seconds:.1f} s "
        f"({run.rows_per_second:,.0f} rows/s, {result.inference} path).",
        soft_wrap=True,
    )
    console.print(f"Output: {run.output}", soft_wrap=True)
    table = run.details.get("table")
    if isinstance(table, dict):
        console.print(
            f"Table: {table['table']} ({table['rows']:,} rows) at {table['target']}; readers "
            f"query the view {table['view']}.",
            soft_wrap=True,
        )
    console.print(
        f"Run: {run.run_id}; {result.log_rows:,} rows added to the prediction log.",
        soft_wrap=True,
    )
    if result.publication is not None:
        console.print(
            f"[green]Published[/] as the current output (revision {result.publication.revision})."
        )


def print_history(console: Console, rows: list[BatchHistoryRow]) -> None:
    from rich.table import Table

    from opsloop.cli.render import print_table

    if not rows:
        console.print("No batch runs yet (`opsloop predict`).")
        return
    table = Table(title="Batch runs (newest first)")
    for name in ("run", "", "status", "version", "rows", "rows/s", "finished", "published"):
        table.add_column(name)
    table.add_column("output (or error)")
    for row in rows:
        table.add_row(*_history_row(row))
    print_table(console, table)


def _history_row(row: BatchHistoryRow) -> list[str]:
    run = row.run
    return [
        run.run_id,
        "current" if row.current else "",
        run.status,
        run.version or "-",
        f"{run.rows:,}",
        f"{run.rows_per_second:,.0f}",
        f"{run.finished:%Y-%m-%d %H:%M:%S}",
        ", ".join(f"rev {n}" for n in row.revisions) or "-",
        run.output or (run.error or "")[:60],
    ]


def print_current(console: Console, current: CurrentBatch) -> None:
    pub, run = current.publication, current.run
    console.print(
        f"Current output of {run.model}: run {run.run_id} (version {run.version}, "
        f"{run.rows:,} rows), revision {pub.revision} {pub.kind} by {pub.actor} at "
        f"{pub.ts:%Y-%m-%d %H:%M:%S} UTC.",
        soft_wrap=True,
    )
    console.print(f"Path: {current.path}", soft_wrap=True)
    if current.table is not None:
        console.print(
            f"View: {current.table.view} = {current.table.table} at {current.table.target}",
            soft_wrap=True,
        )
