"""The ops store is the single commit point of a promotion: concurrent writers lose with a
StateError naming the winner, the `champion` alias is derived from the committed row, and
the reconciler (agent ticks, server polls) repairs drift with an `alias_repaired` event."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsloop.core.aliases import CHAMPION
from opsloop.deploy import promote, reconcile_champion
from opsloop.errors import StateError
from opsloop.project import Project
from opsloop.store import OpsStore
from store_fixtures import POSTGRES
from tinyproject import write_tiny_project


def project(root: Path, store: OpsStore, actor: str = "alice") -> Project:
    from opsloop.engines.memory import MemoryEngine
    from opsloop.registry.memory import MemoryRegistry

    return Project(root, registry=MemoryRegistry(), store=store, engine=MemoryEngine(), actor=actor)


@pytest.fixture(params=["sqlite", POSTGRES])
def trained(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Project]:
    """Four pending versions of a model named uniquely (PostgreSQL is shared)."""
    root = write_tiny_project(tmp_path / "p", approval="manual")
    name = f"tiny{tmp_path.name[-6:].replace('-', '')}"
    yaml = (root / "opsloop.yaml").read_text().replace("model: tiny", f"model: {name}")
    (root / "opsloop.yaml").write_text(yaml)
    url = (
        f"sqlite:///{tmp_path / 'ops.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    store = OpsStore(url)
    p = project(root, store)
    for _ in range(4):
        p.train(force=True)
    yield p
    store.close()


def _race(p: Project, versions: list[str]) -> tuple[list[object], list[BaseException]]:
    """Promote each of `versions` from its own thread, all released at once."""
    barrier = threading.Barrier(len(versions))
    won: list[object] = []
    lost: list[BaseException] = []

    def one(version: str) -> None:
        barrier.wait()
        try:
            won.append(promote(p.runtime, version, reason="race", actor=f"t{version}"))
        except BaseException as exc:  # the test inspects every outcome
            lost.append(exc)

    threads = [threading.Thread(target=one, args=(v,)) for v in versions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return won, lost


def test_concurrent_promotions_commit_one_history_and_losers_hear_the_winner(
    trained: Project,
) -> None:
    p = trained
    promote(p.runtime, "1", reason="first")
    won, lost = _race(p, ["2", "3", "4", "2", "3", "4", "2", "3"])
    assert won, "at least one promotion commits"
    history = p.store.list_deployments(p.name)
    assert [d.revision for d in history] == list(range(1, len(history) + 1))
    assert len(history) == 1 + len(won)
    for exc in lost:  # never an IntegrityError: a StateError naming who won
        assert isinstance(exc, StateError), repr(exc)
        assert "revision" in exc.what and " by t" in exc.what, exc.what
    current = p.store.find_deployment(p.name)
    alias = p.registry.find_alias(p.name, CHAMPION)
    assert current is not None and alias is not None and alias.version == current.version


def test_a_promotion_decided_on_an_old_revision_is_refused_naming_the_winner(
    trained: Project,
) -> None:
    p = trained
    first = promote(p.runtime, "1", reason="first")
    promote(p.runtime, "2", reason="second", actor="bob")
    with pytest.raises(StateError) as err:
        promote(p.runtime, "3", reason="late", expected_revision=first.revision)
    assert "revision 2 deployed version 2" in err.value.what and "bob" in err.value.what
    assert [d.version for d in p.store.list_deployments(p.name)] == ["1", "2"]
    alias = p.registry.find_alias(p.name, CHAMPION)
    assert alias is not None and alias.version == "2"


def test_the_alias_follows_the_committed_row_and_drift_is_repaired(trained: Project) -> None:
    p = trained
    promote(p.runtime, "2", reason="first")
    # a crash between the commit and the alias write, or a hand-moved alias
    p.registry.set_alias(p.name, CHAMPION, "4")
    tick = p.tick()
    assert tick.repaired is not None and tick.repaired.alias_version == "4"
    alias = p.registry.find_alias(p.name, CHAMPION)
    assert alias is not None and alias.version == "2"
    events = p.store.list_events(p.name, kinds=["alias_repaired"])
    assert len(events) == 1 and events[0].evidence["repaired_to"] == "2"
    assert reconcile_champion(p.registry, p.store, p.name) is None  # nothing left to repair
    p.registry.delete_alias(p.name, CHAMPION)  # a lost alias is drift too
    assert reconcile_champion(p.registry, p.store, p.name) is not None
    alias = p.registry.find_alias(p.name, CHAMPION)
    assert alias is not None and alias.version == "2"


def test_a_server_poll_runs_the_reconciler_on_change_and_when_due() -> None:
    from opsloop.serve.state import ModelHolder

    calls: list[int] = []

    def reconcile() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("registry down")  # logged; the poll goes on

    store = OpsStore("sqlite://")
    holder = ModelHolder("m", store, lambda v: None)  # type: ignore[arg-type,return-value]
    holder.reconcile = reconcile
    holder.reconcile_alias()  # first poll: due
    holder.reconcile_alias()  # within the interval: not due
    assert len(calls) == 1
    holder.reconcile_alias(force=True)  # a routing change: always
    holder.reconcile_alias(force=True)
    assert len(calls) == 3
