"""Rendering of `opsloop stack up|down|check`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:
    from rich.console import Console

    from opsloop.stack import StackCheck, StackDown, StackUp


def print_up(console: Console, up: StackUp) -> None:
    if up.already_running:
        console.print(
            f"Stack [bold]{up.stack}[/] is already up: MLflow server {up.tracking_uri} "
            f"(pid {up.pid})."
        )
        return
    created = f" (created databases: {', '.join(up.created_databases)})"
    console.print(f"[green]Stack [bold]{up.stack}[/] is up.[/]")
    console.print(f"  tracking server  {up.tracking_uri}  pid {up.pid}, log {up.log}")
    console.print(f"  artifact root    {up.artifacts_destination} (proxied by the server)")
    console.print(f"  ops store        {up.ops_store}{created if up.created_databases else ''}")
    console.print(f"  prediction log   {up.prediction_log}")
    console.print(
        f"Next: [bold]opsloop --stack {up.stack} train[/], [bold]opsloop stack check[/]; "
        f"stop it with [bold]opsloop --stack {up.stack} stack down[/]."
    )


def print_down(console: Console, down: StackDown) -> None:
    if down.pid is None:
        console.print(f"Stack [bold]{down.stack}[/]: no MLflow server of ours is running.")
        return
    how = " (killed: it did not stop on SIGTERM)" if down.forced else ""
    console.print(f"Stack [bold]{down.stack}[/]: MLflow server (pid {down.pid}) stopped{how}.")


def print_check(console: Console, check: StackCheck) -> None:
    table = Table(title=f"stack {check.stack}", title_justify="left")
    for column in ("component", "where", "", "detail"):
        table.add_column(column, overflow="fold")
    for c in check.components:
        mark = "[green]ok[/]" if c.ok else "[bold red]FAIL[/]"
        detail = c.detail if c.fix is None or c.ok else f"{c.detail}\n[dim]fix:[/] {c.fix}"
        table.add_row(c.component, c.target, mark, detail)
    console.print(table)
    if check.ok:
        console.print(f"[green]Every component of stack {check.stack} works.[/]")
    else:
        names = ", ".join(c.component for c in check.failed)
        console.print(f"[bold red]{len(check.failed)} failed:[/] {names}")
