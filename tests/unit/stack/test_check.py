"""`opsloop stack check` says exactly what is wrong with each component, and `stack up`
refuses a stack it cannot start (real sockets, files and SQLite; no servers needed)."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest

from opsloop.errors import ConfigError
from opsloop.stack import check_stack, plan_stack, stack_up
from opsloop.stack.check import check_engine, check_folder
from opsloop.stack.postgres import classify, redact
from tinyproject import write_tiny_project


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends


def project(tmp_path: Path, stack: str) -> Path:
    return write_tiny_project(tmp_path / "p", extra_yaml=f"stacks:\n  team:\n{stack}")


def test_unreachable_servers_are_named(tmp_path: Path) -> None:
    port, pg = closed_port(), closed_port()
    root = project(
        tmp_path,
        f"    tracking_uri: http://127.0.0.1:{port}\n"
        f"    ops_store: postgresql://postgres@127.0.0.1:{pg}/opsloop\n",
    )
    found = check_stack(root, "team")
    by = {c.component: c for c in found.components}
    assert not found.ok
    assert by["tracking server"].problem == "unreachable"
    assert "opsloop stack up" in (by["tracking server"].fix or "")
    assert by["mlflow database"].problem == "unreachable"  # derived: <ops db>_mlflow
    assert by["mlflow database"].target.endswith(f":{pg}/opsloop_mlflow")
    assert by["artifact root"].problem == "unreachable"
    assert by["ops store"].problem == "unreachable"
    assert by["prediction log"].ok and by["engine"].ok


def test_a_store_behind_the_newest_migration_is_named(tmp_path: Path) -> None:
    db = tmp_path / "old-ops.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.execute("INSERT INTO alembic_version VALUES ('0001')")
    root = project(tmp_path, f"    ops_store: sqlite:///{db}\n")
    ops = {c.component: c for c in check_stack(root, "team").components}["ops store"]
    assert ops.problem == "migrations_behind" and "revision 0001" in ops.detail


def test_the_embedded_default_checks_clean_before_first_use(tmp_path: Path) -> None:
    found = check_stack(write_tiny_project(tmp_path / "p"))
    assert found.ok, found.to_dict()
    assert [c.component for c in found.components] == [
        "tracking store",
        "artifact root",
        "ops store",
        "prediction log",
        "engine",
    ]


def test_a_folder_that_is_a_file_is_not_writable(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    found = check_folder("prediction log", str(tmp_path / "f" / "predictions"))
    assert found.problem == "not_writable" and "is not a folder" in found.detail


def test_spark_without_java_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    found = check_engine("spark")
    assert found.problem == "missing_dependency" and "Java is missing" in found.detail


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ('FATAL: password authentication failed for user "bob"', "authentication"),
        ('FATAL: role "bob" does not exist', "authentication"),
        ("FATAL: no pg_hba.conf entry for host", "authentication"),
        ('FATAL: database "x" does not exist', "missing_database"),
        ("connection failed: Connection refused", "unreachable"),
    ],
)
def test_connection_failures_are_classified(message: str, problem: str) -> None:
    assert classify(Exception(message)).problem == problem


def test_passwords_are_redacted() -> None:
    assert redact("postgresql://u:secret@h:5432/d") == "postgresql://u:***@h:5432/d"


def test_stack_up_needs_a_local_tracking_server(tmp_path: Path) -> None:
    local = write_tiny_project(tmp_path / "local")
    with pytest.raises(ConfigError, match="no tracking server to start"):
        stack_up(local)
    remote = project(tmp_path, "    tracking_uri: http://mlflow.internal:5000\n")
    assert plan_stack(remote, "team").server is None  # a team's own server: checked only
    sqlite_ops = write_tiny_project(
        tmp_path / "q", extra_yaml="stacks:\n  team:\n    tracking_uri: http://127.0.0.1:5999\n"
    )
    with pytest.raises(ConfigError, match="backend_store_uri is not set"):
        plan_stack(sqlite_ops, "team")


def test_the_local_server_plan(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        "    tracking_uri: http://127.0.0.1:5999\n"
        "    ops_store: postgresql://postgres@127.0.0.1:5432/ops\n"
        "    mlflow_server: {artifacts_destination: art}\n",
    )
    plan = plan_stack(root, "team")
    server = plan.local_server()
    assert server.port == 5999 and server.tracking_uri == "http://127.0.0.1:5999"
    assert server.backend_store_uri == "postgresql://postgres@127.0.0.1:5432/ops_mlflow"
    assert server.artifacts_destination == str(root.resolve() / "art")
    assert server.pid_file == root.resolve() / ".opsloop" / "stack" / "team" / "mlflow.pid"
    assert plan.stack.artifact_location is None  # the server's proxied root decides


def test_the_scaffolded_team_block_is_ready_to_uncomment(tmp_path: Path) -> None:
    from opsloop.scaffold import init_project

    root = init_project(tmp_path / "p", rows=50)
    text = (root / "opsloop.yaml").read_text()
    block = text[text.index("# stacks:") :]
    (root / "opsloop.yaml").write_text(
        text.replace(block, "\n".join(line[2:] for line in block.splitlines()) + "\n")
    )
    server = plan_stack(root, "team").local_server()
    assert server.tracking_uri == "http://127.0.0.1:5000"
    assert server.backend_store_uri.endswith("/opsloop_mlflow")
