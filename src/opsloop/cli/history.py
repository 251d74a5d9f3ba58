"""Rich rendering of the history views: `opsloop dora` (DORA metrics) and `opsloop status
--at` (the deployment as of an instant)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from opsloop.cli.render import print_table

if TYPE_CHECKING:
    from opsloop.services.dora_models import DoraFigures, DoraView, Spread
    from opsloop.services.view_models import AsOfView


def duration(seconds: float | None) -> str:
    """A duration for people: 45s, 12m, 3.5h, 2.1d."""
    if seconds is None:
        return "—"
    if abs(seconds) < 60:
        return f"{seconds:.0f}s"
    if abs(seconds) < 3600:
        return f"{seconds / 60:.0f}m"
    if abs(seconds) < 86_400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86_400:.1f}d"


def _spread(s: Spread) -> str:
    if s.count == 0:
        return "—"
    return f"{duration(s.median)} (p90 {duration(s.p90)}, n={s.count})"


def _row(name: str, f: DoraFigures) -> list[str]:
    rate = "—" if f.change_failure_rate is None else f"{f.change_failure_rate:.0%}"
    ttr = _spread(f.time_to_restore)
    if f.open_incidents:
        ttr += f", {f.open_incidents} open"
    return [
        name,
        f"{f.promotions} ({f.per_week:.2g}/week)",
        _spread(f.lead_time_data),
        _spread(f.lead_time_trigger),
        f"{rate} ({f.failed_changes}/{f.changes})",
        ttr,
        str(f.gate_failures),
    ]


def print_dora(console: Console, view: DoraView) -> None:
    table = Table(
        title=f"DORA metrics, {view.since[:16]} → {view.until[:16]} ({view.days:.3g} days)",
        title_justify="left",
    )
    for column in (
        "model",
        "promotions",
        "lead time: data → promoted",
        "lead time: trigger → promoted",
        "change failures",
        "time to restore",
        "failed gates",
    ):
        table.add_column(column)
    for m in view.models:
        table.add_row(*_row(m.model + (" (partial)" if m.truncated else ""), m.figures))
    if len(view.models) > 1:
        table.add_row(*_row("[bold]overall[/]", view.overall))
    print_table(console, table)
    console.print(
        "[dim]Durations are medians (90th percentile, count). `--json` gives each "
        "promotion, change and incident; docs/dora.md the definitions.[/]"
    )


def print_as_of(console: Console, view: AsOfView) -> None:
    if view.deployment is None:
        console.print(f"[bold]{view.model}[/] at {view.at}: nothing was deployed yet")
        return
    d = view.deployment
    console.print(
        f"[bold]{view.model}[/] at {view.at}: version [bold]{view.version}[/] was stable "
        f"(revision {d.revision} since {d.ts}, {d.strategy}, by {d.actor}: {d.reason})"
    )
    r = view.rollout
    if r is not None:
        end = f"ended {r.outcome} at {r.finished}" if r.finished else "still running"
        console.print(
            f"{r.strategy} rollout {r.id} of version {r.candidate_version}: step {r.step + 1} "
            f"of {len(r.steps)} ({r.share:g}%) since {r.step_started} ({end})"
        )
    table = Table(title="traffic", title_justify="left")
    for column in ("version", "role", "share", "answers"):
        table.add_column(column)
    for t in view.traffic:
        table.add_row(t.version, t.role, f"{t.share:g}%", "yes" if t.answers else "no (mirror)")
    print_table(console, table)
