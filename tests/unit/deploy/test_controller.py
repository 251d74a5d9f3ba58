"""Promotion, approval, rejection and rollback on in-memory backends."""

from __future__ import annotations

import pytest

from opsloop.errors import NotFoundError, StateError
from opsloop.project import Project


@pytest.fixture
def manual_project(tmp_path) -> Project:
    from opsloop.engines.memory import MemoryEngine
    from opsloop.registry.memory import MemoryRegistry
    from opsloop.store import OpsStore
    from tinyproject import write_tiny_project

    root = write_tiny_project(tmp_path / "manual", approval="manual")
    return Project(
        root,
        registry=MemoryRegistry(),
        store=OpsStore("sqlite://"),
        engine=MemoryEngine(),
        actor="alice",
    )


def test_manual_approval_flow(manual_project: Project) -> None:
    p = manual_project
    o = p.train()
    assert o.gate_passed and o.approval == "pending" and not o.promoted
    assert [a.version for a in p.store.list_pending("tiny")] == ["1"]
    assert p.status()["pending_approvals"][0]["version"] == "1"
    a = p.approve("1", comment="checked the report")
    assert a.actor == "alice" and a.status == "approved"
    assert p.store.find_deployment("tiny").version == "1"  # type: ignore[union-attr]
    assert p.store.list_pending("tiny") == []


def test_reject_pending_and_reject_champion_rolls_back(manual_project: Project) -> None:
    p = manual_project
    p.train()
    p.approve("1")
    p.train(force=True)
    p.approve("2")
    p.train(force=True)
    p.reject("3", comment="no")
    assert p.store.find_deployment("tiny").version == "2"  # type: ignore[union-attr]
    p.reject("2", comment="bad in production")
    dep = p.store.find_deployment("tiny")
    assert dep is not None and dep.version == "1"
    assert p.registry.find_alias("tiny", "champion").version == "1"  # type: ignore[union-attr]
    assert [e.kind for e in p.events()][-2:] == ["rejected", "rolled_back"]


def test_approve_needs_a_passed_gate_unless_forced(manual_project: Project) -> None:
    p = manual_project
    p.train()
    p.store.record_gate(
        model="tiny",
        version="1",
        champion_version=None,
        metric="roc_auc",
        policy="non_inferiority",
        margin=0.0,
        floor=0.99,
        challenger_value=0.8,
        champion_value=None,
        passed=False,
        reasons=["misses the floor"],
    )
    with pytest.raises(StateError, match="failed its gate"):
        p.approve("1")
    p.approve("1", force=True)
    assert p.store.find_deployment("tiny").version == "1"  # type: ignore[union-attr]


def test_rollback_walks_back_through_history(memory_project: Project) -> None:
    p = memory_project
    with pytest.raises(StateError, match="never been deployed"):
        p.rollback()
    p.train()
    with pytest.raises(StateError, match="no earlier version"):
        p.rollback()
    p.train(force=True)
    p.train(force=True)
    assert p.store.find_deployment("tiny").version == "3"  # type: ignore[union-attr]
    d = p.rollback(reason="latency regression")
    assert (d.version, d.previous_version) == ("2", "3")
    d = p.rollback()
    assert d.version == "1"  # not back to 3: it was rolled back from
    assert p.registry.find_alias("tiny", "champion").version == "1"  # type: ignore[union-attr]
    rolled = [e for e in p.events() if e.kind == "rolled_back"]
    assert [e.evidence["from_version"] for e in rolled] == ["3", "2"]
    assert rolled[0].summary == "latency regression"


def test_promote_unknown_or_current_version(memory_project: Project) -> None:
    p = memory_project
    p.train()
    with pytest.raises(NotFoundError, match="no version '9'"):
        p.promote("9")
    with pytest.raises(StateError, match="already deployed"):
        p.promote("1")
