"""What every command shares and Typer does not need: the consoles, opening the project,
printing JSON, and turning an error into one line and an exit code. The Typer app
(`cli/app.py`) and the fast paths that run without it (`cli/drift.py`, `cli/predict.py`)
use the same functions, so a command answers alike whichever parsed its line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from opsloop.project import Project


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def open_project(path: Path, stack: str | None, name: str | None = None) -> Project:
    """The project in `path` on `stack` (already chosen: the command's, the global one or
    $OPSLOOP_STACK; None for opsloop.yaml's); NotFoundError when `name` is another model."""
    from opsloop.errors import NotFoundError
    from opsloop.project import Project

    project = Project(path, stack=stack, actor=actor())
    if name is not None and name != project.name:
        raise NotFoundError(
            f"this project serves the model {project.name!r}, not {name!r}",
            fix=f"use `{project.name}` or pass --project for the other model's folder",
        )
    return project


def actor() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def failure_code(exc: BaseException, command: str) -> int | None:
    """For an error a command may end with: its one line printed on stderr, and the exit
    code (1; 130 for Ctrl-C). None for anything else (a bug: the traceback shows).
    `command`: the command's function name, for a file system fault's message."""
    from opsloop.errors import OpsloopError

    if isinstance(exc, OpsloopError):
        console(stderr=True).print(f"[bold red]error:[/] {exc.message}", soft_wrap=True)
        return 1
    if isinstance(exc, OSError):  # a file system fault no layer below translated: one line
        from opsloop.errors import file_error

        error = file_error(exc, f"opsloop {command.replace('_', ' ')}")
        console(stderr=True).print(f"[bold red]error:[/] {error.message}", soft_wrap=True)
        return 1
    if isinstance(exc, KeyboardInterrupt):
        console(stderr=True).print("interrupted")
        return 130
    return None
