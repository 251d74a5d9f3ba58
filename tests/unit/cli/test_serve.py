"""`opsloop serve`'s fast path (`opsloop.cli.serve.parse`): every line it accepts, Typer reads
the same way; every line it leaves to Typer is one it must not judge (help, errors, unusual
spellings, the project from the environment); a plain line runs without Typer and answers
a bad project in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opsloop.cli import app
from opsloop.cli import serve as serve_cli
from opsloop.cli.serve import ServeArgs, parse


@pytest.fixture(autouse=True)
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPSLOOP_PROJECT", "OPSLOOP_STACK"):
        monkeypatch.delenv(name, raising=False)


def typer_reads(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> ServeArgs:
    """The arguments the Typer command hands to `run` for `argv`."""
    seen: list[ServeArgs] = []

    def record(args: ServeArgs) -> int:
        seen.append(args)
        return 0

    monkeypatch.setattr(serve_cli, "run", record)
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert len(seen) == 1
    return seen[0]


@pytest.mark.parametrize(
    "argv",
    [
        ["serve"],
        ["serve", "-p", "proj"],
        ["serve", "--project", "a/b", "--port", "8080"],
        ["serve", "--project=a b", "--port=0", "--host", "0.0.0.0"],
        ["serve", "-p", "p", "--stack", "team", "--workers", "4"],
        ["serve", "--workers=64", "--host=::1", "--stack=local"],
        ["serve", "--port", "65535", "--workers", "1"],
    ],
)
def test_what_the_fast_path_accepts_typer_reads_the_same(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed = parse(argv)
    assert parsed is not None
    assert parsed == typer_reads(argv, monkeypatch)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--help"],
        ["status"],
        ["--stack", "team", "serve"],  # a global option first
        ["serve", "--help"],
        ["serve", "proj"],  # an argument
        ["serve", "--nope"],
        ["serve", "-x"],
        ["serve", "-p"],  # no value
        ["serve", "-p=proj"],
        ["serve", "-pproj"],
        ["serve", "--port", "--host", "h"],  # an option as the value
        ["serve", "--host="],
        ["serve", "--port", "x"],
        ["serve", "--port", "-1"],
        ["serve", "--port", " 80"],
        ["serve", "--port", "8_0"],
        ["serve", "--workers", "0"],
        ["serve", "--workers", "65"],
        ["serve", "-p", "a", "--project", "b"],  # given twice
        ["serve", "--port", "1", "--port", "2"],
    ],
)
def test_anything_else_is_left_to_typer(argv: list[str]) -> None:
    assert parse(argv) is None


def test_a_project_from_the_environment_is_left_to_typer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSLOOP_PROJECT", "elsewhere")
    assert parse(["serve"]) is None
    assert parse(["serve", "-p", "here"]) == ServeArgs(Path("here"))


@pytest.mark.parametrize("argv", [["serve", "--nope"], ["serve", "--workers", "0"]])
def test_the_lines_left_to_typer_include_its_usage_errors(argv: list[str]) -> None:
    """The reason the fast path stops short: these are Typer's to answer (exit 2, usage)."""
    assert parse(argv) is None
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2
    assert "Usage" in result.output


SCRIPT = """
import sys
sys.argv = ["opsloop", "serve", "-p", {root!r}]
from opsloop.cli import main
try:
    main()
except SystemExit as exc:
    print("EXIT", exc.code, "typer" in sys.modules)
"""


def test_a_plain_serve_line_runs_without_typer_and_answers_a_bad_project_in_one_line(
    tmp_path: Path,
) -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(root=str(tmp_path / "none"))],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "EXIT 1 False"
    assert out.stderr.startswith("error: no opsloop.yaml in ")
    assert "Traceback" not in out.stderr
