"""A lost ops store is never silent: acting on an ops store with no record of a model the
registry holds versions of is refused with the fix, and `rebuild_store` (`opsloop store
rebuild`) restores the current deployment from the registry's `champion` alias with a
`store_rebuilt` event (issue 19, finding 5)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from opsloop.core.aliases import CHAMPION
from opsloop.errors import StateError
from opsloop.project import Project
from opsloop.registry.memory import MemoryRegistry
from opsloop.store import OpsStore
from tinyproject import tiny_frame, write_tiny_project


def open_project(root: Path, registry: MemoryRegistry, url: str) -> Project:
    from opsloop.engines.memory import MemoryEngine

    store = OpsStore(url)
    return Project(root, registry=registry, store=store, engine=MemoryEngine(), actor="ann")


@pytest.fixture
def lost(tmp_path: Path) -> Iterator[Project]:
    """Versions 1 and 2 registered, 1 champion; then the project reopened on a new, empty
    ops store (its `ops.db` deleted) with the same registry."""
    root = write_tiny_project(tmp_path / "p", approval="manual")
    registry = MemoryRegistry()
    first = open_project(root, registry, f"sqlite:///{tmp_path / 'ops.db'}")
    first.train(force=True)
    first.train(force=True)
    first.promote("1", reason="first")
    first.store.close()
    (tmp_path / "ops.db").unlink()
    p = open_project(root, registry, f"sqlite:///{tmp_path / 'ops.db'}")
    yield p
    p.store.close()


ACTS: dict[str, Callable[[Project], object]] = {
    "promote": lambda p: p.promote("2"),
    "train": lambda p: p.train(force=True),
    "agent tick": lambda p: p.tick(),
    "server": lambda p: p.serve_context(),
    "labels add": lambda p: p.add_labels(tiny_frame(5)[["row_id", "label"]]),
    "rollback": lambda p: p.rollback(),
}


@pytest.mark.parametrize("act", ACTS, ids=str)
def test_acting_on_a_lost_store_is_refused_with_the_fix(lost: Project, act: str) -> None:
    with pytest.raises(StateError) as err:
        ACTS[act](lost)
    message = err.value.message
    assert "the ops store has no record of 'tiny' but the model registry holds 2 version(s)" in (
        message
    )
    assert "run `opsloop store rebuild`" in message and "\n" not in message
    assert lost.store.find_deployment("tiny") is None  # nothing was written
    assert lost.store.list_events("tiny") == []
    assert lost.status_view().deployment is None  # reading still works


def test_rebuild_restores_the_champion_with_an_event_and_unblocks(lost: Project) -> None:
    done = lost.rebuild_store()
    assert (done.model, done.champion, done.revision, done.versions) == ("tiny", "1", 1, ["1", "2"])
    deployment = lost.store.find_deployment("tiny")
    assert deployment is not None and (deployment.version, deployment.actor) == ("1", "ann")
    (event,) = lost.store.list_events("tiny")
    assert event.kind == "store_rebuilt" and event.version == "1"
    assert event.evidence["champion"] == "1" and event.evidence["versions"] == ["1", "2"]
    # the loop acts again, on the restored history
    assert lost.promote("2", reason="after rebuild").revision == 2
    champion = lost.registry.find_alias("tiny", CHAMPION)
    assert champion is not None and champion.version == "2"


def test_rebuild_without_a_champion_records_the_versions_and_deploys_nothing(
    lost: Project,
) -> None:
    lost.registry.delete_alias("tiny", CHAMPION)
    done = lost.rebuild_store()
    assert done.champion is None and done.versions == ["1", "2"]
    assert lost.store.find_deployment("tiny") is None
    assert [e.kind for e in lost.store.list_events("tiny")] == ["store_rebuilt"]
    assert lost.promote("2", reason="first again").revision == 1


def test_rebuild_refuses_a_store_that_holds_the_history(lost: Project) -> None:
    lost.rebuild_store()
    with pytest.raises(StateError, match=r"already holds the history of 'tiny'.*revision 1"):
        lost.rebuild_store()
    assert len(lost.store.list_deployments("tiny")) == 1
