"""The loop composition (train → gate → approve → deploy) on a Runtime over the in-memory
backends, with the tiny project's real scikit-learn code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opsloop.config import load_config
from opsloop.engines.memory import MemoryEngine
from opsloop.lease import training_lease_name
from opsloop.orchestrate.loop import TrainOutcome, run_loop
from opsloop.registry.memory import MemoryRegistry
from opsloop.runtime import Runtime
from opsloop.store import OpsStore
from opsloop.store.records import utcnow
from tinyproject import write_tiny_project

STAGES = ["load", "validate", "split", "fit", "evaluate", "register", "gate", "approve"]


def runtime(
    tmp_path: Path, *, floor: float = 0.6, approval: str = "auto", extra: str = ""
) -> Runtime:
    root = write_tiny_project(tmp_path / "p", floor=floor, approval=approval, extra_yaml=extra)
    return Runtime(
        load_config(root / "opsloop.yaml"),
        root,
        MemoryRegistry(),
        OpsStore("sqlite://"),
        MemoryEngine(),
    )


def kinds(rt: Runtime) -> list[str]:
    return [e.kind for e in rt.store.list_events(rt.model)]


def stage(rt: Runtime, name: str) -> dict:  # type: ignore[type-arg]
    run = rt.store.list_runs(rt.model)[0]
    return next(s for s in run.stages if s["name"] == name)


def test_one_turn_is_one_recorded_run_from_load_to_deployment(tmp_path: Path) -> None:
    rt = runtime(tmp_path)
    o = run_loop(rt, trigger="manual")
    assert isinstance(o, TrainOutcome)
    assert (o.version, o.gate_passed, o.approval, o.promoted, o.rollout) == (
        "1",
        True,
        "approved",
        True,
        None,
    )
    assert o.champion_version is None and o.gate_reasons
    (run,) = rt.store.list_runs("tiny")
    assert run.id == o.run_id and run.status == "succeeded" and run.trigger == "manual"
    assert [s["name"] for s in run.stages] == STAGES
    assert all(s["status"] == "succeeded" for s in run.stages)
    assert run.result == o.to_dict()  # what `opsloop train --json` prints
    assert set(o.to_dict()) == {
        "run_id",
        "version",
        "metrics",
        "gate_passed",
        "gate_reasons",
        "approval",
        "promoted",
        "champion_version",
        "rows",
        "rollout",
        "skipped",
        "window",
        "anchor",
        "requested",
        "warnings",
    }
    assert o.skipped is False
    assert stage(rt, "gate")["detail"] == {
        "passed": True,
        "reasons": o.gate_reasons,
        "champion_version": None,
    }
    assert stage(rt, "approve")["detail"] == {
        "approval": "approved",
        "promoted": True,
        "rollout": None,
    }
    assert kinds(rt) == ["trained", "registered", "gate_passed", "approved", "promoted"]
    approval = rt.store.find_approval("tiny", "1")
    assert approval is not None and approval.actor == "opsloop (auto)"
    deployment = rt.store.find_deployment("tiny")
    assert deployment is not None and deployment.version == "1"
    assert deployment.reason.startswith("gate passed (")
    lease = rt.store.find_lease(training_lease_name("tiny"))
    assert lease is not None and not lease.live(utcnow())  # the slot is released


def test_the_gate_meets_the_champion_found_when_training_started(tmp_path: Path) -> None:
    rt = runtime(tmp_path)
    run_loop(rt)
    o = run_loop(rt, force=True)
    assert (o.version, o.champion_version) == ("2", "1")
    assert stage(rt, "gate")["detail"]["champion_version"] == "1"
    gate = rt.store.find_gate("tiny", "2")
    assert gate is not None and gate.champion_value is not None
    assert rt.store.find_deployment("tiny").version == "2"  # type: ignore[union-attr]


def test_a_failed_gate_approves_and_deploys_nothing(tmp_path: Path) -> None:
    rt = runtime(tmp_path, floor=0.99)
    o = run_loop(rt)
    assert not o.gate_passed and o.approval == "none" and not o.promoted
    assert "misses the floor" in o.gate_reasons[0]
    assert stage(rt, "approve")["detail"] == {
        "approval": "none",
        "promoted": False,
        "rollout": None,
    }
    assert rt.store.find_approval("tiny", "1") is None
    assert rt.store.find_deployment("tiny") is None
    assert kinds(rt) == ["trained", "registered", "gate_failed"]
    assert rt.registry.find_alias("tiny", "challenger").version == "1"  # type: ignore[union-attr]


def test_manual_approval_leaves_the_version_pending(tmp_path: Path) -> None:
    rt = runtime(tmp_path, approval="manual")
    o = run_loop(rt)
    assert o.gate_passed and o.approval == "pending" and not o.promoted
    pending = rt.store.find_approval("tiny", "1")
    assert pending is not None and pending.status == "pending" and pending.actor == "opsloop"
    assert "`opsloop approve tiny 1`" in pending.comment
    tag = json.loads(rt.registry.get_version("tiny", "1").tags["opsloop.approval"])
    assert (tag["decision"], tag["actor"]) == ("pending", "opsloop")
    assert rt.store.find_deployment("tiny") is None


def test_an_approved_version_starts_a_canary_rollout_after_the_first(tmp_path: Path) -> None:
    rt = runtime(tmp_path, extra="deploy: {strategy: canary, steps: [10, 100], bake: 1m}\n")
    first = run_loop(rt)
    assert first.promoted and first.rollout is None  # the first deployment is a switch
    second = run_loop(rt, force=True)
    assert not second.promoted and second.rollout is not None
    rollout = rt.store.find_running_rollout("tiny")
    assert rollout is not None and rollout.id == second.rollout
    assert (rollout.stable_version, rollout.candidate_version) == ("1", "2")
    assert stage(rt, "approve")["detail"] == {
        "approval": "approved",
        "promoted": False,
        "rollout": second.rollout,
    }
    assert rt.store.find_deployment("tiny").version == "1"  # type: ignore[union-attr]


def test_an_interrupt_in_a_later_step_fails_the_run_at_that_step(tmp_path: Path) -> None:
    rt = runtime(tmp_path)

    def progress(name: str, message: str) -> None:
        if (name, message) == ("gate", "started"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_loop(rt, trigger="drift:k", progress=progress)
    (run,) = rt.store.list_runs("tiny")
    assert run.status == "failed" and [s["name"] for s in run.stages] == STAGES[:-1]
    failed = rt.store.list_events("tiny")[-1]
    assert failed.kind == "training_failed"
    assert failed.evidence == {"trigger": "drift:k", "pipeline_run": run.id, "stage": "gate"}
    assert rt.store.find_gate("tiny", "1") is None and rt.store.find_approval("tiny", "1") is None
    lease = rt.store.find_lease(training_lease_name("tiny"))
    assert lease is not None and not lease.live(utcnow())
    assert run_loop(rt).version == "2"  # the slot is free again


def test_a_retrain_of_nothing_new_registers_nothing(tmp_path: Path) -> None:
    rt = runtime(tmp_path)
    first = run_loop(rt)
    o = run_loop(rt, trigger="drift:w")
    assert o.skipped and not o.promoted and not o.gate_passed and o.approval == "none"
    assert (o.version, o.champion_version, o.metrics) == ("1", "1", {})
    assert o.gate_reasons == [
        "data, code and configuration equal champion version 1's: nothing to retrain "
        "(force it with `opsloop train --force`)"
    ]
    assert [v.version for v in rt.registry.list_versions("tiny")] == ["1"]
    run = rt.store.list_runs("tiny")[0]
    assert run.id == o.run_id and run.status == "skipped" and run.trigger == "drift:w"
    assert [s["name"] for s in run.stages] == ["load"]  # nothing fitted
    assert run.stages[0]["detail"]["unchanged_since"] == "1"
    assert run.result == o.to_dict()
    event = rt.store.list_events("tiny")[-1]
    assert event.kind == "retrain_skipped" and event.version == "1"
    assert event.summary == o.gate_reasons[0]
    tags = rt.registry.get_version("tiny", first.version).tags
    assert event.evidence == {
        "champion_version": "1",
        "rows": o.rows["total"],
        "data": tags["opsloop.data_fingerprint"],
        "code": tags["opsloop.code_digest"],
        "config": tags["opsloop.config_digest"],
        "git_sha": tags.get("opsloop.git_sha"),
        "window": event.evidence["window"],
        "trigger": "drift:w",
        "pipeline_run": o.run_id,
    }
    lease = rt.store.find_lease(training_lease_name("tiny"))
    assert lease is not None and not lease.live(utcnow())


def test_a_forced_retrain_of_nothing_new_registers_a_version(tmp_path: Path) -> None:
    rt = runtime(tmp_path)
    run_loop(rt)
    o = run_loop(rt, force=True)
    assert not o.skipped and (o.version, o.champion_version) == ("2", "1")
    assert rt.store.list_runs("tiny")[0].status == "succeeded"
    assert "retrain_skipped" not in kinds(rt)


@pytest.mark.parametrize("change", ["data", "code", "config"])
def test_a_change_in_data_code_or_configuration_trains(tmp_path: Path, change: str) -> None:
    from tinyproject import add_training_data

    rt = runtime(tmp_path)
    run_loop(rt)
    if change == "data":
        add_training_data(rt.root)
    elif change == "code":
        code = rt.root / "model.py"
        code.write_text(code.read_text() + "\n# tuned\n")
    else:
        rt.config = rt.config.model_copy(
            update={"split": rt.config.split.model_copy(update={"holdout": 0.3})}
        )
    o = run_loop(rt)
    assert not o.skipped and (o.version, o.champion_version) == ("2", "1")
    assert "retrain_skipped" not in kinds(rt)
    one, two = (rt.registry.get_version("tiny", v).tags for v in ("1", "2"))
    changed = {
        k
        for k in ("opsloop.data_fingerprint", "opsloop.code_digest", "opsloop.config_digest")
        if one[k] != two[k]
    }
    tag = {"data": "data_fingerprint", "code": "code_digest", "config": "config_digest"}[change]
    assert changed == {f"opsloop.{tag}"}


def test_a_champion_without_the_digests_is_never_equal(tmp_path: Path) -> None:
    """Versions registered before the code and configuration digests existed."""
    rt = runtime(tmp_path)
    run_loop(rt)
    rt.registry.set_tag("tiny", "1", "opsloop.code_digest", "")
    assert not run_loop(rt).skipped


def test_the_gate_report_spans_the_holdout_rows_inside_the_training_window(
    tmp_path: Path,
) -> None:
    import pandas as pd

    rt = runtime(tmp_path)
    run_loop(rt)
    gate = rt.store.find_gate("tiny", "1")
    assert gate is not None and gate.evidence_model.report is not None
    report = gate.evidence_model.report
    data = pd.read_parquet(rt.root / "data" / "history.parquet")
    times = data["event_time"].sort_values()
    holdout = times.iloc[-report.holdout_rows :]  # the latest rows by event time
    assert report.holdout_start == holdout.iloc[0].isoformat()
    assert report.holdout_end == times.iloc[-1].isoformat()
    start, end = (pd.Timestamp(t) for t in report.window.split("/"))  # type: ignore[union-attr]
    first, last = pd.Timestamp(report.holdout_start), pd.Timestamp(report.holdout_end)
    assert start <= times.iloc[0] < first <= last < end  # a part of the window, not all of it
