"""Garbage collection off the request path: collections are timed per generation, the heap a
loaded model leaves is frozen, and /metrics shows both."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from opsloop.serve import ServeContext, create_app
from opsloop.serve.gcwatch import GEN0_THRESHOLD, GcWatch, settle_heap
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
    frozen = settle_heap(None, collect=False)
    assert frozen == gc.get_freeze_count() > 0


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
