"""Registry and approval records follow the truth: the `challenger` alias leaves a version
that is rejected or whose approval expires, and a decision's history is append-only."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from opsloop.core.aliases import CHALLENGER
from opsloop.deploy import expire_pending
from opsloop.errors import StateError
from opsloop.project import Project
from tinyproject import write_tiny_project


def manual(tmp_path: Path, extra: str = "") -> Project:
    from opsloop.engines.memory import MemoryEngine
    from opsloop.registry.memory import MemoryRegistry
    from opsloop.store import OpsStore

    root = write_tiny_project(tmp_path / "p", approval="manual")
    yaml = (root / "opsloop.yaml").read_text()
    (root / "opsloop.yaml").write_text(
        yaml.replace("approval: manual}", f"approval: manual{extra}}}")
    )
    backends = dict(registry=MemoryRegistry(), store=OpsStore("sqlite://"), engine=MemoryEngine())
    return Project(root, actor="alice", **backends)  # type: ignore[arg-type]


def test_rejecting_a_pending_version_removes_its_challenger_alias(tmp_path: Path) -> None:
    p = manual(tmp_path)
    p.train()
    assert p.registry.find_alias("tiny", CHALLENGER).version == "1"  # type: ignore[union-attr]
    p.reject("1", comment="not this one")
    assert p.registry.find_alias("tiny", CHALLENGER) is None


def test_an_expired_approval_removes_its_challenger_alias(tmp_path: Path) -> None:
    p = manual(tmp_path, ", approval_expiry: 1h")
    p.train()
    (pending,) = p.store.list_pending("tiny")
    assert p.registry.find_alias("tiny", CHALLENGER) is not None
    expire_pending(p.runtime, pending.ts + timedelta(hours=2))
    assert p.registry.find_alias("tiny", CHALLENGER) is None
    assert p.status()["challenger"] is None  # status and registry agree


def test_rejecting_an_already_rejected_version_is_refused_and_keeps_the_reason(
    tmp_path: Path,
) -> None:
    p = manual(tmp_path)
    p.train()
    p.reject("1", comment="leaky feature")
    with pytest.raises(StateError, match=r"already rejected by alice .*leaky feature"):
        p.reject("1", comment="something else")
    rejected = [e for e in p.events() if e.kind == "rejected"]
    assert len(rejected) == 1 and rejected[0].summary == "leaky feature"
    approval = p.store.find_approval("tiny", "1")
    assert approval is not None and approval.comment == "leaky feature"


def test_a_decision_taken_on_a_stale_approval_is_refused_naming_the_winner(
    tmp_path: Path,
) -> None:
    p = manual(tmp_path)
    p.train()
    (pending,) = p.store.list_pending("tiny")
    p.store.set_approval("tiny", "1", "rejected", actor="bob", comment="first")
    with pytest.raises(StateError, match="rejected by bob"):
        p.store.set_approval("tiny", "1", "approved", actor="carol", expected_id=pending.id)
    assert p.store.find_approval("tiny", "1").actor == "bob"  # type: ignore[union-attr]
