"""Deploying a version that failed its gate (or was rejected) needs `force`, recorded in
the event — for a canary rollout as for a direct switch, as `approve` already does."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsloop.errors import StateError
from opsloop.project import Project
from opsloop.store.records import Rollout
from tinyproject import write_tiny_project


def _failed_second_version(tmp_path: Path) -> Project:
    from opsloop.engines.memory import MemoryEngine
    from opsloop.registry.memory import MemoryRegistry
    from opsloop.store import OpsStore

    root = write_tiny_project(tmp_path / "p")
    backends = dict(registry=MemoryRegistry(), store=OpsStore("sqlite://"), engine=MemoryEngine())
    first = Project(root, actor="alice", **backends)  # type: ignore[arg-type]
    assert first.train().promoted
    yaml = (root / "opsloop.yaml").read_text().replace("floor: 0.6", "floor: 0.999")
    (root / "opsloop.yaml").write_text(yaml)
    p = Project(root, actor="alice", **backends)  # type: ignore[arg-type]
    outcome = p.train(force=True)
    assert not outcome.gate_passed and outcome.version == "2"
    return p


@pytest.mark.parametrize("strategy", ["canary", "shadow", "blue_green"])
def test_deploying_a_version_that_failed_its_gate_needs_force(
    tmp_path: Path, strategy: str
) -> None:
    p = _failed_second_version(tmp_path)
    with pytest.raises(StateError) as err:
        p.deploy("2", strategy=strategy)
    assert "failed its gate" in err.value.what and "--force" in (err.value.fix or "")
    assert p.store.find_running_rollout("tiny") is None
    assert p.store.find_deployment("tiny").version == "1"  # type: ignore[union-attr]
    result = p.deploy("2", strategy=strategy, force=True)
    kind = "rollout_started" if isinstance(result, Rollout) else "promoted"
    event = p.store.list_events("tiny", kinds=[kind])[-1]
    assert event.version == "2" and "failed its gate" in event.evidence["forced"]
    assert event.actor == "alice"


def test_a_rejected_version_needs_force_too(tmp_path: Path) -> None:
    p = _failed_second_version(tmp_path)
    p.reject("2", comment="leaky feature")
    with pytest.raises(StateError, match="rejected by alice"):
        p.deploy("2", strategy="canary")
