"""The CLI over real MLflow (SQLite), the SQLite ops store and DuckDB, on the tiny project."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opsloop.cli import app
from tinyproject import write_tiny_project

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_tiny_project(tmp_path_factory.mktemp("cli") / "tiny")
    code, out = run("train", "-p", str(root))
    assert code == 0, out
    assert "Promoted version 1" in out
    return root


def test_train_registers_in_mlflow(trained: Path) -> None:
    from mlflow import MlflowClient

    uri = f"sqlite:///{trained / '.opsloop' / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    mv = client.get_model_version_by_alias("tiny", "champion")
    assert str(mv.version) == "1"
    assert len(mv.tags["opsloop.data_fingerprint"]) == 64
    run_ = client.get_run(mv.run_id)
    assert "holdout_roc_auc" in run_.data.metrics
    inputs = run_.inputs.dataset_inputs
    assert inputs and inputs[0].dataset.digest
    artifacts = {a.path for a in client.list_artifacts(mv.run_id, "opsloop")}
    assert {
        "opsloop/schema.yaml",
        "opsloop/reference_profile.json",
        "opsloop/features.json",
    } <= artifacts
    # the model in the registry loads and predicts with its signature
    from opsloop.registry.mlflow import MlflowRegistry

    loaded = MlflowRegistry(uri).load("tiny", "1")
    assert loaded.feature_names == ["x1", "x2", "color"]


def test_status_and_events_json(trained: Path) -> None:
    code, out = run("status", "-p", str(trained), "--json")
    assert code == 0, out
    status = json.loads(out)
    assert status["champion"]["version"] == "1"
    assert status["champion"]["gate"]["passed"] is True
    assert status["deployment"]["revision"] == 1
    code, out = run("events", "-p", str(trained), "--json")
    events = json.loads(out)
    assert [e["kind"] for e in events][:5] == [
        "trained",
        "registered",
        "gate_passed",
        "approved",
        "promoted",
    ]
    fields = {"id", "ts", "kind", "model", "version", "actor", "summary", "evidence"}
    assert fields <= set(events[0])
    code, out = run("status", "-p", str(trained))
    assert code == 0 and "champion" in out and "version 1" in out


def test_promote_rollback_cycle(trained: Path) -> None:
    code, out = run("train", "-p", str(trained), "--force", "--json")  # the same data
    assert code == 0, out
    assert json.loads(out)["version"] == "2"
    code, out = run("rollback", "tiny", "-p", str(trained), "--reason", "test")
    assert code == 0, out
    assert "from version 2 to 1" in out
    code, out = run("promote", "tiny", "2", "-p", str(trained))
    assert code == 0 and "revision 4" in out


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("rollback", "other"), "serves the model 'tiny', not 'other'"),
        (("promote", "tiny", "99"), "no version '99'"),
        (("approve", "tiny", "99"), "no version '99'"),
    ],
)
def test_errors_are_one_line(trained: Path, args: tuple[str, ...], fragment: str) -> None:
    code, out = run(*args, "-p", str(trained))
    assert code == 1
    assert fragment in out and "Traceback" not in out


def test_no_project_and_bad_config(tmp_path: Path) -> None:
    code, out = run("status", "-p", str(tmp_path))
    assert code == 1 and "no opsloop.yaml" in out and "opsloop init" in out
    (tmp_path / "opsloop.yaml").write_text(
        "model: x\ntarget: y\nid_column: i\ntime_column: t\ngate: {metric: rsme}\n"
    )
    code, out = run("status", "-p", str(tmp_path))
    assert code == 1 and "gate.metric" in out and "Traceback" not in out


def test_a_lost_ops_store_is_refused_then_rebuilt_from_the_champion_alias(
    trained: Path, tmp_path: Path
) -> None:
    """Deleting `.opsloop/ops.db` (of a copy) while MLflow holds the versions: acting
    commands exit 1 with one line naming the fix; `store rebuild` restores the deployment
    from the `champion` alias (issue 19, finding 5)."""
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(trained, root)
    (root / ".opsloop" / "ops.db").unlink()
    code, champion = run("status", "-p", str(trained), "--json")
    assert code == 0, champion
    version = json.loads(champion)["deployment"]["version"]
    for args in (("promote", "tiny", "1"), ("agent", "--once"), ("rollback", "tiny")):
        code, out = run(*args, "-p", str(root))
        assert code == 1, out
        assert "the ops store has no record of 'tiny'" in out and "opsloop store rebuild" in out
        assert "Traceback" not in out and len(out.strip().splitlines()) <= 3  # one wrapped line
    code, out = run("store", "rebuild", "-p", str(root), "--json")
    assert code == 0, out
    assert json.loads(out)["champion"] == version and json.loads(out)["revision"] == 1
    code, out = run("status", "-p", str(root), "--json")
    assert code == 0 and json.loads(out)["deployment"]["version"] == version
    code, out = run("store", "rebuild", "-p", str(root))
    assert code == 1 and "nothing to rebuild" in out
