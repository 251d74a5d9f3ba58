"""`opsloop init`: the restaurants example's size options, and their refusal elsewhere."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from opsloop.cli import app


def test_init_restaurants_with_a_size(tmp_path: Path) -> None:
    root = tmp_path / "recs"
    args = ["init", str(root), "--example", "restaurants", "--users", "300"]
    result = CliRunner().invoke(app, [*args, "--restaurants", "30"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    # Rich wraps long paths, within a path too (xdist's folders make it long)
    assert "from the restaurants example" in said and "recs/README.md" in "".join(said.split())
    assert len(pd.read_parquet(root / "data" / "users.parquet")) == 300
    assert len(pd.read_parquet(root / "data" / "restaurants.parquet")) == 30


def test_size_options_are_refused_for_churn_and_below_one_per_area(tmp_path: Path) -> None:
    runner = CliRunner()
    churn = runner.invoke(app, ["init", str(tmp_path / "c"), "--users", "300"])
    said = " ".join(churn.output.split())
    assert churn.exit_code == 1 and "--users and --restaurants size the restaurants" in said
    small = ["init", str(tmp_path / "r"), "--example", "restaurants", "--restaurants", "5"]
    assert runner.invoke(app, small).exit_code == 2  # typer: below the minimum of 12
    assert not (tmp_path / "c" / "opsloop.yaml").exists()
