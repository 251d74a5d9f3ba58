"""`opsloop airflow export` run for real on Apache Airflow 3 (its own virtualenv,
`scripts/airflow-venv.sh`), through a drift-triggered retrain:

v1 trained and serving → export the DAGs → undrifted traffic: the monitoring DAG runs and
emits no asset event → drifted traffic: it emits the retrain asset event with the verdict
in `extra` → the training DAG, queued by that event (data-aware scheduling), trains v2 with
the drift trigger recorded in the ops store → the same trigger does not train twice → the
rollout DAG analyses a running canary.

Each DAG runs with `dag.test()` in the Airflow venv (`airflow_harness.py`) on a temporary
AIRFLOW_HOME with SQLite. Under CI a missing Airflow venv fails the test; locally it skips.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from opsloop.project import Project
from opsloop.serve import PredictionLogWriter
from tinyproject import prediction_log, run_cli, tiny_frame, write_tiny_project

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).with_name("airflow_harness.py")
ASSET = "opsloop://tiny/retrain"


def airflow_venv() -> Path:
    venv = Path(os.environ.get("OPSLOOP_TEST_AIRFLOW_VENV", REPO / ".venv-airflow"))
    if not (venv / "bin" / "airflow").exists():
        why = (f"the Airflow virtualenv {venv} is missing: create it with "
               "`bash scripts/airflow-venv.sh` (scripts/test.sh does)")
        if os.environ.get("CI"):
            pytest.fail(f"CI requires Airflow: {why}")
        pytest.skip(why)
    return venv


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Environment of an Airflow installation with a fresh SQLite metadata database."""
    venv = airflow_venv()
    home = tmp_path_factory.mktemp("airflow")
    env = {**os.environ, "AIRFLOW_HOME": str(home),
           "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           # as if unpaused by hand: a paused DAG is not queued by asset events
           "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
           "AIRFLOW_VENV": str(venv)}
    (home / "dags").mkdir()
    done = subprocess.run([str(venv / "bin" / "airflow"), "db", "migrate"], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    yield env


class Harness:
    """`airflow_harness.py` in the Airflow venv: one process runs DAG after DAG."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as err:
            self.proc = subprocess.Popen(
                [str(Path(env["AIRFLOW_VENV"]) / "bin" / "python"), str(HARNESS)], env=env,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True)

    def run(self, dag_id: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(dag_id + "\n")
        self.proc.stdin.flush()
        output: list[str] = []
        for line in self.proc.stdout:
            if line.startswith("RESULT "):
                result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
                detail = "".join(output[-80:]) + self.log.read_text()[-3000:]
                assert "error" not in result, result.get("error", "") + detail
                assert result["state"] == "success", detail
                return result
            output.append(line)
        raise AssertionError("the Airflow harness died:\n" + "".join(output[-80:])
                             + self.log.read_text()[-3000:])

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def log_traffic(p: Project, frame: pd.DataFrame, version: str) -> None:
    """What `opsloop serve` would write to the prediction log for `frame`."""
    log = prediction_log(p, frame, version)
    assert p.stack.prediction_log is not None
    writer = PredictionLogWriter(Path(p.stack.prediction_log), "tiny")
    writer.submit(log)
    writer.close()


def test_drift_retrains_through_airflow(tmp_path: Path, airflow: dict[str, str]) -> None:
    root = write_tiny_project(tmp_path / "tiny")
    p = Project(root)
    assert p.train().promoted
    code, out = run_cli("airflow", "export", "-p", str(root), "--out",
                        airflow["AIRFLOW__CORE__DAGS_FOLDER"], "--python", sys.executable)
    assert code == 0, out
    dags = sorted(Path(airflow["AIRFLOW__CORE__DAGS_FOLDER"]).glob("*.py"))
    assert [d.name for d in dags] == ["opsloop_tiny_monitoring.py", "opsloop_tiny_rollout.py",
                                      "opsloop_tiny_training.py"]
    harness = Harness(airflow, tmp_path / "harness.log")
    try:
        _loop_through_airflow(p, harness)
    finally:
        harness.close()


def _loop_through_airflow(p: Project, harness: Harness) -> None:
    root = p.root

    # no drift: the monitor judges real traffic, nothing fires, no asset event
    log_traffic(p, tiny_frame(600, seed=11, prefix="ok", days=0.01), "1")
    calm = harness.run("opsloop_tiny_monitoring")
    assert calm["tasks"] == {"check_triggers": "success", "request_retrain": "skipped"}
    checked = calm["returns"]["check_triggers"]
    assert checked["verdict"] is None
    assert checked["monitored"]["n_rows"] == 600 and not checked["monitored"]["drift_detected"]
    assert calm["events"] == []
    assert p.store.list_firings("tiny") == []

    # drift: the verdict goes out as the asset event's extra
    shutil.rmtree(Path(p.stack.prediction_log or ""))
    drifted = tiny_frame(800, drift=1.0, seed=5, prefix="prod", days=0.01)
    log_traffic(p, drifted, "1")
    drifted.to_parquet(root / "data" / "production.parquet", index=False)  # the warehouse
    alarm = harness.run("opsloop_tiny_monitoring")
    assert alarm["tasks"] == {"check_triggers": "success", "request_retrain": "success"}
    [event] = alarm["events"]
    assert event["asset"] == ASSET and event["source_dag_id"] == "opsloop_tiny_monitoring"
    verdict = event["extra"]
    monitored = p.store.find_last_monitor("tiny")
    assert monitored is not None and monitored.drift_detected
    assert verdict["reason"] == "drift" and verdict["monitor_result"] == monitored.id
    assert verdict["drift_share"] == pytest.approx(monitored.drift_share)
    assert verdict["drift_share"] >= 0.3 and "x1" in verdict["drifted_features"]
    [firing] = p.store.list_firings("tiny")
    assert (firing.trigger, firing.key) == ("drift", verdict["key"])
    assert verdict["trigger"] == f"drift:{firing.key}"

    # the training DAG was queued by that event and trains for its verdict
    trained = harness.run("opsloop_tiny_training")
    assert trained["queued"] and trained["consumed"] == [verdict]
    assert trained["tasks"] == {"train": "success"}
    result = trained["returns"]["train"]
    assert result["trained"] and result["outcome"]["version"] == "2"
    run = p.store.list_runs("tiny")[0]
    assert (run.trigger, run.status) == (verdict["trigger"], "succeeded")
    assert p.registry.get_version("tiny", "2").tags["opsloop.trigger"] == verdict["trigger"]

    # the same trigger does not train twice (a re-run of the DAG run, or by hand)
    code, out = run_cli("train", "-p", str(root), "--trigger", verdict["trigger"], "--json")
    assert code == 0, out
    again = json.loads(out)
    assert not again["trained"] and again["previous_run"]["id"] == run.id
    assert len(p.store.list_runs("tiny")) == 2

    # the rollout DAG takes a controller step on a running canary
    p.deploy("1", strategy="canary", reason="test")
    rolled = harness.run("opsloop_tiny_rollout")
    step = rolled["returns"]["advance"]["step"]
    assert step["action"] == "waiting" and step["rollout"]["candidate_version"] == "1"
    assert p.store.find_running_rollout("tiny") is not None
