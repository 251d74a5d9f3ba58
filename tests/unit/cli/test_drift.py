"""`opsloop drift`'s fast path (`opsloop.cli.drift.parse`): every line it accepts, Typer
reads the same way; every line it leaves to Typer is one it must not judge (help, errors,
unusual spellings); and the `opsloop.cli` package stays importable without Typer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opsloop.cli import app
from opsloop.cli import drift as drift_cli
from opsloop.cli.drift import DriftArgs, parse


def typer_reads(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> DriftArgs:
    """The arguments the Typer command hands to `run` for `argv`."""
    seen: list[DriftArgs] = []

    def record(args: DriftArgs) -> int:
        seen.append(args)
        return 0

    monkeypatch.setattr(drift_cli, "run", record)
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert len(seen) == 1
    return seen[0]


@pytest.mark.parametrize(
    "argv",
    [
        ["drift", "ref.parquet", "cur.parquet"],
        ["drift", "ref.parquet", "cur.parquet", "--html", "out.html", "--json", "out.json"],
        ["drift", "--html=r.html", "ref.parquet", "--json", "-", "cur.parquet"],
        ["drift", "data/ref-*.parquet", "sql:SELECT * FROM read_parquet('c.parquet') WHERE a > 1"],
        ["drift", "r.csv", "c.csv", "--columns", "a,b", "--columns", "c", "--exclude=d"],
        ["drift", "r.csv", "c.csv", "--categorical", "x", "--numeric", "y", "--numeric=z"],
        ["drift", "r.csv", "c.csv", "--method", "psi", "--share", "0.5"],
        ["drift", "r.csv", "c.csv", "--share=1", "--method=wasserstein"],
        ["drift", "r.csv", "c.csv", "--share", ".25"],
        ["drift", "r.csv", "c.csv", "--share", "5e-1"],
        ["drift", "r.csv", "c.csv", "--method", "magic", "--share", "7"],  # run() refuses them
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
        ["monitor", "ref.parquet"],
        ["--stack", "team", "drift", "r.csv", "c.csv"],  # a global option first
        ["drift"],
        ["drift", "--help"],
        ["drift", "r.csv", "c.csv", "--help"],
        ["drift", "r.csv"],  # a missing argument
        ["drift", "r.csv", "c.csv", "d.csv"],  # an extra one
        ["drift", "r.csv", "c.csv", "--nope"],
        ["drift", "r.csv", "c.csv", "-x"],
        ["drift", "r.csv", "--", "c.csv"],
        ["drift", "r.csv", "c.csv", "--html"],  # no value
        ["drift", "r.csv", "c.csv", "--html", "--json", "x"],  # an option as the value
        ["drift", "r.csv", "c.csv", "--html="],
        ["drift", "r.csv", "c.csv", "--share", "x"],
        ["drift", "r.csv", "c.csv", "--share", "-1"],
        ["drift", "r.csv", "c.csv", "--share", "inf"],
        ["drift", "r.csv", "c.csv", "--share", " 0.5"],
        ["drift", "r.csv", "c.csv", "--share", "1_0"],
        ["drift", "r.csv", "c.csv", "--method", "a", "--method", "b"],  # a scalar twice
        ["drift", "-", "c.csv"],
    ],
)
def test_anything_else_is_left_to_typer(argv: list[str]) -> None:
    assert parse(argv) is None


@pytest.mark.parametrize(
    "argv",
    [
        ["drift", "r.csv"],
        ["drift", "r.csv", "c.csv", "--nope"],
        ["drift", "r.csv", "c.csv", "--share", "x"],
    ],
)
def test_the_lines_left_to_typer_include_its_usage_errors(argv: list[str]) -> None:
    """The reason the fast path stops short: these are Typer's to answer (exit 2, usage)."""
    assert parse(argv) is None
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2
    assert "Usage" in result.output


def test_the_package_imports_typer_only_when_the_app_is_used() -> None:
    code = (
        "import sys\n"
        "import opsloop.cli as cli\n"
        "assert 'typer' not in sys.modules, 'typer imported by the package'\n"
        "from opsloop.cli import app\n"
        "import typer\n"
        "assert isinstance(app, typer.Typer) and cli.app is app\n"
        "import opsloop.cli.app\n"
        "from opsloop.cli import app as again\n"
        "assert again is app\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


FAST = """
import atexit, sys
sys.argv = ["opsloop", "drift", {ref!r}, {cur!r}, "--json", {out!r}]
atexit.register(lambda: print("TYPER", "typer" in sys.modules))
from opsloop.cli import main
main()
print("not reached: main() exits")
"""


def test_a_plain_drift_line_runs_without_typer(tmp_path: Path) -> None:
    ref, cur, out = tmp_path / "ref.csv", tmp_path / "cur.csv", tmp_path / "out.json"
    ref.write_text("x,c\n" + "".join(f"{i % 7},{'ab'[i % 2]}\n" for i in range(200)))
    cur.write_text("x,c\n" + "".join(f"{i % 7 + 5},{'ab'[i % 2]}\n" for i in range(200)))
    script = FAST.format(ref=str(ref), cur=str(cur), out=str(out))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    # exit code 1 (dataset drift); the atexit handler ran and its output was flushed,
    # though the fast path skips the interpreter's teardown
    assert done.returncode == 1, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "TYPER False", done.stdout
    report = json.loads(out.read_text())
    assert report["detected"] is True and report["current_rows"] == 200
