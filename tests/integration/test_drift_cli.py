"""`opsloop drift REF CUR` as a user runs it, on Parquet and CSV files: exit codes (0 no
dataset drift, 1 drift, 2 bad input), the HTML and JSON reports, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import opsloop

SRC = str(Path(opsloop.__file__).resolve().parents[1])  # this checkout's opsloop, from any cwd


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opsloop", "drift", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])},
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("drift")
    rng = np.random.default_rng(7)

    def frame(n: int, shift: float, p: list[float]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "amount": rng.lognormal(3 + shift, 0.5, n),
                "age": rng.integers(18, 90, n),
                "plan": rng.choice(["free", "pro", "team"], n, p=p),
                "active": rng.random(n) < 0.7,
            }
        )

    frame(5_000, 0.0, [0.6, 0.3, 0.1]).to_parquet(root / "ref.parquet")
    frame(3_000, 0.0, [0.6, 0.3, 0.1]).to_parquet(root / "same.parquet")
    moved = frame(3_000, 0.6, [0.2, 0.3, 0.5])
    moved.to_parquet(root / "moved.parquet")
    moved.to_csv(root / "moved.csv", index=False)
    return root


def test_no_drift_exits_0_and_writes_the_reports(data: Path) -> None:
    out = run("ref.parquet", "same.parquet", "--html", "r.html", "--json", "r.json", cwd=data)
    assert out.returncode == 0, out.stderr
    assert "no dataset drift" in out.stdout
    html = (data / "r.html").read_text()
    assert "opsloop drift" in html and html.count("<svg") == 4
    result = json.loads((data / "r.json").read_text())
    assert result["detected"] is False and result["current_rows"] == 3_000
    assert {f["name"]: f["kind"] for f in result["features"]} == {
        "amount": "numeric",
        "age": "numeric",
        "plan": "categorical",
        "active": "boolean",
    }


@pytest.mark.parametrize("current", ["moved.parquet", "moved.csv"])
def test_drift_exits_1_on_parquet_and_csv(data: Path, current: str) -> None:
    out = run("ref.parquet", current, "--json", "-", cwd=data)
    assert out.returncode == 1, out.stderr
    result = json.loads(out.stdout)  # --json -: only the JSON on stdout
    drifted = {f["name"] for f in result["drift"]["features"] if f["drifted"]}
    assert drifted == {"amount", "plan"}
    assert result["quality"]["passed"] is True  # CSV booleans read as booleans


def test_query_and_options(data: Path) -> None:
    query = "sql:SELECT amount * 1.0 AS amount, plan FROM read_parquet('moved.parquet')"
    out = run("ref.parquet", query, "--exclude", "plan", "--share", "0.9", cwd=data)
    assert out.returncode == 1, out.stderr  # 1 of 1 feature drifted
    assert "Not compared: age (only in the reference), active (only in the reference)" in (
        " ".join(out.stdout.split())
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ref.parquet", "missing.parquet"), "the current data 'missing.parquet' does not exist"),
        (("ref.parquet", "moved.csv", "--columns", "amount,nope"), "not in both data sets: nope"),
        (("ref.parquet", "sql:SELECT 1 AS other"), "no column in common"),
        (("ref.parquet", "sql:SELECT * FROM 'moved.csv' WHERE false"), "has no rows"),
        (("ref.parquet", "moved.csv", "--method", "magic"), "--method is not valid"),
    ],
)
def test_bad_input_exits_2_with_one_line(data: Path, args: tuple[str, ...], message: str) -> None:
    out = run(*args, cwd=data)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert message in " ".join(out.stderr.split())
    assert out.stderr.strip().startswith("error:")


def run_with_typer(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The same command line parsed by Typer (`opsloop.cli.app.main`), not the fast path."""
    code = "from opsloop.cli.app import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, "drift", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])},
    )


@pytest.mark.parametrize(
    "args",
    [
        ("ref.parquet", "moved.parquet", "--html", "same.html", "--json", "same.json"),
        ("ref.parquet", "moved.csv", "--exclude", "age", "--share=0.9", "--json", "same.json"),
        ("ref.parquet", "missing.parquet"),
        ("ref.parquet", "moved.csv", "--method", "magic"),
    ],
)
def test_the_fast_path_answers_exactly_as_typer(data: Path, args: tuple[str, ...]) -> None:
    fast = run(*args, cwd=data)
    fast_json = (data / "same.json").read_text() if "--json" in args else None
    typer = run_with_typer(*args, cwd=data)
    assert (fast.returncode, fast.stdout, fast.stderr) == (
        typer.returncode,
        typer.stdout,
        typer.stderr,
    )
    if fast_json is not None:  # byte for byte: the profiles' moments are deterministic
        same = (data / "same.json").read_text()
        assert same == fast_json, _first_difference(json.loads(same), json.loads(fast_json))


def _first_difference(a: object, b: object, path: str = "") -> str:
    """Where two JSON documents first differ (for the assertion's message)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in a.keys() | b.keys():
            if a.get(key) != b.get(key):
                return _first_difference(a.get(key), b.get(key), f"{path}/{key}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _first_difference(x, y, f"{path}[{i}]")
    return f"{path}: {a!r} != {b!r}"
