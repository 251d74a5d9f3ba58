"""`opsloop airflow export` run for real on Apache Airflow 3 (its own virtualenv,
`scripts/airflow-venv.sh`), end to end on the shipped example project through a
drift-triggered retrain:

`opsloop init --example churn` (what `opsloop demo` runs) → v1 trained and promoted →
export the DAGs → undrifted traffic: the monitoring DAG runs and emits no asset event →
the demo's production traffic, whose drift grows phase by phase: it emits the retrain asset
event with the verdict in `extra` → the training DAG, queued by that event (data-aware
scheduling), trains v2 on recent data with the drift trigger recorded in the ops store and
on the MLflow version, and promotes it → the same trigger does not train twice → the rollout
DAG analyses a running canary.

Traffic comes from the example's own generator (`opsloop.examples.churn.generate`) and goes
through the real prediction server in process (`create_app(project.serve_context())`,
records posted to `/predict` as the demo does), so the prediction log holds exactly what
`opsloop serve` writes.

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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from opsloop.cli.demo import PHASES, send_traffic
from opsloop.examples.churn import FEATURES_CATEGORICAL, FEATURES_NUMERIC, ID, generate
from opsloop.project import Project
from opsloop.scaffold import write_events
from opsloop.serve import create_app
from tinyproject import run_cli

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).with_name("airflow_harness.py")
MODEL = "churn"
ASSET = f"opsloop://{MODEL}/retrain"
PER_PHASE = 750  # production rows per drift phase, as `opsloop demo` (3000 over 4 phases)


def airflow_venv() -> Path:
    venv = Path(os.environ.get("OPSLOOP_TEST_AIRFLOW_VENV", REPO / ".venv-airflow"))
    if not (venv / "bin" / "airflow").exists():
        why = (
            f"the Airflow virtualenv {venv} is missing: create it with "
            "`bash scripts/airflow-venv.sh` (scripts/test.sh does)"
        )
        if os.environ.get("CI"):
            pytest.fail(f"CI requires Airflow: {why}")
        pytest.skip(why)
    return venv


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Environment of an Airflow installation with a fresh SQLite metadata database."""
    venv = airflow_venv()
    home = tmp_path_factory.mktemp("airflow")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # as if unpaused by hand: a paused DAG is not queued by asset events
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW_VENV": str(venv),
    }
    (home / "dags").mkdir()
    done = subprocess.run(
        [str(venv / "bin" / "airflow"), "db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    yield env


class Harness:
    """`airflow_harness.py` in the Airflow venv: one process runs DAG after DAG."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as err:
            self.proc = subprocess.Popen(
                [str(Path(env["AIRFLOW_VENV"]) / "bin" / "python"), str(HARNESS)],
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )

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
        raise AssertionError(
            "the Airflow harness died:\n" + "".join(output[-80:]) + self.log.read_text()[-3000:]
        )

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


def traffic(drifts: tuple[float, ...], per_phase: int, *, seed: int, prefix: str) -> pd.DataFrame:
    """Churn events of the last minute, one phase per drift level (as `opsloop demo`)."""
    now = datetime.now(UTC)
    return pd.concat(
        [
            generate(
                per_phase,
                now - timedelta(minutes=1),
                now,
                drift=drift,
                seed=seed + i,
                id_prefix=f"{prefix}{i}",
            )
            for i, drift in enumerate(drifts)
        ],
        ignore_index=True,
    )


def serve(p: Project, frame: pd.DataFrame, version: str) -> None:
    """Send `frame` to the project's prediction server (in process, the lifespan of
    `opsloop serve`) as the demo does; leaving it flushes the prediction log."""
    with TestClient(create_app(p.serve_context())) as client:
        answered = send_traffic(
            client, frame, [ID, *FEATURES_NUMERIC, *FEATURES_CATEGORICAL], 25, lambda n: None
        )
    assert set(answered) == {version}


def test_drift_retrains_through_airflow(tmp_path: Path, airflow: dict[str, str]) -> None:
    root = tmp_path / "churn"
    code, out = run_cli("init", str(root), "--example", "churn")
    assert code == 0, out
    # the Airflow plumbing is under test: each monitoring run judges the window ending now
    # (the event clock's windows: tests/unit/orchestrate/test_agent_event_time.py)
    config = root / "opsloop.yaml"
    config.write_text(config.read_text().replace("monitor:\n", "monitor:\n  clock: answered\n", 1))
    p = Project(root)
    assert p.config.monitor.clock == "answered"
    assert p.name == MODEL and p.train().promoted
    code, out = run_cli(
        "airflow",
        "export",
        "-p",
        str(root),
        "--out",
        airflow["AIRFLOW__CORE__DAGS_FOLDER"],
        "--python",
        sys.executable,
    )
    assert code == 0, out
    dags = sorted(Path(airflow["AIRFLOW__CORE__DAGS_FOLDER"]).glob("*.py"))
    assert [d.name for d in dags] == [
        f"opsloop_{MODEL}_{kind}.py" for kind in ("monitoring", "rollout", "training")
    ]
    harness = Harness(airflow, tmp_path / "harness.log")
    try:
        _loop_through_airflow(p, harness)
    finally:
        harness.close()


def _loop_through_airflow(p: Project, harness: Harness) -> None:
    root = p.root
    monitoring, training, rollout = (
        f"opsloop_{MODEL}_{kind}" for kind in ("monitoring", "training", "rollout")
    )

    # no drift: the monitor judges real traffic, nothing fires, no asset event
    serve(p, traffic((0.0,), 600, seed=11, prefix="ok"), "1")
    calm = harness.run(monitoring)
    assert calm["tasks"] == {"check_triggers": "success", "request_retrain": "skipped"}
    checked = calm["returns"]["check_triggers"]
    assert checked["verdict"] is None
    assert checked["monitored"]["n_rows"] == 600 and not checked["monitored"]["drift_detected"]
    assert calm["events"] == []
    assert p.store.list_firings(MODEL) == []

    # the demo's production traffic, drift growing phase by phase: the verdict goes out as
    # the asset event's extra
    shutil.rmtree(Path(p.stack.prediction_log or ""))
    production = traffic(PHASES, PER_PHASE, seed=1000, prefix="prod")
    serve(p, production, "1")
    write_events(root, production, "production")  # the labelled events load() reads
    alarm = harness.run(monitoring)
    assert alarm["tasks"] == {"check_triggers": "success", "request_retrain": "success"}
    [event] = alarm["events"]
    assert event["asset"] == ASSET and event["source_dag_id"] == monitoring
    verdict = event["extra"]
    monitored = p.store.find_last_monitor(MODEL)
    assert monitored is not None and monitored.drift_detected
    assert monitored.n_rows == len(production)
    assert verdict["reason"] == "drift" and verdict["monitor_result"] == monitored.id
    assert verdict["drift_share"] == pytest.approx(monitored.drift_share)
    assert verdict["drift_share"] >= 0.3 and "region" in verdict["drifted_features"]
    [firing] = p.store.list_firings(MODEL)
    assert (firing.trigger, firing.key) == ("drift", verdict["key"])
    assert verdict["trigger"] == f"drift:{firing.key}"

    # the training DAG was queued by that event and trains for its verdict
    trained = harness.run(training)
    assert trained["queued"] and trained["consumed"] == [verdict]
    assert trained["tasks"] == {"train": "success"}
    result = trained["returns"]["train"]
    assert result["trained"] and result["outcome"]["version"] == "2"
    assert result["outcome"]["promoted"], result["outcome"]["gate_reasons"]  # recent data wins
    run = p.store.list_runs(MODEL)[0]
    assert (run.trigger, run.status) == (verdict["trigger"], "succeeded")
    assert p.registry.get_version(MODEL, "2").tags["opsloop.trigger"] == verdict["trigger"]

    # the same trigger does not train twice (a re-run of the DAG run, or by hand)
    code, out = run_cli("train", "-p", str(root), "--trigger", verdict["trigger"], "--json")
    assert code == 0, out
    again = json.loads(out)
    assert not again["trained"] and again["previous_run"]["id"] == run.id
    assert len(p.store.list_runs(MODEL)) == 2

    # the rollout DAG takes a controller step on a running canary
    p.deploy("1", strategy="canary", reason="test")
    rolled = harness.run(rollout)
    step = rolled["returns"]["advance"]["step"]
    assert step["action"] == "waiting" and step["rollout"]["candidate_version"] == "1"
    assert p.store.find_running_rollout(MODEL) is not None


def test_batch_prediction_dag(tmp_path: Path, airflow: dict[str, str]) -> None:
    """With a `predict:` section the export writes a batch-prediction DAG; its run scores
    the section's input with the deployed version, publishes it and records the run."""
    root = tmp_path / "churn"
    code, out = run_cli("init", str(root), "--example", "churn")
    assert code == 0, out
    config = root / "opsloop.yaml"
    config.write_text(
        config.read_text()
        + "\npredict:\n  input: incoming/*.parquet\n  output: scores\n  schedule: '0 2 * * *'\n"
    )
    p = Project(root)
    assert p.train().promoted
    (root / "incoming").mkdir()
    rows = traffic((0.0,), 400, seed=5, prefix="batch").drop(columns=["churned"])
    rows.to_parquet(root / "incoming" / "part-0.parquet")
    dags = Path(tmp_path / "dags")
    code, out = run_cli(
        "airflow", "export", "-p", str(root), "--out", str(dags), "--python", sys.executable
    )
    assert code == 0 and "opsloop_churn_batch" in out and "0 2 * * *" in out, out
    assert sorted(d.name for d in dags.glob("*.py")) == [
        f"opsloop_{MODEL}_{kind}.py" for kind in ("batch", "monitoring", "rollout", "training")
    ]
    env = {**airflow, "AIRFLOW__CORE__DAGS_FOLDER": str(dags)}
    harness = Harness(env, tmp_path / "harness.log")
    try:
        done = harness.run(f"opsloop_{MODEL}_batch")
    finally:
        harness.close()
    assert done["tasks"] == {"predict": "success"}
    result = done["returns"]["predict"]
    assert result["run"]["rows"] == 400 and result["run"]["version"] == "1"
    assert result["publication"]["revision"] == 1
    current = p.batch_current()
    assert current.run.run_id == result["run"]["run_id"]
    assert current.path.parent == root / "scores" and len(current.to_pandas()) == 400
