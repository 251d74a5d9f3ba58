"""`opsloop serve`: the command's body (`run`), and its fast path (`parse`).

Start-up to ready is measured (docs/benchmarks.md, `benchmarks/serve_startup.py`), and
building the Typer app of ~50 commands costs ~0.05–0.09 s of it, as for `opsloop drift`
(cli/drift.py, the same pattern). So `opsloop.cli.main` asks `parse` whether the command
line is a plain `serve` call (`-p/--project`, `--stack`, `--host`, `--port`, `--workers`,
each at most once, as `--name value` or `--name=value`); if it is, `run` runs without
importing Typer. Anything else — `--help`, a global option, an unknown or repeated option,
a value that looks like an option, a port or worker count Typer would refuse, the project
taken from `$OPSLOOP_PROJECT` — makes `parse` return None and Typer parses the line as
always. The Typer command (`cli/app.py`) calls the same `run`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

MAX_WORKERS = 64  # the Typer option's bounds: 1..64

_OPTIONS = {
    "-p": "project",
    "--project": "project",
    "--stack": "stack",
    "--host": "host",
    "--port": "port",
    "--workers": "workers",
}
_COUNT = re.compile(r"\d{1,6}")  # what every parser reads as the same integer


@dataclass(frozen=True)
class ServeArgs:
    """The parameters of `opsloop serve`, as Typer passes them to the command."""

    project: Path = Path(".")
    stack: str | None = None
    host: str | None = None
    port: int | None = None
    workers: int | None = None


def parse(argv: Sequence[str]) -> ServeArgs | None:
    """The arguments of a plain `serve …` command line (`argv` without the program name),
    or None when Typer must parse it (module docstring)."""
    if not argv or argv[0] != "serve":
        return None
    values: dict[str, str] = {}
    tokens = list(argv[1:])
    i = 0
    while i < len(tokens):
        name, eq, value = tokens[i].partition("=")
        i += 1
        if name not in _OPTIONS or (eq and name == "-p"):
            return None  # --help, an argument, an unknown option: Typer's to answer
        if not eq:
            if i == len(tokens):
                return None  # the option's value is missing
            value = tokens[i]
            i += 1
        key = _OPTIONS[name]
        if not value or value.startswith("-") or key in values:
            return None  # empty, an option where a value should be, or given twice
        values[key] = value
    if "project" not in values and "OPSLOOP_PROJECT" in os.environ:
        return None  # Typer reads the variable
    counts: dict[str, int | None] = {}
    for key in ("port", "workers"):
        text = values.get(key)
        if text is not None and not _COUNT.fullmatch(text):
            return None
        counts[key] = None if text is None else int(text)
    workers = counts["workers"]
    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        return None
    return ServeArgs(
        project=Path(values.get("project", ".")),
        stack=values.get("stack"),
        host=values.get("host"),
        port=counts["port"],
        workers=workers,
    )


def user_actor() -> str:
    """Who acts: the login name, else `cli`."""
    from opsloop.cli.common import actor

    return actor()


def run(args: ServeArgs) -> int:
    """Serve until stopped; the exit code: 0, 1 with one line on stderr for an opsloop or
    file-system error, 130 when interrupted. `args.stack` None: `$OPSLOOP_STACK`, then the
    file's `stack:`."""
    from opsloop.serve.gcwatch import hold_collections

    hold_collections()  # before the config and the server load (serve/gcwatch.py)
    from opsloop.errors import OpsloopError, file_error
    from opsloop.redact import install_log_redaction

    install_log_redaction()  # no credentials in any log line (SECURITY.md)
    try:
        from opsloop.project import Project

        stack = args.stack or os.environ.get("OPSLOOP_STACK") or None
        project = Project(args.project, stack=stack, actor=user_actor())
        token = os.environ.get(project.config.serve.admin_token_env) or None
        project.serve(host=args.host, port=args.port, admin_token=token, workers=args.workers)
    except (OpsloopError, OSError) as exc:
        error = exc if isinstance(exc, OpsloopError) else file_error(exc, "opsloop serve")
        _print_error(f"[bold red]error:[/] {_escape(error.message)}")
        return 1
    except KeyboardInterrupt:
        _print_error("interrupted")
        return 130
    return 0


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _print_error(markup: str) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False).print(markup, soft_wrap=True)
