"""Crashed runs are failed by heartbeat timeout and re-run once on the same window; one
training per model (a second trigger is recorded as skipped); load() is retried with
back-off; a tick needs the agent lease."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from opsloop.errors import StateError, UserCodeError
from opsloop.lease import HeldLease, agent_lease_name, training_lease_name
from opsloop.project import Project
from opsloop.store.records import utcnow
from tinyproject import add_training_data, write_tiny_project

RETRAIN = "retrain: {on: [drift, performance], training_window: 30d, cooldown: 1h}"

FLAKY_LOAD = """

_load = load
FAILURES = DATA.parent / "load_failures_left"


def load(window):
    left = int(FAILURES.read_text()) if FAILURES.exists() else 0
    if left > 0:
        FAILURES.write_text(str(left - 1))
        raise ConnectionError("warehouse unavailable")
    return _load(window)
"""


def project(tmp_path: Path, *, retrain: str = RETRAIN, extra: str = "") -> Project:
    from opsloop.engines.memory import MemoryEngine
    from opsloop.registry.memory import MemoryRegistry
    from opsloop.store import OpsStore

    root = write_tiny_project(tmp_path / "p", extra_yaml=extra)
    text = (root / "opsloop.yaml").read_text().replace(RETRAIN, retrain)
    (root / "opsloop.yaml").write_text(text)
    with (root / "model.py").open("a") as f:
        f.write(FLAKY_LOAD)
    return Project(
        root,
        registry=MemoryRegistry(),
        store=OpsStore("sqlite://"),
        engine=MemoryEngine(),
        actor="tester",
    )


def wait_until(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_crashed_training_is_failed_and_rerun_once_on_its_window(tmp_path: Path) -> None:
    p = project(tmp_path, extra="agent: {heartbeat_interval: 0.2s, heartbeat_timeout: 1s}\n")
    p.train()
    # what a killed `opsloop train` leaves behind: a running run, stuck in `fit`
    window_key = "2024-01-01T00:00:00Z/2099-01-01T00:00:00Z"
    run_id = p.store.start_run("tiny", "train", trigger="manual")
    p.store.update_run(
        run_id,
        stages=[
            {"name": "load", "status": "succeeded", "detail": {"window": window_key}},
            {"name": "fit", "status": "running", "detail": {}},
        ],
    )
    started = utcnow()
    wait_until(lambda: utcnow() - started > timedelta(seconds=1.2))

    add_training_data(p.root)  # a retrain on the champion's data would be skipped
    result = p.tick()
    assert [r.id for r in result.crashed] == [run_id]
    crashed = next(r for r in p.store.list_runs("tiny") if r.id == run_id)
    assert crashed.status == "failed" and crashed.error is not None
    assert crashed.error.startswith("crashed: no heartbeat since") and "fit" in crashed.error
    assert [(f.trigger, f.key) for f in result.fired] == [("resume", str(run_id))]
    assert result.trained is not None and result.trained.version == "2"
    rerun = p.store.list_runs("tiny")[0]
    assert rerun.trigger == f"resume:{run_id}" and rerun.status == "succeeded"
    assert rerun.stages[0]["detail"]["window"] == window_key  # the crashed run's data
    failed = p.store.list_events("tiny", kinds=["training_failed"])
    assert failed[-1].evidence["crashed"] is True and failed[-1].evidence["stage"] == "fit"
    assert p.tick().fired == []  # once


def test_a_crashed_rerun_is_not_rerun_again(tmp_path: Path) -> None:
    p = project(tmp_path, extra="agent: {heartbeat_interval: 0.2s, heartbeat_timeout: 1s}\n")
    p.train()
    run_id = p.store.start_run("tiny", "train", trigger="resume:1")
    started = utcnow()
    wait_until(lambda: utcnow() - started > timedelta(seconds=1.2))
    result = p.tick()
    assert [r.id for r in result.crashed] == [run_id] and result.fired == []


def test_second_trigger_while_training_runs_is_skipped(tmp_path: Path) -> None:
    p = project(
        tmp_path,
        retrain="retrain: {on: [schedule], schedule: '0 3 * * *', "
        "training_window: 30d, cooldown: 0s}",
    )
    p.train()
    running = p.store.start_run("tiny", "train", trigger="manual")  # heartbeat fresh
    later = datetime.now(UTC).replace(hour=3, minute=0, second=30) + pd.Timedelta(days=1)
    p.runtime.clock = lambda: later
    first = p.tick()
    assert first.fired == [] and first.trained is None
    assert first.skipped[0]["trigger"] == "schedule"
    assert first.skipped[0]["running_run"] == running
    assert p.tick().skipped  # still running: skipped again, recorded once
    skipped = p.store.list_events("tiny", kinds=["trigger_skipped"])
    assert len(skipped) == 1 and skipped[0].evidence["running_run"] == running
    p.store.update_run(running, stages=[], status="succeeded")
    done = p.tick()
    assert [f.trigger for f in done.fired] == ["schedule"] and done.trained is not None


def test_training_slot_is_exclusive(tmp_path: Path) -> None:
    p = project(tmp_path)
    other = HeldLease(p.store, training_lease_name("tiny"), timedelta(minutes=5))
    assert other.acquire()
    with pytest.raises(StateError, match="already running"):
        p.train()
    other.release()
    assert p.train().version == "1"
    lease = p.store.find_lease(training_lease_name("tiny"))
    assert lease is not None and not lease.live(utcnow())  # released after the run


def test_load_is_retried_with_doubling_backoff(tmp_path: Path) -> None:
    p = project(
        tmp_path,
        retrain=RETRAIN.replace("cooldown: 1h", "cooldown: 1h, retries: 2, backoff: 0.05s"),
    )
    (p.root / "load_failures_left").write_text("2")
    assert p.train().version == "1"
    load = p.store.list_runs("tiny")[0].stages[0]
    assert [r["retry_in"] for r in load["detail"]["retries"]] == [0.05, 0.1]
    assert "warehouse unavailable" in load["detail"]["retries"][0]["error"]

    (p.root / "load_failures_left").write_text("3")
    with pytest.raises(UserCodeError, match="warehouse unavailable"):
        p.train()
    run = p.store.list_runs("tiny")[0]
    assert run.status == "failed" and len(run.stages[0]["detail"]["retries"]) == 2
    assert p.events()[-1].kind == "training_failed"


def test_tick_needs_the_agent_lease(tmp_path: Path) -> None:
    p = project(tmp_path)
    other = HeldLease(p.store, agent_lease_name("tiny"), timedelta(minutes=5), holder="elsewhere")
    assert other.acquire()
    with pytest.raises(StateError, match="elsewhere holds the agent lease"):
        p.tick()
    other.release()
    assert "nothing deployed" in p.tick().notes[0]
    status = p.status()
    lease = status["agent"]["lease"]
    assert lease["live"] is False and lease["token"] == 2  # the tick took it, then let go
