"""Retraining requests: the agent fires each once at its next tick, ignoring the cooldown but
not a running training; `retrain_now` trains at once; requests are visible with their run."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsloop.errors import NotFoundError, StateError
from opsloop.orchestrate.manual import get_request
from opsloop.project import Project
from tinyproject import add_training_data, write_tiny_project


def project(tmp_path: Path) -> Project:
    from opsloop.engines.memory import MemoryEngine
    from opsloop.registry.memory import MemoryRegistry
    from opsloop.store import OpsStore

    return Project(
        write_tiny_project(tmp_path / "p"),
        registry=MemoryRegistry(),
        store=OpsStore("sqlite://"),
        engine=MemoryEngine(),
        actor="alice",
    )


def test_a_request_fires_once_at_the_next_tick_despite_the_cooldown(tmp_path: Path) -> None:
    p = project(tmp_path)
    p.train()
    p.store.try_fire("tiny", "drift", "w1")  # cooldown (1h) runs from now
    request = p.request_retrain(reason="new feature pipeline")
    assert request.status == "pending" and request.actor == "alice"
    event = p.events(kinds=["retrain_requested"])[-1]
    assert event.id == request.id and event.actor == "alice"
    assert event.evidence == {"reason": "new feature pipeline", "requested_by": "alice"}

    add_training_data(p.root)  # a retrain on the champion's data would be skipped
    result = p.tick()
    assert [(f.trigger, f.key) for f in result.fired] == [("manual", str(request.id))]
    assert result.fired[0].evidence["requested_by"] == "alice"
    assert result.trained is not None and result.trained.version == "2"
    run = p.store.list_runs("tiny")[0]
    assert run.trigger == f"manual:{request.id}"
    assert p.tick().fired == []  # at most once
    done = p.retrain_requests()[-1]
    assert done.status == "fired" and done.run == run.id and done.run_status == "succeeded"
    assert get_request(p.store, "tiny", request.id) == done
    with pytest.raises(NotFoundError, match="no retraining request 999"):
        get_request(p.store, "tiny", 999)


def test_requests_wait_for_a_running_training(tmp_path: Path) -> None:
    p = project(tmp_path)
    p.train()
    running = p.store.start_run("tiny", "train", trigger="schedule:x")  # heartbeat fresh
    request = p.request_retrain(reason="")
    other = p.request_retrain(reason="again")
    first = p.tick()
    assert first.fired == [] and first.trained is None
    assert first.skipped[0] == {
        "trigger": "manual",
        "key": str(request.id),
        "running_run": running,
        "reason": first.skipped[0]["reason"],
    }
    assert p.tick().skipped  # still running: each waiting request recorded once
    skipped = p.store.list_events("tiny", kinds=["trigger_skipped"])
    assert [e.evidence["key"] for e in skipped] == [str(request.id), str(other.id)]
    assert {r.status for r in p.retrain_requests()} == {"pending"}
    with pytest.raises(StateError, match=f"training run {running} .* still running"):
        p.retrain_now(reason="now please")
    assert len(p.retrain_requests()) == 2  # a refused --now leaves no request behind
    p.store.update_run(running, stages=[], status="succeeded")
    done = p.tick()
    assert [f.trigger for f in done.fired] == ["manual", "manual"] and done.trained
    assert p.retrain_requests()[0].reason == "no reason given"


def test_retrain_now_trains_in_the_caller(tmp_path: Path) -> None:
    p = project(tmp_path)
    p.train()
    add_training_data(p.root)  # a retrain on the champion's data would be skipped
    stages: list[tuple[str, str]] = []
    request, outcome = p.retrain_now(
        reason="hotfix", progress=lambda s, st, *a: stages.append((s, st))
    )
    assert outcome.version == "2" and ("fit", "started") in stages
    seen = p.retrain_requests()[-1]
    assert seen.id == request.id and seen.status == "fired" and seen.run is not None
    assert p.store.list_runs("tiny")[0].trigger == f"manual:{request.id}"
    assert p.tick().fired == []  # the agent does not run it again


def test_requests_and_breaches_of_one_tick_share_one_training(tmp_path: Path) -> None:
    p = project(tmp_path)
    p.train()
    a = p.request_retrain(reason="a")
    b = p.request_retrain(reason="b")
    result = p.tick()
    assert [f.key for f in result.fired] == [str(a.id), str(b.id)]
    assert len([r for r in p.store.list_runs("tiny") if r.pipeline == "train"]) == 2
    served = {r.id: r.run for r in p.retrain_requests()}
    assert served[a.id] == served[b.id] is not None
