"""`opsloop predict`: the command's body (`run`), and its fast path (`parse`).

`opsloop predict` is a nightly job whose whole process is measured against a raw
`predict_proba` loop (docs/benchmarks.md), and at 1M rows its fixed start-up is what
separates it from the target. Importing Typer and building its app of ~50 commands is part
of that start-up, so, as for `opsloop drift` (cli/drift.py), `opsloop.cli.main` first asks
`parse` whether the line is a plain, well-formed `predict` call: the model name at most
once, the command's own options each given at most once, as `--name value`,
`--name=value` or (for `-i`, `-o`, `-p`) `-x value`, and the flags `--publish`,
`--no-publish` and `--json`. If it is, `run` runs without importing Typer. Anything else —
`--help`, a global option, an unknown, repeated or malformed option, a missing value, a
value that looks like an option, a batch size or engine Typer might read otherwise — makes
`parse` return None, and Typer parses the line as always (help, usage errors and their
exit codes stay Typer's own). The Typer command (`cli/app.py`) calls the same `run`.

The defaults are Typer's: the project folder from `--project`, else $OPSLOOP_PROJECT, else
the current folder; the stack from `--stack`, else $OPSLOOP_STACK, else opsloop.yaml's.
"""

from __future__ import annotations

import gc
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NoReturn

if TYPE_CHECKING:
    from opsloop.batch.predict import OnRows

Engine = Literal["duckdb", "spark"]
ENGINES: tuple[Engine, ...] = ("duckdb", "spark")


@dataclass(frozen=True)
class PredictArgs:
    """The parameters of `opsloop predict`, as Typer passes them to the command (`stack`:
    the command's own --stack, not yet the global one)."""

    name: str | None = None
    input: str | None = None
    output: str | None = None
    version: str | None = None
    alias: str | None = None
    publish: bool = False
    batch_rows: int | None = None
    engine: Engine | None = None
    output_table: str | None = None
    project: Path = Path(".")
    stack: str | None = None
    as_json: bool = False


# option spelling → field; short spellings take their value as the next token only
_VALUES = {
    "--input": "input",
    "-i": "input",
    "--output": "output",
    "-o": "output",
    "--version": "version",
    "--alias": "alias",
    "--batch-rows": "batch_rows",
    "--engine": "engine",
    "--output-table": "output_table",
    "--project": "project",
    "-p": "project",
    "--stack": "stack",
}
_FLAGS = {"--publish": ("publish", True), "--no-publish": ("publish", False)}
_FLAGS["--json"] = ("as_json", True)
_ROWS = re.compile(r"[1-9][0-9]{0,17}")  # a plain positive integer, as every parser reads it


def parse(argv: Sequence[str]) -> PredictArgs | None:
    """The arguments of a plain `predict …` command line (`argv` without the program
    name), or None when Typer must parse it (module docstring)."""
    if not argv or argv[0] != "predict":
        return None
    positional: list[str] = []
    values: dict[str, str] = {}
    flags: dict[str, bool] = {}
    tokens = list(argv[1:])
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if not token.startswith("-"):
            positional.append(token)
            continue
        if token in _FLAGS:
            field, value_of_flag = _FLAGS[token]
            if field in flags:
                return None  # given twice: Typer's rule decides
            flags[field] = value_of_flag
            continue
        name, eq, value = token.partition("=") if token.startswith("--") else (token, "", "")
        if name not in _VALUES:
            return None  # --help, --, -x, -iVALUE, an unknown option: Typer's to answer
        if not eq:
            if i == len(tokens):
                return None  # the option's value is missing
            value = tokens[i]
            i += 1
        if not value or value.startswith("-"):
            return None  # empty, or an option where a value should be
        if _VALUES[name] in values:
            return None
        values[_VALUES[name]] = value
    if len(positional) > 1 or any(not p for p in positional):
        return None
    rows = values.get("batch_rows")
    if rows is not None and not _ROWS.fullmatch(rows):
        return None
    engine = values.get("engine")
    if engine is not None and engine not in ENGINES:
        return None
    project = values.get("project") or os.environ.get("OPSLOOP_PROJECT") or "."
    return PredictArgs(
        name=positional[0] if positional else None,
        input=values.get("input"),
        output=values.get("output"),
        version=values.get("version"),
        alias=values.get("alias"),
        publish=flags.get("publish", False),
        batch_rows=int(rows) if rows is not None else None,
        engine=next((e for e in ENGINES if e == engine), None),
        output_table=values.get("output_table"),
        project=Path(project),
        stack=values.get("stack"),
        as_json=flags.get("as_json", False),
    )


def chosen_stack(stack: str | None) -> str | None:
    """The stack of a line the fast path runs: its own --stack, else $OPSLOOP_STACK (such a
    line has no global `opsloop --stack`), else None (opsloop.yaml's)."""
    return stack or os.environ.get("OPSLOOP_STACK") or None


def run(args: PredictArgs, on_rows: OnRows | None = None) -> None:
    """Score, then print the result (JSON with `as_json`); errors propagate (the caller
    turns them into one line). `args.stack` is the stack already chosen; `on_rows` is
    called after each batch."""
    from opsloop.cli.batch import print_predicted, run_predict_command
    from opsloop.cli.common import console, open_project, print_json

    p = open_project(args.project, args.stack, args.name)
    result = run_predict_command(
        p,
        None if args.as_json else console(stderr=True),  # no progress bar: no Rich
        input_=args.input,
        output=args.output,
        version=args.version,
        alias=args.alias,
        publish=args.publish,
        batch_rows=args.batch_rows,
        show_progress=not args.as_json,
        engine=args.engine,
        output_table=args.output_table,
        on_rows=on_rows,
    )
    if args.as_json:
        print_json(result.to_dict())
    else:
        print_predicted(console(), result)


def _settle_heap(done: int, total: int | None) -> None:
    """After a batch: the first time, freeze what start-up left alive and collect again."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def run_and_exit(args: PredictArgs) -> NoReturn:
    """`run` as the Typer command runs it (log redaction, one-line errors, exit codes 0,
    1 and 130), then exit; a closed output pipe ends the process with 1, no traceback."""
    from opsloop.cli.common import failure_code
    from opsloop.errors import OpsloopError
    from opsloop.redact import install_log_redaction

    install_log_redaction()  # no credentials in any log line (SECURITY.md)
    # Start-up (the imports of scikit-learn, SciPy, pandas, the model's load) allocates
    # ~180k objects that live as long as the process; the collector walked them ~490 times
    # for nothing (~0.15-0.25 CPU s). Off until the first batch is scored, then they are
    # frozen (later collections skip them) and it is on again for the run. (On Spark the
    # driver hears of its rows at the end only: its collector stays off for the job, whose
    # driver-side objects are per task, not per row.)
    gc.disable()
    code = 0
    try:
        run(replace(args, stack=chosen_stack(args.stack)), on_rows=_settle_heap)
    except (OpsloopError, OSError, KeyboardInterrupt) as exc:
        found = failure_code(exc, "predict")
        assert found is not None
        code = found
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        # Python's advice: stdout to /dev/null, so that the flush at exit cannot fail again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 1
    sys.stderr.flush()
    # Everything is written, closed and committed by now: what is left is the interpreter's
    # teardown, whose garbage collections walk the ~180k objects scikit-learn, SciPy and
    # pandas leave alive (~0.3-0.5 CPU s here, docs/benchmarks.md). Frozen, they are not
    # walked: modules are still cleared, atexit handlers (logging's flush) still run, and
    # objects outside reference cycles are still released; the cyclic ones go with the
    # process. Only here: `run` is also called in long-lived processes (tests).
    gc.freeze()
    sys.exit(code)
