"""`Project(clock=...)`: the runtime and the ops store read one clock, so what the agent
compares (a firing's time with now for the cooldown, a heartbeat with now for a crash, a
monitor result's time with the schedule) stays on one time line in a replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opsloop.engines.memory import MemoryEngine
from opsloop.orchestrate.agent import _in_cooldown
from opsloop.orchestrate.recovery import busy_training, recover_crashed
from opsloop.project import Project
from opsloop.registry.memory import MemoryRegistry
from opsloop.store import OpsStore

T0 = datetime(2025, 6, 30, 4, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _project(root: object, clock: Clock | None) -> Project:
    return Project(
        root,  # type: ignore[arg-type]
        registry=MemoryRegistry(),
        store=OpsStore("sqlite://"),
        engine=MemoryEngine(),
        actor="tester",
        clock=clock,
    )


def test_the_runtime_and_the_store_read_the_projects_clock(tiny_project) -> None:
    clock = Clock(T0)
    p = _project(tiny_project, clock)
    assert p.runtime.now() == T0 and p.store.now() == T0
    firing = p.store.try_fire(p.name, "drift", "w1", {"why": "test"})
    assert firing is not None and firing.ts == T0
    clock.now = T0 + timedelta(days=1)
    run = p.store.start_run(p.name, "train", trigger="manual")
    started = next(r for r in p.store.list_running_runs(p.name) if r.id == run)
    assert started.started == T0 + timedelta(days=1)
    events = p.store.list_events(p.name)
    assert events and all(e.ts in (T0, T0 + timedelta(days=1)) for e in events)


def test_without_a_clock_both_read_the_wall_clock(tiny_project) -> None:
    p = _project(tiny_project, None)
    before = datetime.now(UTC)
    firing = p.store.try_fire(p.name, "drift", "w1")
    after = datetime.now(UTC)
    assert firing is not None and before <= firing.ts <= after
    assert before <= p.runtime.now() <= datetime.now(UTC)


def test_the_cooldown_and_crash_recovery_follow_the_clock(tiny_project) -> None:
    clock = Clock(T0)
    p = _project(tiny_project, clock)
    rt = p.runtime
    cooldown = rt.config.retrain.cooldown
    assert p.store.try_fire(p.name, "drift", "w1") is not None
    assert _in_cooldown(rt, clock()) == T0  # just fired
    clock.now = T0 + cooldown + timedelta(seconds=1)
    assert _in_cooldown(rt, clock()) is None  # a day later on the same clock

    run = p.store.start_run(p.name, "train", trigger="manual")
    assert busy_training(rt) is not None and recover_crashed(rt)[0] == []
    clock.now += rt.config.agent.heartbeat_timeout + timedelta(seconds=1)
    assert busy_training(rt) is None
    crashed, _ = recover_crashed(rt)
    assert [r.id for r in crashed] == [run]
