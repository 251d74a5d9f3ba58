"""A promotion commits only a version that loads through the verified artifact path and
predicts on its stored input example; otherwise it is refused with a clear error and a
`promotion_refused` event, and nothing changes (issue 19, finding 4)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsloop.core.aliases import CHAMPION
from opsloop.deploy import promote
from opsloop.errors import StateError
from opsloop.project import Project
from opsloop.registry.memory import MemoryRegistry
from opsloop.store import OpsStore
from registry_fixtures import training_record
from tinyproject import write_tiny_project


class CannotPredict:
    """A model that unpickles fine and fails on every prediction."""

    classes_ = (0, 1)

    def predict(self, x: object) -> object:
        raise ValueError("feature mismatch: expected 7 columns")

    def predict_proba(self, x: object) -> object:
        raise ValueError("feature mismatch: expected 7 columns")


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[Project]:
    """Version 1 of `tiny` deployed, version 2 trained and pending."""
    from opsloop.engines.memory import MemoryEngine

    root = write_tiny_project(tmp_path / "p", approval="manual")
    store = OpsStore(f"sqlite:///{tmp_path / 'ops.db'}")
    p = Project(root, registry=MemoryRegistry(), store=store, engine=MemoryEngine(), actor="al")
    p.train(force=True)
    p.train(force=True)
    promote(p.runtime, "1", reason="first")
    yield p
    store.close()


def _unchanged(p: Project, version: str) -> None:
    deployment = p.store.find_deployment(p.name)
    assert deployment is not None and (deployment.version, deployment.revision) == ("1", 1)
    champion = p.registry.find_alias(p.name, CHAMPION)
    assert champion is not None and champion.version == "1"
    (refused,) = p.store.list_events(p.name, kinds=["promotion_refused"])
    assert refused.version == version and refused.actor == "bob"


def test_a_corrupt_artifact_is_refused_and_nothing_changes(deployed: Project) -> None:
    p = deployed
    registry = p.registry
    assert isinstance(registry, MemoryRegistry)
    registry._models[(p.name, "2")] += b"\x00"  # the artifact store's copy is damaged
    with pytest.raises(StateError) as err:
        promote(p.runtime, "2", reason="try", actor="bob")
    assert "version 2 of 'tiny' cannot be promoted: it failed to load" in err.value.message
    assert "nothing was changed" in err.value.message
    _unchanged(p, "2")
    assert p.store.list_events(p.name, kinds=["artifact_rejected"])


def test_a_version_that_cannot_predict_on_its_example_is_refused(deployed: Project) -> None:
    p = deployed
    record = dataclasses.replace(training_record(p.name), estimator=CannotPredict())
    broken = p.registry.register(record)
    with pytest.raises(StateError) as err:
        promote(p.runtime, broken.version, reason="try", actor="bob")
    message = err.value.message
    assert "it failed to predict on its input example" in message
    assert "feature mismatch: expected 7 columns" in message
    _unchanged(p, broken.version)


def test_a_version_that_loads_and_predicts_is_promoted(deployed: Project) -> None:
    p = deployed
    assert promote(p.runtime, "2", reason="fine").version == "2"
    assert not p.store.list_events(p.name, kinds=["promotion_refused"])


def test_status_shows_what_each_server_serves_and_its_load_failure(
    deployed: Project, tmp_path: Path
) -> None:
    """A deployment row a replica cannot load (here: committed by hand, as a crash or an
    older opsloop could leave it) shows in `status` as that replica's load failure, with
    the version it still serves; read through the lean reader as `opsloop status` does."""
    from opsloop.serve.state import ModelHolder
    from opsloop.serve.stats import ServeStats
    from opsloop.store.reader import open_reader

    p = deployed
    registry = p.registry

    def load(version: str) -> object:
        if version == "2":
            raise RuntimeError("artifact store unreachable")
        return registry.load(p.name, version)

    holder = ModelHolder(p.name, p.store, load, stats=ServeStats())  # type: ignore[arg-type]
    assert holder.refresh()
    holder.stats.observe("1", "stable", 0.01)  # type: ignore[union-attr]
    holder.flush_stats()
    p.store.record_deployment(p.name, "2", reason="by hand")
    assert not holder.refresh() and not holder.refresh()  # retried: one event
    (event,) = p.store.list_events(p.name, kinds=["model_load_failed"])
    assert event.evidence["replica"] == holder.replica and event.evidence["serving"] == "1"

    reader = open_reader(f"sqlite:///{tmp_path / 'ops.db'}")
    assert reader is not None
    from opsloop.services.views import build_status

    view = build_status(reader, p.config)
    reader.close()
    assert [(s.replica, s.route, s.version) for s in view.servers] == [
        (holder.replica, "stable", "1")
    ]
    (failure,) = view.load_failures
    assert (failure.replica, failure.revision, failure.versions, failure.serving) == (
        holder.replica,
        2,
        ["2"],
        "1",
    )
    assert failure.error == "RuntimeError: artifact store unreachable"
    # once the replica serves the deployment, the failure is no longer shown
    holder._failed = None
    holder.load_version = lambda v: registry.load(p.name, v)  # type: ignore[method-assign]
    assert holder.refresh()
    holder.stats.observe("2", "stable", 0.01)  # type: ignore[union-attr]
    holder.flush_stats()
    healed = build_status(p.store, p.config)
    assert healed.load_failures == [] and [s.version for s in healed.servers] == ["2"]
