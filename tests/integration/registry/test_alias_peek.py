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
