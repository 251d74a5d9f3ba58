"""The `opsloop` command. Typer is imported when the app is first used (`opsloop.cli.app`, or
`main`); every command imports what it needs when it runs, so `opsloop --help` stays instant.
A plain `opsloop drift REF CUR …` line runs without Typer at all (`opsloop.cli.drift`), and
so does a plain `opsloop serve …` (`opsloop.cli.serve`).

`app` (the Typer app) is looked up here lazily: use `from opsloop.cli import app`, not the
module `opsloop.cli.app` of the same name.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsloop.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """The `opsloop` entry point (and `python -m opsloop`)."""
    from opsloop.cli.drift import parse, run_and_exit

    completing = any(k.endswith("_COMPLETE") for k in os.environ)
    args = None if completing else parse(sys.argv[1:])
    if args is not None:  # shell completion requests, like everything else, go to Typer
        run_and_exit(args)
    if not completing:  # a plain `opsloop serve …` line runs without Typer too
        from opsloop.cli import serve

        served = serve.parse(sys.argv[1:])
        if served is not None:
            sys.exit(serve.run(served))
    from opsloop.cli.app import main as typer_main

    typer_main()


def __getattr__(name: str) -> Any:
    if name == "app":
        import importlib

        typer_app = importlib.import_module("opsloop.cli.app").app
        globals()["app"] = typer_app  # importing the module bound its name here: rebind
        return typer_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
