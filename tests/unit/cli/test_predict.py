"""`opsloop predict`'s fast path (`opsloop.cli.predict.parse`): every line it accepts, Typer
reads the same way (defaults from the environment included); every line it leaves to Typer
is one it must not judge (help, usage errors, unusual spellings). Running a parsed line
for real is tests/integration/test_predict.py (it needs a registered model)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from opsloop.cli import app
from opsloop.cli import predict as predict_cli
from opsloop.cli.predict import PredictArgs, parse


@pytest.fixture(autouse=True)
def _no_defaults_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPSLOOP_PROJECT", raising=False)
    monkeypatch.delenv("OPSLOOP_STACK", raising=False)


def typer_reads(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> PredictArgs:
    """The arguments the Typer command hands to `run` for `argv`."""
    seen: list[PredictArgs] = []
    monkeypatch.setattr(predict_cli, "run", seen.append)
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert len(seen) == 1
    return seen[0]


ACCEPTED = [
    ["predict"],
    ["predict", "churn"],
    ["predict", "churn", "-i", "in.parquet", "-o", "out", "--json"],
    ["predict", "-p", "proj", "--input", "in/*.parquet", "--output=out", "churn"],
    ["predict", "--input=sql:SELECT * FROM read_parquet('a.parquet') WHERE x > -1", "-o", "o"],
    ["predict", "--version", "3", "--publish", "--batch-rows", "4096", "--engine", "duckdb"],
    ["predict", "--alias=challenger", "--no-publish", "--batch-rows=1", "--engine=spark"],
    ["predict", "--output-table", "postgresql://u@h/db?table=s.t", "--stack", "team"],
    ["predict", "--project=/tmp/x", "--json", "--publish"],
    ["predict", "--version", "2", "--alias", "champion"],  # run() refuses both
]


@pytest.mark.parametrize("argv", ACCEPTED)
def test_what_the_fast_path_accepts_typer_reads_the_same(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed = parse(argv)
    assert parsed is not None
    assert parsed == typer_reads(argv, monkeypatch)


def test_the_fields_are_the_options_given() -> None:
    argv = ["predict", "churn", "-i", "a.csv", "-o", "o", "--batch-rows", "10", "--json"]
    assert parse(argv) == PredictArgs(
        name="churn", input="a.csv", output="o", batch_rows=10, as_json=True
    )


@pytest.mark.parametrize(
    ("variable", "argv"),
    [
        ("OPSLOOP_PROJECT", ["predict", "-i", "a.parquet"]),
        ("OPSLOOP_PROJECT", ["predict", "-p", "given", "-i", "a.parquet"]),  # the option wins
        ("OPSLOOP_STACK", ["predict", "-i", "a.parquet"]),
        ("OPSLOOP_STACK", ["predict", "--stack", "own", "-i", "a.parquet"]),
    ],
)
def test_defaults_from_the_environment_are_typers(
    variable: str, argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The project folder and the stack from the environment, as Typer takes them (the
    stack is chosen by `run_and_exit`, the project by `parse`)."""
    monkeypatch.setenv(variable, "from-env")
    parsed = parse(argv)
    assert parsed is not None
    chosen = PredictArgs(**{**parsed.__dict__, "stack": predict_cli.chosen_stack(parsed.stack)})
    assert chosen == typer_reads(argv, monkeypatch)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--help"],
        ["drift", "a", "b"],
        ["--stack", "team", "predict"],  # a global option first
        ["predict", "--help"],
        ["predict", "churn", "other"],  # an extra argument
        ["predict", "--nope"],
        ["predict", "-x"],
        ["predict", "-iin.parquet"],  # Click reads it; the fast path does not guess
        ["predict", "--", "churn"],
        ["predict", "-i"],  # no value
        ["predict", "-i", "--json"],  # an option as the value
        ["predict", "--input="],
        ["predict", "-i", "a", "-i", "b"],  # a value twice
        ["predict", "--json", "--json"],
        ["predict", "--publish", "--no-publish"],
        ["predict", "--batch-rows", "0"],
        ["predict", "--batch-rows", "-1"],
        ["predict", "--batch-rows", "1_000"],
        ["predict", "--batch-rows", " 5"],
        ["predict", "--batch-rows", "x"],
        ["predict", "--engine", "Spark"],
        ["predict", "--engine", "pandas"],
        ["predict", ""],
    ],
)
def test_anything_else_is_left_to_typer(argv: list[str]) -> None:
    assert parse(argv) is None


@pytest.mark.parametrize(
    "argv",
    [
        ["predict", "a", "b"],
        ["predict", "--nope"],
        ["predict", "--batch-rows", "0"],
        ["predict", "--batch-rows", "x"],
        ["predict", "--engine", "pandas"],
    ],
)
def test_the_lines_left_to_typer_include_its_usage_errors(argv: list[str]) -> None:
    """The reason the fast path stops short: these are Typer's to answer (exit 2, usage)."""
    assert parse(argv) is None
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2
    assert "Usage" in result.output


def test_the_package_runs_a_predict_line_without_importing_typer_to_parse_it(
    tmp_path: Path,
) -> None:
    """A plain line on a folder without opsloop.yaml: the fast path's one-line error and
    exit code 1, as Typer's command answers it, and Typer never imported."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        f"sys.argv = ['opsloop', 'predict', '-p', {str(tmp_path)!r}, '-i', 'x.parquet']\n"
        "from opsloop.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    print('EXIT', exc.code, 'TYPER', 'typer' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout.strip().splitlines()[-1] == "EXIT 1 TYPER False", done.stderr
    assert "error:" in done.stderr and "no opsloop.yaml" in done.stderr
    typer = CliRunner().invoke(app, ["predict", "-p", str(tmp_path), "-i", "x.parquet"])
    assert typer.exit_code == 1 and "no opsloop.yaml" in typer.output
