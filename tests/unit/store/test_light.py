"""`LightStore` (store/light.py): a batch prediction's reads and its run's record go through
the DB-API reader, anything else through `OpsStore`, opened once on first use; and
`Project.predict` uses it only where the reader can open the store and knows the model."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from pathlib import Path

import pytest

from opsloop.store import OpsStore
from opsloop.store.light import LIGHT, LightStore
from opsloop.store.reader import StoreReader, open_reader
from opsloop.store.records import NewBatchRun, NewEvent
from store_fixtures import POSTGRES, model


@pytest.fixture(params=["sqlite", POSTGRES])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ops.db'}"
    return str(request.getfixturevalue("postgres_url"))


def test_the_light_methods_are_the_readers_with_the_stores_signatures() -> None:
    for name in LIGHT:
        ours, theirs = getattr(StoreReader, name), getattr(OpsStore, name)
        assert inspect.signature(ours) == inspect.signature(theirs), name


def test_reads_and_the_record_use_the_reader_the_rest_opens_the_store_once(url: str) -> None:
    OpsStore(url).close()  # created and migrated: the reader can open it
    reader = open_reader(url)
    assert reader is not None
    opened: list[OpsStore] = []

    def open_store() -> OpsStore:
        opened.append(OpsStore(url))
        return opened[-1]

    light = LightStore(reader, open_store)
    m = model()
    now = datetime.now(UTC)
    run = NewBatchRun("r1", m, "1", "succeeded", now, now, 3, "in", "f", "/o/run=r1", 0.5)
    recorded = light.record_batch_run(run, [NewEvent("batch_predicted", m, "1", "3 rows")])
    assert light.find_batch_run(m, "r1") == recorded
    assert light.list_events(m)[-1].evidence == {"id": recorded.id}
    assert light.find_deployment(m) is None and light.list_batch_publications(m) == []
    assert not light.opened and opened == []  # all of it through the reader
    publication = light.publish_batch(m, "r1")  # not a light method: OpsStore's
    assert light.opened and len(opened) == 1
    assert light.find_published_batch(m) == publication  # the reader sees its commit
    light.add_event("retrain_requested", m, summary="x")
    assert len(opened) == 1  # opened once
    light.close()
    opened[0].close()


def test_predict_goes_through_the_light_store_where_it_can(tmp_path: Path) -> None:
    """A project whose ops store exists and knows the model: the light store; a new
    project (no store yet), a store given by the caller or already opened: `runtime`'s."""
    from opsloop.project import Project
    from opsloop.store.light import LightStore
    from tinyproject import write_tiny_project

    root = write_tiny_project(tmp_path / "p")
    fresh = Project(root)
    rt, none = fresh._batch_runtime()
    assert isinstance(rt.store, OpsStore) and none is None  # no ops.db yet: OpsStore made it
    known = Project(root)
    known.store.record_deployment(known.name, "1", reason="test")
    light = Project(root)
    rt, made = light._batch_runtime()
    assert isinstance(rt.store, LightStore) and rt.store is made
    assert "store" not in light.__dict__  # OpsStore not opened
    # nor the engine (engines/lazy.py), until something asks it
    assert not rt.engine.opened and "engine" not in light.__dict__
    assert rt.engine.target is light.engine and rt.engine.opened
    made.close()
    opened = Project(root)
    opened.store.find_deployment(opened.name)
    assert opened._batch_runtime() == (opened.runtime, None)
    # a project on its own clock: the reader would stamp the run with the wall clock
    clocked = Project(root, clock=lambda: datetime(2025, 7, 1, 2, tzinfo=UTC))
    rt, none = clocked._batch_runtime()
    assert none is None and rt is clocked.runtime and rt.now().year == 2025
