"""Garbage collection off the request path: collections are timed per generation, the heap a
loaded model leaves is frozen, and /metrics shows both."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from opsloop.serve import ServeContext, create_app
from opsloop.serve.gcwatch import (
    GEN0_THRESHOLD,
    GcWatch,
    collections_held,
    hold_collections,
    release_collections,
    settle_heap,
)
from opsloop.store import OpsStore
from serve_fixtures import fitted, wait_for


@pytest.fixture(autouse=True)
def restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_watch_times_collections_per_generation() -> None:
    watch = GcWatch()
    watch.start()
    try:
        gc.collect(0)
        gc.collect()
    finally:
        watch.stop()
    stats = {s.generation: s for s in watch.stats()}
    assert stats[0].collections >= 1 and stats[2].collections >= 1
    assert stats[2].longest > 0 and stats[2].seconds >= stats[2].longest
    assert watch.longest == max(s.longest for s in stats.values())
    gc.collect()  # stopped: no longer counted
    assert watch.stats()[2].collections == stats[2].collections


def test_collections_of_the_server_itself_are_not_counted() -> None:
    watch = GcWatch()
    watch.start()
    try:
        settle_heap(watch, collect=True)
    finally:
        watch.stop()
    assert watch.stats()[2].collections == 0
    assert gc.get_freeze_count() > 0


def test_settle_without_collect_only_freezes() -> None:
    garbage: list[object] = []
    garbage.append(garbage)  # a cycle only a collection frees
    del garbage
    settle_heap(None, collect=False)
    assert gc.get_freeze_count() > 0


class Node:
    ref: object = None


def cycle() -> weakref.ref[Node]:
    """A reference cycle only a collection frees; a weak reference to watch it."""
    node = Node()
    node.ref = node
    return weakref.ref(node)


def test_a_held_start_up_freezes_its_garbage_and_turns_collection_back_on() -> None:
    assert gc.isenabled()
    hold_collections()
    try:
        assert not gc.isenabled() and collections_held()
        alive = cycle()
        watch = GcWatch()
        settle_heap(watch, collect=True)  # held: frozen as it is, not collected first
        assert gc.isenabled() and not collections_held()
        gc.collect()
        assert alive() is not None  # frozen garbage stays
        assert watch.frozen() == gc.get_freeze_count() > 0
    finally:
        release_collections()
        gc.enable()


def test_without_a_hold_the_first_settle_still_collects() -> None:
    alive = cycle()
    settle_heap(None, collect=True)
    assert alive() is None and gc.isenabled()


def test_release_turns_collection_on_only_after_a_hold() -> None:
    hold_collections()
    release_collections()
    assert gc.isenabled()
    release_collections()  # twice: nothing more
    assert gc.isenabled()
    gc.disable()  # a process that runs without automatic collection on purpose
    try:
        hold_collections()
        release_collections()
        settle_heap(None, collect=False)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_frozen_count_is_taken_again_after_each_settle() -> None:
    watch = GcWatch()
    settle_heap(watch, collect=False)
    first = watch.frozen()
    assert first == gc.get_freeze_count()
    kept = [[i] for i in range(1000)]  # noqa: F841  (alive, to be frozen next)
    settle_heap(watch, collect=False)
    assert watch.frozen() == gc.get_freeze_count() >= first + 1000


def test_a_server_started_with_nothing_deployed_collects_again() -> None:
    store = OpsStore("sqlite://")
    ctx = ServeContext("m", store, lambda v: fitted(1), None, reload_interval=0.05, tune_gc=True)
    hold_collections()
    try:
        with TestClient(create_app(ctx)) as client:
            assert gc.isenabled() and not collections_held()
            assert client.get("/v2/health/ready").status_code == 503
    finally:
        release_collections()


def test_a_held_server_start_freezes_once_its_model_is_loaded() -> None:
    store = OpsStore("sqlite://")
    store.record_deployment("m", "1", reason="test")
    held: list[bool] = []

    def load(version: str) -> Any:
        held.append(collections_held())  # the model loads while collection is off
        return fitted(1)

    ctx = ServeContext("m", store, load, None, reload_interval=0.05, tune_gc=True)
    gc.unfreeze()
    hold_collections()
    try:
        with TestClient(create_app(ctx)) as client:
            assert held == [True] and gc.isenabled() and gc.get_freeze_count() > 0
            text = client.get("/metrics").text
    finally:
        release_collections()
    frozen = [line for line in text.splitlines() if line.startswith("opsloop_gc_frozen_objects ")]
    assert float(frozen[0].split()[-1]) > 0  # counted at the scrape


def test_the_hold_is_taken_before_the_server_imports_anything_heavy() -> None:
    heavy = ("fastapi", "pandas", "sklearn", "sqlalchemy", "numpy", "uvicorn")
    code = (
        "import sys, opsloop.serve.gcwatch, opsloop.serve.workers; "
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_server_freezes_after_each_load_and_reports_pauses(tmp_path: Path) -> None:
    store = OpsStore("sqlite://")
    models = {"1": fitted(1), "2": fitted(2)}
    ctx = ServeContext("m", store, lambda v: models[v], None, reload_interval=0.05, tune_gc=True)
    store.record_deployment("m", "1", reason="test")
    gc.unfreeze()
    with TestClient(create_app(ctx)) as client:
        assert gc.get_threshold()[0] == GEN0_THRESHOLD
        first = gc.get_freeze_count()
        assert first > 0
        store.record_deployment("m", "2", reason="test")  # hot swap: frozen again
        wait_for(lambda: client.get("/v2/models/m").json()["versions"] == ["2"])
        assert gc.get_freeze_count() >= first
        gc.collect(1)
        text = client.get("/metrics").text
    assert 'opsloop_gc_collections_total{generation="1"}' in text
    assert 'opsloop_gc_longest_pause_seconds{generation="2"}' in text
    assert "opsloop_gc_frozen_objects" in text
    ones = [
        line
        for line in text.splitlines()
        if line.startswith('opsloop_gc_collections_total{generation="1"}')
    ]
    assert float(ones[0].split()[-1]) >= 1


def test_a_plain_service_leaves_the_process_gc_alone(tmp_path: Path) -> None:
    store = OpsStore("sqlite://")
    ctx = ServeContext("m", store, lambda v: fitted(1), None, reload_interval=0.05)
    store.record_deployment("m", "1", reason="test")
    gc.unfreeze()
    before = gc.get_threshold()
    with TestClient(create_app(ctx)) as client:
        assert client.get("/v2/health/ready").status_code == 200
        assert gc.get_freeze_count() == 0 and gc.get_threshold() == before
        assert "opsloop_gc_longest_pause_seconds{" not in client.get("/metrics").text
