"""Approval workflow: rejected versions stay out of rollbacks, pending approvals expire,
gate reports are stored and can be rerun, bad training data stops before the fit."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from opsloop.errors import DataValidationError, NotFoundError, StateError
from opsloop.project import Project
from tinyproject import write_tiny_project


def memory(root: Path, actor: str = "alice") -> Project:
    from opsloop.engines.memory import MemoryEngine
    from opsloop.registry.memory import MemoryRegistry
    from opsloop.store import OpsStore

    return Project(
        root,
        registry=MemoryRegistry(),
        store=OpsStore("sqlite://"),
        engine=MemoryEngine(),
        actor=actor,
    )


def manual(tmp_path: Path, extra: str = "") -> Project:
    root = write_tiny_project(tmp_path / "p", approval="manual")
    yaml = (root / "opsloop.yaml").read_text()
    (root / "opsloop.yaml").write_text(
        yaml.replace("approval: manual}", f"approval: manual{extra}}}")
    )
    return memory(root)


def test_rejecting_the_champion_returns_to_the_previous_approved_version(tmp_path: Path) -> None:
    p = manual(tmp_path)
    for _ in range(3):
        p.train(force=True)  # the same data each time
        p.approve(p.store.list_pending("tiny")[0].version)
    assert p.store.find_deployment("tiny").version == "3"  # type: ignore[union-attr]
    p.reject("2", comment="found a leak in its features")  # an earlier champion
    p.reject("3", comment="bad in production")
    dep = p.store.find_deployment("tiny")
    assert dep is not None and dep.version == "1"  # skips rejected version 2
    a = p.store.find_approval("tiny", "3")
    assert a is not None and (a.status, a.actor, a.comment) == (
        "rejected",
        "alice",
        "bad in production",
    )
    tags = {
        v: json.loads(p.registry.get_version("tiny", v).tags["opsloop.approval"]) for v in "123"
    }
    # mirrored in MLflow: the decision with who, when and why
    assert {v: t["decision"] for v, t in tags.items()} == {
        "1": "approved",
        "2": "rejected",
        "3": "rejected",
    }
    assert tags["3"]["actor"] == "alice" and tags["3"]["comment"] == "bad in production"
    assert tags["3"]["ts"] == a.ts.isoformat()


def test_pending_approvals_expire_and_expired_versions_need_force(tmp_path: Path) -> None:
    p = manual(tmp_path, ", approval_expiry: 1h")
    p.train()
    (pending,) = p.store.list_pending("tiny")
    assert (
        p.status()["pending_approvals"][0]["expires"]
        == (pending.ts + timedelta(hours=1)).isoformat()
    )
    from opsloop.deploy import EXPIRY_ACTOR, expire_pending

    assert expire_pending(p.runtime, pending.ts + timedelta(minutes=59)) == []
    (expired,) = expire_pending(p.runtime, pending.ts + timedelta(hours=1, seconds=1))
    assert (expired.status, expired.actor) == ("rejected", EXPIRY_ACTOR)
    assert "longer than gate.approval_expiry (1h)" in expired.comment
    assert p.store.list_pending("tiny") == []
    with pytest.raises(StateError, match="was rejected by opsloop \\(expiry\\)"):
        p.approve("1")
    p.approve("1", force=True, comment="late but fine")
    assert p.store.find_deployment("tiny").version == "1"  # type: ignore[union-attr]
    forced = [e for e in p.events() if e.kind == "approved"][-1]
    assert forced.evidence["forced"] is True


def test_the_agent_expires_pending_approvals(tmp_path: Path) -> None:
    p = manual(tmp_path, ", approval_expiry: 2h")
    p.train()
    later = datetime.now(UTC) + timedelta(hours=3)
    object.__setattr__(p.runtime, "clock", lambda: later)
    result = p.tick()
    assert "pending approval of version 1 expired" in result.notes
    assert p.store.find_approval("tiny", "1").status == "rejected"  # type: ignore[union-attr]


def test_gate_report_is_stored_with_the_decision_and_as_artifacts(tmp_path: Path) -> None:
    p = memory(write_tiny_project(tmp_path / "p"))
    p.train()
    p.train(force=True)
    report = p.gate_report("2")
    assert report.passed and report.champion_version == "1"
    assert report.primary["method"] == "delong" and report.window
    import json

    stored = json.loads(p.registry.read_artifact("tiny", "2", "gate_report.json"))
    assert stored["version"] == "2" and stored["metrics"] == report.metrics
    assert "Gate PASSED" in p.registry.read_artifact("tiny", "2", "gate_report.md")
    assert "<table>" in p.registry.read_artifact("tiny", "2", "gate_report.html")
    event = [e for e in p.events() if e.kind == "gate_passed"][-1]
    assert event.evidence["evidence"]["artifacts"]["gate_report.html"].endswith("gate_report.html")
    status = p.status()["champion"]["gate"]
    assert status["method"] == "delong" and status["ci_low"] is not None
    with pytest.raises(NotFoundError, match="no gate decision"):
        p.gate_report("7")


def test_rerunning_the_gate_records_a_new_decision(tmp_path: Path) -> None:
    p = memory(write_tiny_project(tmp_path / "p"))
    p.train()
    p.train(force=True)
    first = p.gate_report("2")
    again = p.rerun_gate("2")  # version 2 is champion: compared with its old champion, 1
    assert again.champion_version == "1" and again.passed
    assert again.primary["challenger"] == pytest.approx(first.primary["challenger"])
    assert len([e for e in p.events() if e.kind == "gate_passed"]) == 3


def test_bad_training_data_stops_before_the_fit(tmp_path: Path) -> None:
    root = write_tiny_project(tmp_path / "p", rows=300)
    yaml = (root / "opsloop.yaml").read_text()
    (root / "opsloop.yaml").write_text(
        yaml + "data: {quality: {min_rows: 1000, max_missing: 0.1}}\n"
    )
    frame = pd.read_parquet(root / "data" / "history.parquet")
    frame.loc[frame.index[:100], "x2"] = None
    frame.to_parquet(root / "data" / "history.parquet", index=False)
    p = memory(root)
    with pytest.raises(DataValidationError) as info:
        p.train()
    message = str(info.value)
    assert "min_rows: 300 rows (need at least 1000)" in message
    assert "too many missing values: x2 33%" in message
    assert p.registry.list_versions("tiny") == []
    (run,) = p.store.list_runs("tiny")
    assert run.status == "failed" and run.stages[-1]["name"] == "validate"
    assert "fit" not in [s["name"] for s in run.stages]
    event = [e for e in p.events() if e.kind == "data_invalid"][-1]
    failed = [q["check"] for q in event.evidence["quality"] if not q["passed"]]
    assert failed == ["min_rows", "max_missing"]


def test_the_agent_drops_the_challenger_alias_from_a_rejected_version(tmp_path: Path) -> None:
    """A crash between a rejection (or an expiry) and dropping the `challenger` alias: the
    next tick's reconciler drops it, with an event; an approved challenger keeps it."""
    from opsloop.core.aliases import CHALLENGER
    from opsloop.deploy.approvals import record_approval

    p = manual(tmp_path)
    p.train()
    p.approve("1")
    p.train(force=True)
    assert p.registry.find_alias("tiny", CHALLENGER).version == "2"  # type: ignore[union-attr]
    p.tick()
    assert p.registry.find_alias("tiny", CHALLENGER) is not None  # pending: stays
    pending = p.store.find_approval("tiny", "2")
    record_approval(p.runtime, "2", "rejected", actor="bob", decided_on=pending)
    p.registry.set_alias("tiny", CHALLENGER, "2")  # as if killed before it was dropped
    result = p.tick()
    assert p.registry.find_alias("tiny", CHALLENGER) is None
    assert any("challenger alias left the rejected version 2" in n for n in result.notes)
    events = p.store.list_events("tiny", kinds=["alias_repaired"], limit=10)
    assert [(e.version, e.evidence["alias"]) for e in events] == [("2", CHALLENGER)]
