"""`opsloop backtest`: parse the options, replay with a progress bar, print the table and
write the JSON and HTML reports (the command's options are declared in `cli/app.py`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsloop.errors import InvalidInputError

if TYPE_CHECKING:
    from rich.console import Console

    from opsloop.backtest import BacktestResult
    from opsloop.backtest.sandbox import SandboxRegistry
    from opsloop.project import Project


def _time(text: str, option: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            f"{option}: cannot read {text!r} as a time",
            expected="ISO 8601 such as 2022-02-01 or 2022-02-01T06:00 (UTC)",
            got=repr(text),
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _duration(text: str, option: str) -> timedelta:
    from opsloop.config import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise InvalidInputError(f"{option}: {exc}") from None


def run_command(
    p: Project,
    console: Console,
    *,
    start: str,
    end: str,
    every: str,
    policies: list[str] | None,
    label_delay: str,
    registry: str,
    html: Path | None,
    json_file: Path | None,
    as_json: bool,
) -> None:
    from opsloop.backtest import plan_backtest, run_backtest
    from opsloop.runtime import check_pipeline_task

    check_pipeline_task(p.config, "backtest")
    if registry not in ("mlflow", "memory"):
        raise InvalidInputError(
            "--registry must be mlflow or memory", got=repr(registry), fix="drop the option"
        )
    plan = plan_backtest(
        p.config,
        start=_time(start, "--from"),
        end=_time(end, "--to"),
        every=_duration(every, "--every"),
        policies=policies,
        label_delay=_duration(label_delay, "--label-delay"),
    )
    kind: SandboxRegistry = "mlflow" if registry == "mlflow" else "memory"
    if as_json:
        result = run_backtest(p.config, p.root, plan, registry=kind)
    else:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[period]}"),
            console=console,
        ) as bar:
            steps = len(plan.periods) * len(plan.policies)
            task = bar.add_task(f"Backtesting {p.name}", total=steps, period="")
            result = run_backtest(
                p.config,
                p.root,
                plan,
                registry=kind,
                on_period=lambda policy, i, n, period: bar.update(
                    task, advance=1, period=f"{policy} {period.start:%Y-%m-%d}"
                ),
            )
    data = result.to_dict()
    if json_file is not None:
        json_file.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    if html is not None:
        from opsloop.backtest.report import render_html

        html.write_text(render_html(result), encoding="utf-8")
    if as_json:
        import sys

        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        return
    print_backtest(console, result, written=[f for f in (html, json_file) if f is not None])


def _num(value: Any) -> str:
    return "—" if value is None else f"{value:.4g}"


def print_backtest(console: Console, result: BacktestResult, *, written: list[Path]) -> None:
    from rich.table import Table

    from opsloop.backtest.result import duration_text
    from opsloop.cli.render import print_table

    table = Table(
        title=f"{result.model}: {result.start:%Y-%m-%d} → {result.end:%Y-%m-%d}, "
        f"every {duration_text(result.every)}, labels delayed "
        f"{duration_text(result.label_delay)}"
    )
    for name in (
        "policy",
        f"mean {result.metric}",
        "retrains",
        "promotions",
        "gate rejections",
        "alarms",
        "fit s",
        "scoring s",
        "rows scored",
    ):
        table.add_column(name, no_wrap=name == "policy")
    for policy in result.policies:
        s, c = policy.summary(), policy.compute
        table.add_row(
            policy.policy,
            _num(s["mean_performance"]),
            str(s["retrains"]),
            str(s["promotions"]),
            str(s["rejections"]),
            str(s["alarms"]),
            _num(c.fit_seconds),
            _num(c.scoring_seconds),
            str(c.rows_scored),
        )
    print_table(console, table)
    for note in result.notes:
        console.print(f"note: {note}", soft_wrap=True)
    for path in written:
        console.print(f"wrote {path}", soft_wrap=True)
