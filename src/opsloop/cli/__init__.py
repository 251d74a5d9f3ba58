"""The `opsloop` command. Typer is imported when the app is first used (`opsloop.cli.app`, or
`main`); every command imports what it needs when it runs, so `opsloop --help` stays instant.
A plain `opsloop drift REF CUR …`, `opsloop predict …` or `opsloop serve …` line runs
without Typer at all (`opsloop.cli.drift`, `opsloop.cli.predict`, `opsloop.cli.serve`).

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
    if not any(k.endswith("_COMPLETE") for k in os.environ):  # completion: Typer's
        argv = sys.argv[1:]
        if argv[:1] == ["drift"]:
            from opsloop.cli import drift

            drift_args = drift.parse(argv)
            if drift_args is not None:
                drift.run_and_exit(drift_args)
        elif argv[:1] == ["predict"]:
            from opsloop.cli import predict

            predict_args = predict.parse(argv)
            if predict_args is not None:
                predict.run_and_exit(predict_args)
        elif argv[:1] == ["serve"]:
            from opsloop.cli import serve

            served = serve.parse(argv)
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
