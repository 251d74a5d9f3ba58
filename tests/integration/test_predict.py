"""Batch prediction for real: monitoring a window made only of batch predictions on the
DuckDB engine (drift, labels, performance), and the CLI on the churn example with MLflow
(predict, publish, history, rollback, status, contract errors)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from opsloop.project import Project
from opsloop.registry.memory import MemoryRegistry
from opsloop.store import OpsStore
from tinyproject import run_cli as run
from tinyproject import tiny_frame, write_tiny_project


def test_monitor_a_window_made_only_of_batch_predictions(tmp_path: Path) -> None:
    p = Project(
        write_tiny_project(tmp_path / "t"), registry=MemoryRegistry(), store=OpsStore("sqlite://")
    )
    p.train()
    frame = tiny_frame(600, seed=11, prefix="w", days=0.02)  # event times in the last ~30 min
    frame.drop(columns=["label"]).to_parquet(tmp_path / "rows.parquet")
    result = p.predict(str(tmp_path / "rows.parquet"), tmp_path / "out", batch_rows=1000)
    assert result.log_rows == 600
    added = p.add_labels(frame[["row_id", "label"]])
    assert added.matched == 600
    m = p.monitor()
    assert (m.n_rows, m.n_labelled) == (600, 600)
    assert not m.drift_detected
    assert m.performance_value is not None and m.performance_value > 0.75

    drifted = tiny_frame(600, seed=12, prefix="v", days=0.02, drift=1.0)
    drifted.drop(columns=["label"]).to_parquet(tmp_path / "drifted.parquet")
    p.predict(str(tmp_path / "drifted.parquet"), tmp_path / "out")
    m = p.monitor()
    assert m.n_rows == 1200 and m.drift_detected
    assert "x1" in m.summary_model.drifted_features


@pytest.fixture(scope="module")
def churn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("predict") / "churn"
    code, out = run("init", str(root))
    assert code == 0, out
    code, out = run("train", "-p", str(root), "--json")
    assert code == 0 and json.loads(out)["promoted"] is True, out
    rows = pd.read_parquet(root / "data" / "history.parquet").tail(3000)
    rows.drop(columns=["churned"]).to_parquet(root / "score.parquet")
    return root


def test_predict_publish_history_rollback_on_the_churn_example(churn: Path) -> None:
    out = churn / "scores"
    runs = []
    for _ in range(2):
        code, text = run(
            "predict", "churn", "-p", str(churn), "-i", str(churn / "score.parquet"),
            "-o", str(out), "--publish", "--json",
        )  # fmt: skip
        assert code == 0, text
        runs.append(json.loads(text))
    first, second = runs
    assert first["run"]["rows"] == 3000 and first["inference"] == "compiled"
    assert second["publication"]["revision"] == 2
    scored = pd.read_parquet(second["run"]["output"])
    assert len(scored) == 3000 and scored["score"].between(0, 1).all()

    code, text = run("batch", "history", "churn", "-p", str(churn))
    assert code == 0 and first["run"]["run_id"] in text and "current" in text
    code, text = run("batch", "rollback", "churn", "-p", str(churn))
    assert code == 0 and f"to {first['run']['run_id']}" in text, text
    code, text = run("batch", "current", "churn", "-p", str(churn), "--json")
    assert code == 0 and json.loads(text)["run_id"] == first["run"]["run_id"]
    manifest = json.loads((out / "current.json").read_text())
    assert (manifest["run_id"], manifest["revision"]) == (first["run"]["run_id"], 3)

    code, text = run("status", "-p", str(churn), "--json")
    batch = json.loads(text)["batch"]
    assert batch["current_run_id"] == first["run"]["run_id"]
    assert batch["last_run"]["run_id"] == second["run"]["run_id"]
    code, text = run("status", "-p", str(churn))
    assert "last batch" in text and "batch output" in text

    # a second version publishes its output; rolling the model back re-publishes the output
    # of version 1 that was current last (predict.republish_on_rollback, on by default)
    code, text = run("train", "-p", str(churn), "--force", "--json")
    assert code == 0 and json.loads(text)["promoted"] is True, text
    code, text = run(
        "predict", "churn", "-p", str(churn), "-i", str(churn / "score.parquet"),
        "-o", str(out), "--publish", "--json",
    )  # fmt: skip
    assert code == 0 and json.loads(text)["run"]["version"] == "2", text
    code, text = run("rollback", "churn", "-p", str(churn))
    assert code == 0 and "to 1" in text, text
    assert f"Batch output: {first['run']['run_id']} (version 1) is current again" in text
    code, text = run("batch", "current", "churn", "-p", str(churn), "--json")
    assert code == 0 and json.loads(text)["run_id"] == first["run"]["run_id"]
    assert json.loads((out / "current.json").read_text())["run_id"] == first["run"]["run_id"]


def test_a_bad_input_is_one_error_and_writes_nothing(churn: Path, tmp_path: Path) -> None:
    rows = pd.read_parquet(churn / "score.parquet").head(50)
    numeric = next(c for c in rows.columns if rows[c].dtype.kind == "f")
    rows = rows.drop(columns=[numeric]).assign(contract=1)
    rows.to_parquet(tmp_path / "bad.parquet")
    code, text = run(
        "predict", "-p", str(churn), "-i", str(tmp_path / "bad.parquet"), "-o", str(tmp_path / "o")
    )
    assert code == 1 and "Traceback" not in text
    assert f"{numeric}: expected a number" in text and "contract: expected text" in text
    assert not (tmp_path / "o").exists()
    code, text = run("predict", "-p", str(churn), "-o", str(tmp_path / "o"))
    assert code == 1 and "no `predict:` section" in text


def test_a_cached_version_scores_without_mlflow(churn: Path, tmp_path: Path) -> None:
    """The first batch prediction of the deployed version loads it through MLflow and caches
    it (modelcache.py); the next process unpickles the cached copy without importing MLflow
    (nor SQLAlchemy: the ops store through its DB-API reader, store/light.py), and answers
    the same."""
    script = (
        "import json, sys\n"
        "from opsloop.project import Project\n"
        "v = sys.argv[4] if len(sys.argv) > 4 else None\n"
        "r = Project(sys.argv[1]).predict(sys.argv[2], sys.argv[3], version=v)\n"
        "print(json.dumps([r.inference, str(r.output), 'mlflow' in sys.modules,\n"
        "                  'sqlalchemy' in sys.modules]))\n"
    )
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    shutil.rmtree(churn / ".opsloop" / "cache", ignore_errors=True)
    deployed = Project(churn).store.find_deployment("churn")
    assert deployed is not None
    found = []
    for pinned in ([], [], [deployed.version]):  # the third names its version (--version)
        done = subprocess.run(
            [sys.executable, "-c", script, str(churn), str(churn / "score.parquet"), str(tmp_path),
             *pinned],
            env=env, capture_output=True, text=True, check=False, timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        found.append(json.loads(done.stdout.strip().splitlines()[-1]))
    (path1, out1, mlflow1, _), (path2, out2, mlflow2, sqlalchemy2), (_, _, mlflow3, _) = found
    assert (path1, mlflow1) == ("compiled", True)  # a miss: loaded through the registry
    assert (path2, mlflow2) == ("compiled", False)  # a hit: the verdict from the ops store
    assert not sqlalchemy2  # read and recorded through the DB-API reader (store/light.py)
    assert not mlflow3  # a version the ops store registered is not looked up in MLflow
    first, second = (pd.read_parquet(o).sort_values("customer_id") for o in (out1, out2))
    assert len(first) == 3000
    assert first["score"].tolist() == second["score"].tolist()


FAST = """
import gc, sys
sys.argv = ["opsloop", *sys.argv[1:]]
from opsloop.cli import main
try:
    main()
except SystemExit as exc:
    code = exc.code
print("EXIT", code, "TYPER", "typer" in sys.modules, "GC", gc.isenabled())
"""


def test_a_plain_predict_line_runs_without_typer_as_typer_runs_it(
    churn: Path, tmp_path: Path
) -> None:
    """`opsloop predict …` parsed by the fast path (cli/predict.py) scores like the Typer
    command, prints the same JSON fields and the same summary, and leaves the collector on
    after start-up."""
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    env.pop("OPSLOOP_STACK", None)
    line = ["predict", "churn", "-p", str(churn), "-i", str(churn / "score.parquet")]

    def fast(*extra: str) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", FAST, *line, *extra],
            env=env, capture_output=True, text=True, check=False, timeout=600,
        )  # fmt: skip
        *answer, last = done.stdout.strip().splitlines()
        assert last == "EXIT 0 TYPER False GC True", (last, done.stderr[-2000:])
        return answer

    ours = json.loads("\n".join(fast("-o", str(tmp_path / "fast"), "--json")))
    code, text = run(*line, "-o", str(tmp_path / "typer"), "--json")
    assert code == 0, text
    theirs = json.loads(text)
    assert set(ours) == set(theirs) and set(ours["run"]) == set(theirs["run"])
    for found in (ours, theirs):
        assert (found["run"]["rows"], found["inference"], found["log_rows"]) == (
            3000,
            "compiled",
            3000,
        )
    first, second = (
        pd.read_parquet(r["run"]["output"]).sort_values("customer_id") for r in (ours, theirs)
    )
    assert first["score"].tolist() == second["score"].tolist()
    shown = "\n".join(fast("-o", str(tmp_path / "shown")))
    assert "Scored 3,000 rows with version" in shown and "compiled path" in shown
