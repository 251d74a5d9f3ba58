"""The server's local model cache: a version loaded once through the registry is read back
from disk (same answers, no registry call), keyed by the run that registered it; anything
unusual goes to the registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from opsloop.registry.base import LoadedModel
from opsloop.registry.lazy import LazyRegistry
from opsloop.registry.memory import MemoryRegistry
from opsloop.serve.modelcache import ModelCache
from opsloop.store import OpsStore
from serve_fixtures import fitted


class Registry:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def load(self, version: str) -> LoadedModel:
        self.calls.append(version)
        return fitted(int(version))


@pytest.fixture
def store() -> OpsStore:
    s = OpsStore("sqlite://")
    s.add_event("registered", "m", version="1", evidence={"run_id": "abc123"})
    return s


def rows() -> pd.DataFrame:
    return pd.DataFrame({"x": [0.1, -1.0, 2.0], "color": ["red", "blue", "green"]})


def test_second_load_comes_from_disk_with_the_same_answers(store: OpsStore, tmp_path: Path) -> None:
    registry = Registry()
    first = ModelCache(tmp_path, "m", store, registry.load).load("1")
    cache = ModelCache(tmp_path, "m", store, registry.load)
    again = cache.load("1")
    assert registry.calls == ["1"] and cache.last is not None and cache.last.hit
    assert (tmp_path / "m" / "1-abc123" / "model.pkl").is_file()
    want, got = first.predict_frame(rows()), again.predict_frame(rows())
    assert np.array_equal(want[0], got[0]) and np.array_equal(want[1], got[1])
    assert again.features == first.features and again.task == first.task


def test_a_new_run_for_the_same_version_number_is_not_served_from_the_old_entry(
    store: OpsStore, tmp_path: Path
) -> None:
    registry = Registry()
    ModelCache(tmp_path, "m", store, registry.load).load("1")
    store.add_event("registered", "m", version="1", evidence={"run_id": "def456"})  # a new registry
    cache = ModelCache(tmp_path, "m", store, registry.load)
    cache.load("1")
    assert registry.calls == ["1", "1"]
    assert cache.last is not None and cache.last.reason == "not cached yet"


def test_without_a_registered_event_the_registry_loads(store: OpsStore, tmp_path: Path) -> None:
    registry = Registry()
    cache = ModelCache(tmp_path, "m", store, registry.load)
    cache.load("2")
    cache.load("2")
    assert registry.calls == ["2", "2"] and not any(tmp_path.rglob("*.pkl"))
    assert cache.last is not None and "registered" in cache.last.reason


def test_a_broken_entry_is_replaced(store: OpsStore, tmp_path: Path) -> None:
    registry = Registry()
    cache = ModelCache(tmp_path, "m", store, registry.load)
    cache.load("1")
    cache.path("1", "abc123").write_bytes(b"not a pickle")
    model = cache.load("1")
    assert registry.calls == ["1", "1"] and model.version == "1"
    assert cache.last is not None and "does not load" in cache.last.reason
    assert ModelCache(tmp_path, "m", store, registry.load).load("1").version == "1"
    assert registry.calls == ["1", "1"]  # rewritten


def test_lazy_registry_opens_once_on_first_call() -> None:
    opened: list[int] = []

    def open_registry() -> MemoryRegistry:
        opened.append(1)
        return MemoryRegistry()

    lazy = LazyRegistry(open_registry)
    assert not lazy.opened and opened == []
    assert lazy.find_alias("m", "champion") is None
    assert lazy.list_versions("m") == []
    assert lazy.opened and opened == [1]
