"""The server's alias check reads MLflow's own SQLite database without opening MLflow
(registry/aliaspeek.py), answering what MLflow answers; anything it cannot read falls back
to MLflow."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsloop.registry.aliaspeek import Unknown, alias_peek
from opsloop.registry.base import ModelRegistry
from opsloop.registry.lazy import LazyRegistry
from registry_fixtures import training_record


def test_peek_answers_what_mlflow_answers_without_opening_it(
    sqlite_registry: ModelRegistry, name: str
) -> None:
    from opsloop.registry.mlflow import MlflowRegistry

    assert isinstance(sqlite_registry, MlflowRegistry)
    peek = alias_peek(sqlite_registry.registry_uri)
    assert peek is not None
    opened: list[int] = []

    def open_() -> ModelRegistry:
        opened.append(1)
        return sqlite_registry

    lazy = LazyRegistry(open_, peek=peek)
    assert lazy.find_alias_version(name, "champion") is None  # no such model
    sqlite_registry.register(training_record(name))
    sqlite_registry.register(training_record(name))
    assert lazy.find_alias_version(name, "champion") is None  # no such alias
    for version in ("1", "2"):
        sqlite_registry.set_alias(name, "champion", version)
        found = sqlite_registry.find_alias(name, "champion")
        assert found is not None and found.version == version
        assert lazy.find_alias_version(name, "champion") == version
    sqlite_registry.delete_alias(name, "champion")
    assert lazy.find_alias_version(name, "champion") is None
    assert not opened and not lazy.opened


def test_what_the_peek_cannot_read_is_asked_of_mlflow(
    sqlite_registry: ModelRegistry, name: str, tmp_path: Path
) -> None:
    assert alias_peek("http://127.0.0.1:5000") is None  # a tracking server: MLflow's client
    peek = alias_peek(f"sqlite:///{tmp_path / 'not-mlflow.db'}")  # no such table
    assert peek is not None
    with pytest.raises(Unknown):
        peek(name, "champion")
    sqlite_registry.register(training_record(name))
    sqlite_registry.set_alias(name, "champion", "1")
    lazy = LazyRegistry(lambda: sqlite_registry, peek=peek)
    assert lazy.find_alias_version(name, "champion") == "1"
    assert lazy.opened


RECONCILE = """
import sys
from opsloop.project import Project
ctx = Project({root!r}).serve_context()
drift = ctx.reconcile()
print("DRIFT:" + repr(drift) + " MLFLOW:" + str("mlflow" in sys.modules))
"""


def test_a_servers_alias_check_never_imports_mlflow(
    sqlite_registry: ModelRegistry, tmp_path: Path
) -> None:
    """The server's periodic champion check (what used to put ~80 MiB of MLflow in every
    serving process): the alias agrees with the deployment, read without MLflow (in a
    fresh process); then it has drifted, and the repair goes through MLflow."""
    import subprocess
    import sys

    from opsloop.registry.mlflow import MlflowRegistry
    from opsloop.store import OpsStore
    from tinyproject import write_tiny_project

    assert isinstance(sqlite_registry, MlflowRegistry)
    uri = sqlite_registry.registry_uri
    root = write_tiny_project(
        tmp_path / "p", rows=50, extra_yaml=f"stack: t\nstacks:\n  t:\n    tracking_uri: {uri}\n"
    )
    name = "tiny"
    for _ in range(2):
        sqlite_registry.register(training_record(name))
    sqlite_registry.set_alias(name, "champion", "1")
    store = OpsStore(f"sqlite:///{root / '.opsloop' / 'ops.db'}")
    store.add_event("registered", name, version="1", evidence={"run_id": "r1"})
    store.record_deployment(name, "1", reason="test")
    script = RECONCILE.format(root=str(root))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.stdout.strip().splitlines()[-1] == "DRIFT:None MLFLOW:False", out.stderr[-2000:]
    store.record_deployment(name, "2", reason="test")  # the alias now lags behind
    from opsloop.project import Project

    reconcile = Project(root).serve_context().reconcile  # in this process: MLflow is loaded
    assert reconcile is not None
    repaired = reconcile()
    assert getattr(repaired, "deployed_version", None) == "2"
    assert sqlite_registry.find_alias_version(name, "champion") == "2"


def test_a_database_that_cannot_be_read_is_unavailable_not_a_reason_to_load_mlflow(
    tmp_path: Path,
) -> None:
    from opsloop.errors import RegistryUnavailableError

    peek = alias_peek(f"sqlite:///{tmp_path}")  # a folder: SQLite cannot open it
    assert peek is not None
    lazy = LazyRegistry(lambda: pytest.fail("MLflow opened"), peek=peek)
    with pytest.raises(RegistryUnavailableError, match="cannot read alias 'champion'"):
        lazy.find_alias_version("m", "champion")
    assert not lazy.opened
