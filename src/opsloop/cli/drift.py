"""`opsloop drift REFERENCE CURRENT`: the command's body (`run`), and its fast path (`parse`).

`opsloop drift` is the command whose whole process, start to report written, is measured
against Evidently (docs/benchmarks.md), and building the Typer app of ~50 commands costs
~0.1 s of it. So `opsloop.cli.main` first asks `parse` whether the command line is a plain,
well-formed `drift` call (the two data sets and the command's own options, each given once
per scalar option as `--name value` or `--name=value`); if it is, `run` runs without
importing Typer. Anything else — `--help`, a global option, an unknown, repeated-in-doubt or
malformed option, a missing or extra argument, a value that looks like an option or a number
Typer might read otherwise — makes `parse` return None and Typer parses the line as always,
so help, usage errors and their exit codes stay Typer's own. The Typer command (`cli/app.py`)
calls the same `run`.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from rich.console import Console

    from opsloop.monitor.datasets import DatasetComparison


@dataclass(frozen=True)
class DriftArgs:
    """The parameters of `opsloop drift`, as Typer passes them to the command."""

    reference: str
    current: str
    html: Path | None = None
    json_out: str | None = None
    columns: list[str] | None = None
    exclude: list[str] | None = None
    categorical: list[str] | None = None
    numeric: list[str] | None = None
    method: str = "auto"
    share: float = 0.3


_LISTS = {
    "--columns": "columns",
    "--exclude": "exclude",
    "--categorical": "categorical",
    "--numeric": "numeric",
}
_SCALARS = {"--html": "html", "--json": "json_out", "--method": "method", "--share": "share"}
# a plain decimal number, which every parser reads the same (no sign, "_", "inf" or spaces)
_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def parse(argv: Sequence[str]) -> DriftArgs | None:
    """The arguments of a plain `drift …` command line (`argv` without the program name),
    or None when Typer must parse it (module docstring)."""
    if not argv or argv[0] != "drift":
        return None
    positional: list[str] = []
    lists: dict[str, list[str]] = {}
    scalars: dict[str, str] = {}
    tokens = list(argv[1:])
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if not token.startswith("-"):
            positional.append(token)
            continue
        name, eq, value = token.partition("=")
        if name not in _LISTS and name not in _SCALARS:
            return None  # --help, --, -x, an unknown option: Typer's to answer
        if not eq:
            if i == len(tokens):
                return None  # the option's value is missing
            value = tokens[i]
            i += 1
        if not value or (value.startswith("-") and value != "-"):
            return None  # empty, or an option where a value should be
        if name in _LISTS:
            lists.setdefault(_LISTS[name], []).append(value)
        elif _SCALARS[name] in scalars:
            return None  # given twice: Typer's rule decides
        else:
            scalars[_SCALARS[name]] = value
    if len(positional) != 2 or any(not p or p == "-" for p in positional):
        return None
    share = scalars.get("share")
    if share is not None and not _NUMBER.fullmatch(share):
        return None
    html = scalars.get("html")
    return DriftArgs(
        reference=positional[0],
        current=positional[1],
        html=Path(html) if html is not None else None,
        json_out=scalars.get("json_out"),
        columns=lists.get("columns"),
        exclude=lists.get("exclude"),
        categorical=lists.get("categorical"),
        numeric=lists.get("numeric"),
        method=scalars.get("method", "auto"),
        share=float(share) if share is not None else 0.3,
    )


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def run(args: DriftArgs) -> int:
    """Compare, write the reports, print the summary (not with `--json -`); the exit code:
    0 no dataset drift, 1 dataset drift, 2 bad input, 130 interrupted."""
    from opsloop.errors import OpsloopError

    try:
        result = compare(args)
        if args.html is not None:
            from opsloop.monitor.datasets_report import render_html

            args.html.write_text(render_html(result), encoding="utf-8")
        if args.json_out is not None:
            text = json.dumps(result.to_dict(), indent=2, default=str) + "\n"
            if args.json_out == "-":
                sys.stdout.write(text)
            else:
                Path(args.json_out).write_text(text, encoding="utf-8")
    except (OpsloopError, OSError) as exc:
        from rich.markup import escape

        message = exc.message if isinstance(exc, OpsloopError) else str(exc)
        _console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        _console(stderr=True).print("interrupted")
        return 130
    if args.json_out != "-":
        from opsloop.cli.render import print_comparison

        print_comparison(_console(), result)
        if args.html is not None:
            _console().print(f"Report: {args.html}", soft_wrap=True, markup=False)
    return 1 if result.detected else 0


def run_and_exit(args: DriftArgs) -> NoReturn:
    """`run`, then exit with its code; Ctrl-C and a closed output pipe end the process as
    under Typer (exit codes 130 and 1, no traceback). The exit skips the interpreter's
    teardown (`_exit`).

    Python's cyclic garbage collector is off meanwhile: the imports (NumPy, pydantic's
    models, Rich, Jinja2) allocate enough objects to set off ~200 collections, ~50 ms of
    CPU, that find next to nothing to free in a process this short (reference counting
    frees the rest as ever; the peak memory is unchanged)."""
    import gc

    gc.disable()
    try:
        code = run(args)
        sys.stdout.flush()
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        # Python's advice: stdout to /dev/null, so that the flush at exit cannot fail again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 1
    _exit(code)


def _exit(code: int) -> NoReturn:
    """Exit with `code` once the reports are written: the `atexit` handlers run and the
    standard streams are flushed, as at a normal exit, but the interpreter is not torn
    down — freeing every imported module's objects (NumPy, pydantic, Rich, Jinja2,
    DuckDB) cost ~0.05–0.1 s of CPU, 5–10% of the whole command, and releases nothing
    the operating system does not release at exit anyway (the connection is closed and
    every file written by then)."""
    import atexit

    try:
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
    except BrokenPipeError:
        code = code or 1
    except KeyboardInterrupt:
        code = 130
    os._exit(code)


def compare(args: DriftArgs) -> DatasetComparison:
    """`opsloop.monitor.compare` of the two data sets with the command's options (a bad
    --method or --share is an `InvalidInputError` naming the option)."""
    from pydantic import ValidationError

    from opsloop.config import DriftConfig
    from opsloop.errors import InvalidInputError
    from opsloop.monitor.datasets import compare as compare_datasets

    try:
        cfg = DriftConfig.model_validate({"method": args.method, "share": args.share})
    except ValidationError as exc:
        error = exc.errors()[0]
        raise InvalidInputError(
            f"--{error['loc'][0]} is not valid: {error['msg']}",
            got=repr(error.get("input")),
            fix="see `opsloop drift --help`",
        ) from None
    return compare_datasets(
        args.reference,
        args.current,
        columns=args.columns,
        exclude=args.exclude,
        categorical=args.categorical,
        numeric=args.numeric,
        drift=cfg,
        meanwhile=lambda: _prepare_output(args),
    )


def _prepare_output(args: DriftArgs) -> None:
    """Import what printing and writing the result takes, and load the HTML template:
    `compare` runs this while DuckDB reads the reference (~0.1 s off the whole command)."""
    import importlib

    if args.json_out != "-":
        importlib.import_module("opsloop.cli.render")  # Rich's console and tables
    if args.html is not None:
        importlib.import_module("opsloop.monitor.datasets_report")
        from opsloop.templates import environment

        environment().get_template("monitor/datasets.html")
