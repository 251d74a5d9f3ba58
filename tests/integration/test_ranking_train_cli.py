"""`opsloop train` on the restaurants example (small) on the local stack: the recommender
is trained, registered in MLflow (SQLite), gated and made champion; a second training is
gated against it; the decision and its evidence are in `opsloop status --json` and
`opsloop gate`, without MLflow."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tinyproject import run_cli as run


@pytest.fixture(scope="module")
def restaurants(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("restaurants") / "p"
    code, out = run(
        "init", str(root), "--example", "restaurants", "--users", "2000", "--restaurants", "300"
    )
    assert code == 0, out
    model = root / "model.py"  # one OpenMP thread: this 2-core machine is shared
    text = model.read_text(encoding="utf-8")
    assert "TwoStageRecommender(\n" in text
    text = text.replace("TwoStageRecommender(\n", "TwoStageRecommender(\n        n_threads=1,\n")
    model.write_text(text, encoding="utf-8")
    return root


def test_train_twice_gates_the_second_version_against_the_champion(restaurants: Path) -> None:
    p = str(restaurants)
    code, out = run("train", "-p", p, "--json")
    assert code == 0, out
    first = json.loads(out)
    assert first["version"] == "1" and first["promoted"] is True, first["gate_reasons"]
    assert first["anchor"] == "data" and first["window"].endswith("Z")
    assert first["metrics"]["ndcg_at_k"] > 0.05  # the template's floor

    code, out = run("train", "-p", p, "--json")  # nothing new: skipped
    assert code == 0, out
    assert json.loads(out)["skipped"] is True

    code, out = run("train", "-p", p, "--force", "--json")
    assert code == 0, out
    second = json.loads(out)
    assert second["version"] == "2" and second["champion_version"] == "1"

    code, out = run("status", "-p", p, "--json")
    assert code == 0, out
    status = json.loads(out)
    assert status["task"] == "ranking" and status["versions"] == ["1", "2"]
    shown = status["champion"] if second["promoted"] else status["challenger"]
    assert shown["version"] == "2"
    gate = shown["gate"]
    assert gate["champion_version"] == "1" and gate["metric"] == "ndcg_at_k"
    assert gate["passed"] == second["gate_passed"]
    assert gate["champion_value"] == pytest.approx(gate["challenger_value"])  # same model
    assert gate["method"] is not None and gate["ci_low"] is not None

    code, out = run("gate", "restaurants", "2", "-p", p, "--json")
    report = json.loads(out)
    listed = pd.read_parquet(restaurants / "regression_users.parquet")
    assert report["champion_version"] == "1"
    assert report["regression_set"]["rows"] == len(listed) > 0
    assert {m["metric"] for m in report["metrics"]} == {
        "ndcg_at_k",
        "recall_at_k",
        "cold_start_ndcg_at_k",
        "coverage",
    }

    code, out = run("serve", "-p", p)
    assert code == 1 and "`opsloop serve` does not run yet" in out
