"""The rest of the CLI on a scaffolded churn project: init, labels add, monitor, agent --once,
approve/reject errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tinyproject import run_cli as run


@pytest.fixture(scope="module")
def churn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cmd") / "churn"
    code, out = run("init", str(root))
    assert code == 0 and "Created" in out, out
    code, out = run("init", str(root))
    assert code == 1 and "--force" in out
    code, out = run("train", "-p", str(root), "--json")
    assert code == 0, out
    assert json.loads(out)["promoted"] is True
    return root


def test_labels_add(churn: Path, tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"customer_id": ["a", "b"], "churned": [1, 0]}).to_csv(labels, index=False)
    code, out = run("labels", "add", str(labels), "-p", str(churn))
    assert code == 0 and "Added 2 labels" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("id,y\n1,1\n")
    code, out = run("labels", "add", str(bad), "-p", str(churn))
    assert code == 1 and "customer_id" in out and "Traceback" not in out


def test_labels_add_checks_values_and_counts_matched_and_waiting(
    churn: Path, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    from opsloop.project import Project
    from opsloop.serve import PredictionLogWriter

    p = Project(churn)
    features = pd.read_parquet(churn / "data" / "history.parquet").head(2)
    features = features.drop(columns=["customer_id", "event_time", "churned"])
    writer = PredictionLogWriter(p.paths.predictions, p.name)
    writer.submit(
        pd.DataFrame(
            {
                "prediction_id": ["m-1", "m-2"],
                "request_id": "r",
                # two days ago: the module's project is monitored on an empty last hour later
                "ts": pd.Timestamp(datetime.now(UTC) - timedelta(days=2)),
                "model_version": "1",
                "route": "stable",
                "prediction": 1,
                "score": 0.7,
            }
        ).join(features)  # as served: the churn example trains on these labelled rows
    )
    writer.close()
    labels = tmp_path / "matched.csv"
    labels.write_text("customer_id,churned\nm-1,1\nm-2,false\nlater,1\n")
    code, out = run("labels", "add", str(labels), "-p", str(churn))
    assert code == 0, out
    assert "Added 3 labels" in out and "2 matched a logged prediction, 1 waiting" in out
    again = tmp_path / "again.csv"
    again.write_text("customer_id,churned\nm-1,1\nm-1,1\n")
    code, out = run("labels", "add", str(again), "-p", str(churn), "--json")
    assert code == 0, out
    answer = json.loads(out)
    assert {k: answer[k] for k in ("rows", "matched", "waiting", "rejected", "duplicates")} == {
        "rows": 1,
        "matched": 1,
        "waiting": 0,
        "rejected": 0,
        "duplicates": 1,
    }
    assert answer["checked_against"].startswith("one of the classes of version")
    bad = tmp_path / "bad-values.csv"
    bad.write_text("customer_id,churned\nz-1,yes\nz-2,1\n,0\n")
    before = sorted(p.paths.labels.iterdir())
    code, out = run("labels", "add", str(bad), "-p", str(churn))
    assert code == 1 and "Traceback" not in out
    assert "2 of 3 label rows are invalid; nothing was stored" in " ".join(out.split())
    assert sorted(p.paths.labels.iterdir()) == before
    code, out = run("labels", "add", str(bad), "-p", str(churn), "--skip-invalid")
    assert code == 0 and "Added 1 labels" in out and "2 invalid rows skipped" in out


def test_monitor_and_agent_once_on_an_empty_window(churn: Path) -> None:
    code, out = run("monitor", "-p", str(churn), "--json")
    assert code == 0, out
    result = json.loads(out)
    assert result["n_rows"] == 0 and result["drift_detected"] is False
    assert Path(result["report_path"]).is_file()
    code, out = run("agent", "-p", str(churn), "--once", "--json")
    assert code == 0, out
    tick = json.loads(out)
    assert tick["monitored"] is None and tick["fired"] == []
    assert any("monitor not due" in n for n in tick["notes"])
    code, out = run("agent", "-p", str(churn), "--once", "--force-monitor")
    # on the event clock the agent monitors the log's complete event windows: it has none
    assert code == 0 and "no predictions of version 1 in the log" in out


def test_approve_and_reject_errors(churn: Path) -> None:
    code, out = run("approve", "churn", "1", "-p", str(churn))
    assert code == 0 and "Approved" in out  # already deployed: approving records it
    code, out = run("reject", "churn", "7", "-p", str(churn))
    assert code == 1 and "no version '7'" in out
    code, out = run("train", "-p", str(churn), "--window", "soon")
    assert code == 1 and "--window" in out


def test_retrain_request_then_now(churn: Path) -> None:
    code, out = run("retrain", "-p", str(churn), "--reason", "audit labels", "--json")
    assert code == 0, out
    request = json.loads(out)
    assert request["status"] == "pending" and request["reason"] == "audit labels"
    code, out = run("status", "-p", str(churn))
    assert code == 0 and f"#{request['id']}" in out and "manual" in out, out
    code, out = run("agent", "-p", str(churn), "--once", "--json")
    assert code == 0, out
    tick = json.loads(out)
    assert [(f["trigger"], f["key"]) for f in tick["fired"]] == [("manual", str(request["id"]))]
    assert tick["trained"] is not None
    code, out = run("status", "-p", str(churn), "--json")
    seen = json.loads(out)["retrain_requests"][-1]
    assert seen["id"] == request["id"] and seen["status"] == "fired" and seen["run"]
    code, out = run("retrain", "-p", str(churn), "--now", "--reason", "hotfix")
    assert code == 0 and "Retraining request" in out and "hotfix" in out, out
    code, out = run("events", "-p", str(churn), "--kind", "retrain_requested", "--json")
    assert [e["evidence"]["reason"] for e in json.loads(out)][-2:] == ["audit labels", "hotfix"]


def test_orchestrator_steps(churn: Path) -> None:
    """`triggers check`, `rollout advance` and `train --trigger` errors (their Airflow run:
    test_airflow_export.py)."""
    code, out = run("triggers", "check", "-p", str(churn), "--json")
    assert code == 0, out
    checked = json.loads(out)
    assert checked["fired"] is False and checked["verdict"] is None
    # monitored whatever the schedule; on the event clock: the log's complete event
    # windows, and this log has none
    assert checked["tick"]["monitored"] is None and checked["tick"]["monitored_windows"] == []
    assert "monitor: no predictions of version 1 in the log" in checked["tick"]["notes"]
    code, out = run("triggers", "check", "-p", str(churn))
    assert code == 0 and "No retrain trigger fired" in out
    code, out = run("rollout", "advance", "churn", "-p", str(churn), "--json")
    assert code == 0, out
    assert json.loads(out) == {"step": None, "notes": ["nothing is rolling out"]}
    code, out = run("train", "-p", str(churn), "--trigger", "sometime")
    assert code == 1 and "--trigger" in out and "drift" in out and "Traceback" not in out
    code, out = run("train", "-p", str(churn), "--trigger", "drift:k", "--window", "1d")
    assert code == 1 and "cannot be combined" in out


def test_train_twice_on_the_same_data_skips_the_second(tmp_path: Path) -> None:
    root = tmp_path / "same"
    assert run("init", str(root))[0] == 0
    code, out = run("train", "-p", str(root), "--json")
    assert code == 0, out
    first = json.loads(out)
    assert first["skipped"] is False and first["version"] == "1"
    code, out = run("train", "-p", str(root))
    assert code == 0, out
    assert "Skipped" in out and "version 1 stays champion" in out
    assert "equal champion version 1's" in out
    code, out = run("train", "-p", str(root), "--json")
    assert code == 0, out
    again = json.loads(out)
    assert again["skipped"] is True and again["version"] == "1" and not again["promoted"]
    code, out = run("events", "-p", str(root), "--kind", "retrain_skipped", "--json")
    skipped = json.loads(out)
    assert len(skipped) == 2 and skipped[-1]["evidence"]["champion_version"] == "1"
    assert skipped[-1]["evidence"]["pipeline_run"] == again["run_id"]
    code, out = run("status", "-p", str(root))
    assert code == 0 and f"#{again['run_id']} train skipped" in out, out
    code, out = run("train", "-p", str(root), "--force", "--json")
    assert code == 0, out
    forced = json.loads(out)
    assert forced["skipped"] is False and forced["version"] == "2"
