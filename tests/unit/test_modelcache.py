"""The server's local model cache: a version loaded once through the registry is read back
from disk (same answers, no registry call), keyed by the run that registered it; anything
unusual goes to the registry."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from opsloop.artifacts import Registration
from opsloop.modelcache import ModelCache
from opsloop.registry.base import LoadedModel
from opsloop.registry.lazy import LazyRegistry
from opsloop.registry.memory import MemoryRegistry
from opsloop.store import OpsStore
from serve_fixtures import fitted


class Registry:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def load(self, version: str, registration: Registration | None = None) -> LoadedModel:
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


class Evil:
    """A pickle that creates `marker` when it is unpickled (an attacker's payload)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def _rejections(store: OpsStore) -> list[str]:
    return [e.evidence["where"] for e in store.list_events("m", kinds=["artifact_rejected"])]


def test_an_entry_is_signed_and_the_key_is_private(store: OpsStore, tmp_path: Path) -> None:
    key = tmp_path / "cache.key"
    ModelCache(tmp_path / "models", "m", store, Registry().load, key_file=key).load("1")
    entry = (tmp_path / "models" / "m" / "1-abc123" / "model.pkl").read_bytes()
    assert entry.startswith(b"opsloop-model-cache-v1 ") and len(entry.split(b"\n")[0]) == 87
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_bytes()) == 64


@pytest.mark.parametrize("tamper", ["replace", "append", "unsigned"])
def test_a_changed_entry_is_never_unpickled(store: OpsStore, tmp_path: Path, tamper: str) -> None:
    registry, marker = Registry(), tmp_path / "pwned"
    cache = ModelCache(tmp_path / "models", "m", store, registry.load, key_file=tmp_path / "k")
    cache.load("1")
    path = cache.path("1", "abc123")
    header, _, data = path.read_bytes().partition(b"\n")
    evil = pickle.dumps(Evil(marker))
    if tamper == "replace":  # the attacker keeps the old signature
        path.write_bytes(header + b"\n" + evil)
    elif tamper == "append":
        path.write_bytes(header + b"\n" + data + b"\x00")
    else:  # a plain pickle, as entries were written before they were signed
        path.write_bytes(evil)
    model = cache.load("1")
    assert not marker.exists()
    assert model.version == "1" and registry.calls == ["1", "1"]  # loaded from the registry
    assert cache.last is not None and not cache.last.hit
    # a signature mismatch is recorded; an unsigned old entry is only replaced
    assert _rejections(store) == ([] if tamper == "unsigned" else [f"the cache {path}"])
    assert ModelCache(tmp_path / "models", "m", store, registry.load, key_file=tmp_path / "k").load(
        "1"
    ).version == "1" and registry.calls == ["1", "1"]  # rewritten, signed


def test_an_entry_signed_with_another_key_is_refused(store: OpsStore, tmp_path: Path) -> None:
    registry = Registry()
    ModelCache(tmp_path / "models", "m", store, registry.load, key_file=tmp_path / "a").load("1")
    cache = ModelCache(tmp_path / "models", "m", store, registry.load, key_file=tmp_path / "b")
    (tmp_path / "b").write_bytes(b"0" * 64)
    cache.load("1")
    assert registry.calls == ["1", "1"] and len(_rejections(store)) == 1


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
