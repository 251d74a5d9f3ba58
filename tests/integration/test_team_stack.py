"""The team stack for real, switched by configuration alone (`opsloop --stack team …`):
`opsloop stack up` starts an `mlflow server` on PostgreSQL with a proxied artifact root and
the ops store on PostgreSQL; then the whole loop runs against them — train → gate →
promote → serve with two server processes → traffic → labels → monitor → drift-triggered
retrain (`agent --once`) → promote → both servers answer with v2 — and the runs and
versions are visible through the MLflow server's REST API; `stack down` leaves no process.

PostgreSQL is required (OPSLOOP_TEST_POSTGRES_URL, default the local server with trust
auth): a missing server fails this test, it is never skipped. Its databases are unique to
the run and dropped afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from serve_fixtures import free_port, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(2400)]

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
PHASES = (0.0, 0.5, 1.0, 1.0)  # drift grows over the traffic, as in `opsloop demo`


@pytest.fixture
def databases() -> Iterator[tuple[str, str]]:
    """(ops store URL, MLflow database URL): new names on the test server, dropped after."""
    import psycopg
    from psycopg import sql

    base = os.environ.get("OPSLOOP_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    try:
        psycopg.connect(base, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        pytest.fail(f"the team-stack test needs PostgreSQL at {base}: {exc}")
    head = base.rpartition("/")[0]
    ops = f"opsloop_team_{uuid.uuid4().hex[:10]}"
    names = [ops, f"{ops}_mlflow"]  # the server's database is derived: `<ops db>_mlflow`
    try:
        yield f"{head}/{ops}", f"{head}/{names[1]}"
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            for name in names:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


def opsloop(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "opsloop", "--stack", "team", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
    )
    assert done.returncode == 0, f"opsloop {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def live_group_members(pgid: int) -> list[int]:
    """Processes of group `pgid` that are not zombies."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


class Server:
    """A real `opsloop --stack team serve` process."""

    def __init__(self, root: Path, log: Path) -> None:
        self.port = free_port()
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60)
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "opsloop",
                    "--stack",
                    "team",
                    "serve",
                    "--port",
                    str(self.port),
                ],
                cwd=root,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self.log = log

    def version(self) -> str | None:
        answer = self.client.get("/v2/models/churn")
        return (answer.json().get("versions") or [None])[0] if answer.status_code == 200 else None

    def predict(self, records: list[dict[str, object]]) -> str:
        answer = self.client.post("/predict", json={"records": records})
        assert answer.status_code == 200, answer.text
        return str(answer.json()["model_version"])

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: flushes its prediction log
            self.proc.wait(timeout=120)


def test_the_whole_loop_on_the_team_stack(tmp_path: Path, databases: tuple[str, str]) -> None:
    import pandas as pd

    from opsloop.cli.demo import _records
    from opsloop.examples.churn import FEATURES_CATEGORICAL, FEATURES_NUMERIC, ID, TARGET, TIME
    from opsloop.examples.churn import generate as churn

    ops_url, mlflow_db = databases
    root = tmp_path / "churn"
    subprocess.run([sys.executable, "-m", "opsloop", "init", str(root)], check=True)
    tracking = f"http://127.0.0.1:{free_port()}"
    with (root / "opsloop.yaml").open("a") as f:  # the switch is configuration alone
        f.write(
            "stacks:\n  team:\n"
            f"    tracking_uri: {tracking}\n"
            f"    ops_store: {ops_url}\n"
            "    prediction_log: shared/predictions\n"
            "    engine: spark\n"  # monitoring, feedback and batch prediction on Spark
            "    spark: {master: 'local[2]'}\n"
        )
    up = json.loads(opsloop("stack", "up", "--json", cwd=root))
    servers: list[Server] = []
    try:
        assert up["tracking_uri"] == tracking and not up["already_running"]
        assert sorted(up["created_databases"]) == sorted(u.rsplit("/", 1)[1] for u in databases)
        check = json.loads(opsloop("stack", "check", "--json", cwd=root))
        assert check["ok"], check
        assert {c["component"] for c in check["components"]} >= {
            "tracking server",
            "mlflow database",
            "artifact root",
            "ops store",
        }

        v1 = json.loads(opsloop("train", "--json", cwd=root))
        assert v1["version"] == "1" and v1["gate_passed"] and v1["promoted"], v1

        servers = [Server(root, tmp_path / f"serve-{i}.log") for i in range(2)]
        for s in servers:
            wait_for(lambda s=s: s.version() == "1", timeout=300)  # type: ignore[misc]

        columns = [ID, TIME, *FEATURES_NUMERIC, *FEATURES_CATEGORICAL]
        now = datetime.now(UTC)
        frames = []
        for i, drift in enumerate(PHASES):
            frame = churn(
                400, now - timedelta(minutes=1), now, drift=drift, seed=1000 + i, id_prefix=f"p{i}"
            )
            frames.append(frame)
            for k, start in enumerate(range(0, len(frame), 25)):
                chunk = frame.iloc[start : start + 25]
                assert servers[k % 2].predict(_records(chunk, columns)) == "1"
        production = pd.concat(frames, ignore_index=True)

        labels = tmp_path / "labels.parquet"
        production[[ID, TARGET]].to_parquet(labels, index=False)
        added = json.loads(opsloop("labels", "add", str(labels), "--json", cwd=root))
        assert added["rows"] == len(production)

        log_root = root / "shared" / "predictions"

        def logged() -> int:
            files = list(log_root.glob("model=churn/*/*/*.parquet"))
            return sum(len(pd.read_parquet(f)) for f in files)

        wait_for(lambda: logged() >= len(production), timeout=120)
        assert not (root / ".opsloop" / "predictions").exists()  # the stack's log root only

        tick = json.loads(opsloop("agent", "--once", "--force-monitor", "--json", cwd=root))
        assert tick["monitored"]["drift_detected"], tick["monitored"]
        assert "drift" in [f["trigger"] for f in tick["fired"]], tick["fired"]
        v2 = tick["trained"]
        assert v2["version"] == "2" and v2["promoted"], v2

        for s in servers:  # both replicas follow the promotion from the ops store
            wait_for(lambda s=s: s.version() == "2", timeout=120)  # type: ignore[misc]
            assert s.predict(_records(production.head(3), columns)) == "2"

        # What the MLflow server on PostgreSQL holds, through its REST API.
        api = httpx.Client(base_url=f"{tracking}/api/2.0/mlflow", timeout=60)
        model = api.get("/registered-models/get", params={"name": "churn"})
        assert model.status_code == 200, model.text
        champion = api.get(
            "/registered-models/alias", params={"name": "churn", "alias": "champion"}
        )
        assert champion.json()["model_version"]["version"] == "2"
        for version in ("1", "2"):
            mv = api.get("/model-versions/get", params={"name": "churn", "version": version})
            run = api.get("/runs/get", params={"run_id": mv.json()["model_version"]["run_id"]})
            assert run.json()["run"]["info"]["status"] == "FINISHED"
            artifacts = api.get(
                "/artifacts/list", params={"run_id": run.json()["run"]["info"]["run_id"]}
            )
            assert artifacts.status_code == 200 and artifacts.json().get("files"), artifacts.text
        api.close()
        # Artifacts went through the server to its destination, not to a client folder.
        assert any((root / ".opsloop" / "mlflow-artifacts").rglob("MLmodel"))
        assert not (root / ".opsloop" / "artifacts").exists()
        assert not (root / ".opsloop" / "mlflow.db").exists()
        assert not (root / ".opsloop" / "ops.db").exists()

        # the nightly batch job on the team stack: scored on Spark (the stack's engine)
        rows = root / "tonight.parquet"
        production[columns].head(200).to_parquet(rows, index=False)
        batch = json.loads(
            opsloop("predict", "-i", str(rows), "-o", "scores", "--publish", "--json", cwd=root)
        )
        assert batch["run"]["rows"] == 200 and batch["run"]["details"]["engine"] == "spark"
        assert batch["run"]["version"] == "2" and batch["publication"] is not None
        assert len(pd.read_parquet(batch["run"]["output"])) == 200

        status = json.loads(opsloop("status", "--json", cwd=root))
        assert status["champion"]["version"] == "2"
        import psycopg

        with psycopg.connect(ops_url) as conn:
            kinds = {r[0] for r in conn.execute("SELECT kind FROM events").fetchall()}
        assert {"promoted", "drift_detected", "trigger_fired", "labels_added"} <= kinds
        with psycopg.connect(mlflow_db) as conn:  # the server's backend store
            runs = conn.execute("SELECT count(*) FROM runs").fetchone()
            versions = conn.execute("SELECT count(*) FROM model_versions").fetchone()
        assert runs is not None and runs[0] >= 2 and versions == (2,)
    finally:
        for s in servers:
            s.stop()
        down = json.loads(opsloop("stack", "down", "--json", cwd=root))
    assert down["pid"] == up["pid"]
    assert live_group_members(up["pid"]) == []
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{tracking}/health", timeout=2)
