"""A tracking server that is down reads as RegistryUnavailableError, quickly: never as
"no versions" or "not found"; the CLI shows it as one line and exits 1."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from opsloop.errors import RegistryUnavailableError, StoreError
from opsloop.registry.base import ModelRegistry
from registry_fixtures import unused_uri
from tinyproject import run_cli, write_tiny_project

RETRY_SETTINGS = (
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
)

CALLS: dict[str, Callable[[ModelRegistry], object]] = {
    "get_version": lambda r: r.get_version("m", "1"),
    "list_versions": lambda r: r.list_versions("m"),
    "find_alias": lambda r: r.find_alias("m", "champion"),
    "set_alias": lambda r: r.set_alias("m", "champion", "1"),
    "delete_alias": lambda r: r.delete_alias("m", "champion"),
    "set_tag": lambda r: r.set_tag("m", "1", "k", "v"),
    "read_artifact": lambda r: r.read_artifact("m", "1", "features.json"),
    "load": lambda r: r.load("m", "1"),
}


@pytest.mark.parametrize("call", sorted(CALLS))
def test_a_down_server_is_unavailable_within_seconds(
    call: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.exceptions import MlflowException

    from opsloop.registry.mlflow import MlflowRegistry

    for setting in RETRY_SETTINGS:  # the adapter's own bound applies, not a test's
        monkeypatch.delenv(setting, raising=False)
    registry = MlflowRegistry(unused_uri())
    start = time.monotonic()
    with pytest.raises(RegistryUnavailableError) as info:
        CALLS[call](registry)
    elapsed = time.monotonic() - start
    assert elapsed < 15, f"{call} took {elapsed:.1f} s to report a down server"
    error = info.value
    assert isinstance(error, ConnectionError) and isinstance(error, StoreError)
    assert isinstance(error.__cause__, MlflowException)
    assert "is unavailable" in error.message and error.fix and "INTERNAL_ERROR" in (error.got or "")


def test_cli_reports_a_down_registry_in_one_line(tmp_path: Path) -> None:
    down = unused_uri()
    root = write_tiny_project(
        tmp_path / "tiny",
        rows=200,
        extra_yaml=f"stacks: {{down: {{tracking_uri: '{down}'}}}}\n",
    )
    start = time.monotonic()
    code, out = run_cli("promote", "tiny", "1", "-p", str(root), "--stack", "down")
    assert code == 1, out
    assert "Traceback" not in out
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines and lines[0].startswith("error:"), out
    text = " ".join(out.split())
    assert f"model registry at {down} is unavailable" in text
    assert time.monotonic() - start < 30


def test_a_database_tracking_uri_fails_in_one_line_without_its_password(tmp_path: Path) -> None:
    """MLflow lets SQLAlchemy's errors through: a down PostgreSQL tracking database gave a
    200-line traceback. Now one line, the password masked — and at once: MLflow retries
    opening a tracking database 10 times with doubling waits (~100 s), opsloop probes it
    with one connection first (`registry.mlflow.probe_database`)."""
    start = time.monotonic()
    port = unused_uri().rsplit(":", 1)[1]
    uri = f"postgresql://alice:hunter2pw@127.0.0.1:{port}/mlflow"
    root = write_tiny_project(
        tmp_path / "tiny", rows=200, extra_yaml=f"stacks: {{db: {{tracking_uri: '{uri}'}}}}\n"
    )
    code, out = run_cli("promote", "tiny", "1", "-p", str(root), "--stack", "db")
    assert code == 1, out
    assert "Traceback" not in out and "hunter2pw" not in out, out
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), out
    text = " ".join(out.split())
    assert "model registry at postgresql://alice:***@127.0.0.1" in text and "unavailable" in text
    assert time.monotonic() - start < 60  # not MLflow's ~100 s of retries
