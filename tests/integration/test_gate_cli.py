"""`opsloop gate` over real MLflow: reports stored as run artifacts, shown, rerun, and a
failed gate telling scripts apart from errors by its exit code."""

from __future__ import annotations

import json
from pathlib import Path

from tinyproject import run_cli, write_tiny_project


def test_gate_reports_in_mlflow_and_on_the_cli(tmp_path: Path) -> None:
    root = write_tiny_project(tmp_path / "tiny")
    for force in ([], ["--force"]):  # the same data twice: the second is forced
        code, out = run_cli("train", "-p", str(root), *force)
        assert code == 0, out
    assert "full report: opsloop gate tiny 2" in out

    from mlflow import MlflowClient

    uri = f"sqlite:///{root / '.opsloop' / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    run_id = client.get_model_version("tiny", "2").run_id
    files = {a.path for a in client.list_artifacts(run_id, "opsloop")}
    assert {
        "opsloop/gate_report.json",
        "opsloop/gate_report.md",
        "opsloop/gate_report.html",
    } <= files
    assert client.get_model_version("tiny", "2").tags["opsloop.gate"] == "passed"

    code, out = run_cli("gate", "tiny", "2", "-p", str(root))
    assert code == 0, out
    assert "Gate PASSED" in out and "delong" in out
    html = tmp_path / "gate.html"
    code, out = run_cli("gate", "tiny", "2", "-p", str(root), "--json", "--html", str(html))
    report = json.loads(out)
    assert report["champion_version"] == "1" and report["metrics"][0]["ci_low"] is not None
    assert "<table>" in html.read_text()

    # stricter policy: retraining on the same data cannot prove superiority → exit code 2
    yaml = (root / "opsloop.yaml").read_text()
    (root / "opsloop.yaml").write_text(
        yaml.replace("policy: non_inferiority", "policy: superiority")
    )
    code, out = run_cli("gate", "tiny", "2", "-p", str(root), "--rerun")
    assert code == 2, out
    assert "Gate FAILED" in out and "superiority" in out
    code, out = run_cli("status", "-p", str(root), "--json")
    assert json.loads(out)["champion"]["gate"]["passed"] is False  # the latest decision

    code, out = run_cli("gate", "tiny", "9", "-p", str(root))
    assert code == 1 and "has no gate decision" in out and "Traceback" not in out
