"""What a stack names, resolved against a project: the backends every command uses, and
for `opsloop stack up` the local `mlflow server` to start (its address, database, artifact
root, pid and log files under `.opsloop/stack/<stack>/`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from opsloop.backends import load_project_config
from opsloop.config import ProjectConfig, StackConfig
from opsloop.errors import ConfigError
from opsloop.runtime import Paths, resolve_stack
from opsloop.stack.postgres import database_of, is_postgres, with_database

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class LocalServer:
    """The `mlflow server` `opsloop stack up` runs on this machine."""

    host: str
    port: int
    tracking_uri: str
    backend_store_uri: str
    artifacts_destination: str
    home: Path

    @property
    def pid_file(self) -> Path:
        return self.home / "mlflow.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "mlflow.log"


@dataclass(frozen=True)
class StackPlan:
    name: str
    root: Path
    config: ProjectConfig
    stack: StackConfig  # resolved: empty fields filled with the embedded defaults
    server: LocalServer | None  # None: the stack's tracking URI is not an HTTP server

    def local_server(self) -> LocalServer:
        """The server `stack up` starts; a clear error when this stack has none to start."""
        if self.server is None:
            raise ConfigError(
                f"stack {self.name!r} has no tracking server to start: its tracking_uri is "
                f"{self.stack.tracking_uri}",
                expected="stacks.<name>.tracking_uri: http://127.0.0.1:PORT",
                fix="`opsloop stack up` is for a team stack tried on this machine; the "
                "embedded default needs nothing started",
            )
        return self.server


def plan_stack(root: Path, stack: str | None = None) -> StackPlan:
    """The project's stack `stack` (default: opsloop.yaml's `stack:`), resolved."""
    root = Path(root).resolve()
    config = load_project_config(root, stack)
    paths = Paths(root)
    resolved = resolve_stack(config, paths)
    tracking = resolved.tracking_uri or ""
    server = None
    if tracking.startswith("http://"):
        server = _local_server(config.stack, resolved, paths)
    return StackPlan(config.stack, root, config, resolved, server)


def _local_server(name: str, stack: StackConfig, paths: Paths) -> LocalServer | None:
    parts = urlsplit(stack.tracking_uri or "")
    host = parts.hostname or ""
    if host not in LOCAL_HOSTS:
        return None  # a real team server: checked, never started here
    if parts.port is None:
        raise ConfigError(
            f"stacks.{name}.tracking_uri {stack.tracking_uri} has no port",
            expected="http://127.0.0.1:PORT",
            fix="add the port the local `mlflow server` should listen on, e.g. :5000",
        )
    wanted = stack.mlflow_server
    backend = wanted.backend_store_uri if wanted else None
    if backend is None:
        ops = stack.ops_store or ""
        if not is_postgres(ops):
            raise ConfigError(
                f"stacks.{name}.mlflow_server.backend_store_uri is not set and the ops store "
                "is not on PostgreSQL to take the server's database from",
                expected="a PostgreSQL URL for the MLflow server's database",
                fix=f"set stacks.{name}.mlflow_server.backend_store_uri, e.g. "
                "postgresql://postgres@127.0.0.1:5432/opsloop_mlflow",
            )
        backend = with_database(ops, f"{database_of(ops)}_mlflow")
    destination = wanted.artifacts_destination if wanted else ".opsloop/mlflow-artifacts"
    if "://" not in destination:
        destination = str((paths.root / destination).resolve())
    return LocalServer(
        host=host,
        port=parts.port,
        tracking_uri=f"http://{parts.netloc}",
        backend_store_uri=backend,
        artifacts_destination=destination,
        home=paths.home / "stack" / name,
    )
