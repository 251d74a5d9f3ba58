"""A hand-made deployment history written through the ops store's own methods at chosen
times (the store's clock is patched), for the DORA metrics and the as-of views. Every
figure the tests expect is computed by hand from the timeline below (hours after T0).

before: v1 trained (data to T0-6d) and promoted blue-green at T0-5d
day 1:  00:00 drift trigger w1 fires; 02:00 v2 trained (data to day 0 20:00) by it;
        03:00 v2 promoted blue-green
day 2:  00:00 performance_degraded on v2; 04:00 rolled back to v1 (v2 failed)
day 3:  00:00 v3 trained (window ending day 2 12:00, no event span); its gate fails
day 4:  00:00 schedule trigger k2 fires; 01:00 v4 trained (data to day 3 12:00) by it;
        02:00 canary of v4 at 10 %; 03:00 advanced to 50 %; 04:00 rolled back (failed)
        23:00 drift on v2 (a late window: v2 no longer serves, not an incident)
day 5:  00:00 drift on v1; 06:00 drift on v1 again
day 6:  00:00 drift trigger w2 fires; 01:00 v5 trained (data to day 5 12:00) by it;
        02:00 canary of v5 at 50 %; 03:00 promoted (passed every step)
        18:00 manual request 12 fires; 20:00 v7 trained (data to day 6 18:00) by it
day 7:  00:00 shadow of v6 (20 % mirrored); 01:00 superseded: v7 promoted blue-green
day 8:  00:00 quality_failed on v7 (still open at the period's end, day 10)

A second model, `other`, is promoted once (day 2 12:00) with no recorded training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from opsloop.store import OpsStore

T0 = datetime(2026, 3, 1, tzinfo=UTC)
MODEL = "m"
OTHER = "other"
# every time the store stamps goes through `UnitOfWork.now` (its `clock`, else `utcnow`)
STORE_CLOCKS = ("unit",)


def at(day: float, hour: float = 0) -> datetime:
    return T0 + timedelta(days=day, hours=hour)


@dataclass
class Clock:
    now: datetime = T0


def patch_store_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    for module in STORE_CLOCKS:
        monkeypatch.setattr(f"opsloop.store.{module}.utcnow", lambda: clock.now)
    return clock


def _trained(
    store: OpsStore, version: str, *, newest: datetime | None, window_end: datetime, trigger: str
) -> None:
    start = window_end - timedelta(days=30)
    store.add_event(
        "trained",
        MODEL,
        version=version,
        evidence={
            "window": f"{start:%Y-%m-%dT%H:%M:%SZ}/{window_end:%Y-%m-%dT%H:%M:%SZ}",
            "event_time": {"min": None, "max": None if newest is None else newest.isoformat()},
            "trigger": trigger,
        },
    )


def _gate(store: OpsStore, version: str, passed: bool) -> None:
    store.record_gate(
        model=MODEL,
        version=version,
        champion_version="1",
        metric="roc_auc",
        policy="non_inferiority",
        margin=0.01,
        floor=None,
        challenger_value=0.8,
        champion_value=0.81,
        passed=passed,
        reasons=[] if passed else ["worse than the champion"],
    )


def _breach(store: OpsStore, kind: str, version: str) -> None:
    store.add_event(kind, MODEL, version=version, summary=kind)


def write_history(store: OpsStore, clock: Clock) -> None:
    def when(moment: datetime, action: Callable[[], object]) -> None:
        clock.now = moment
        action()

    when(
        at(-5, -1), lambda: _trained(store, "1", newest=at(-6), window_end=at(-6), trigger="manual")
    )
    when(at(-5), lambda: store.record_deployment(MODEL, "1", reason="first"))
    # day 1-2: v2 promoted, then rolled back
    when(at(1), lambda: store.try_fire(MODEL, "drift", "w1"))
    when(
        at(1, 2),
        lambda: _trained(store, "2", newest=at(0, 20), window_end=at(1), trigger="drift:w1"),
    )
    when(at(1, 2.5), lambda: _gate(store, "2", True))
    when(at(1, 3), lambda: store.record_deployment(MODEL, "2", reason="gate passed"))
    when(at(2), lambda: _breach(store, "performance_degraded", "2"))
    when(
        at(2, 4),
        lambda: store.record_deployment(
            MODEL,
            "1",
            reason="rollback from version 2",
            event_kind="rolled_back",
            evidence={"from_version": "2", "to_version": "1"},
        ),
    )
    when(at(2, 12), lambda: store.record_deployment(OTHER, "1", reason="first"))
    # day 3: v3's gate fails
    when(at(3), lambda: _trained(store, "3", newest=None, window_end=at(2, 12), trigger="manual"))
    when(at(3, 1), lambda: _gate(store, "3", False))
    # day 4: a canary of v4 rolled back at 50 %
    when(at(4), lambda: store.try_fire(MODEL, "schedule", "k2"))
    when(
        at(4, 1),
        lambda: _trained(store, "4", newest=at(3, 12), window_end=at(4), trigger="schedule:k2"),
    )
    clock.now = at(4, 2)
    canary = _start(store, "canary", "1", "4", [10.0, 50.0, 100.0])
    clock.now = at(4, 3)
    advanced = store.advance_rollout(
        canary, share=50.0, actor="opsloop (rollout)", summary="step 1 passed", analysis={}
    )
    assert advanced is not None
    clock.now = at(4, 4)
    _finish(store, advanced, "rolled_back", "rolled_back", {"from_version": "4", "to_version": "1"})
    # day 5-6: drift on v1, restored by v5's canary promotion
    when(at(5), lambda: _breach(store, "drift_detected", "1"))
    when(at(4, 23), lambda: _breach(store, "drift_detected", "2"))
    when(at(5, 6), lambda: _breach(store, "drift_detected", "1"))
    when(at(6), lambda: store.try_fire(MODEL, "drift", "w2"))
    when(
        at(6, 1),
        lambda: _trained(store, "5", newest=at(5, 12), window_end=at(6), trigger="drift:w2"),
    )
    clock.now = at(6, 2)
    canary = _start(store, "canary", "1", "5", [50.0, 100.0])
    clock.now = at(6, 3)
    _finish(store, canary, "promoted", "promoted", {"analysis": {}}, promote=True)
    when(at(6, 18), lambda: store.try_fire(MODEL, "manual", "12"))
    when(
        at(6, 20),
        lambda: _trained(store, "7", newest=at(6, 18), window_end=at(7), trigger="manual:12"),
    )
    # day 7: a shadow of v6 superseded by v7's blue-green promotion
    clock.now = at(7)
    shadow = _start(store, "shadow", "5", "6", [20.0])
    clock.now = at(7, 1)
    _finish(store, shadow, "aborted", "rollout_aborted", {"superseded_by": "7"})
    store.record_deployment(MODEL, "7", reason="approved")
    # day 8: an open incident
    when(at(8), lambda: _breach(store, "quality_failed", "7"))


def _start(store: OpsStore, strategy: str, stable: str, candidate: str, steps: list[float]):  # type: ignore[no-untyped-def]
    return store.start_rollout(
        MODEL,
        strategy=strategy,
        stable_version=stable,
        candidate_version=candidate,
        steps=steps,
        share=steps[0],
        settings={"bake_seconds": 60},
        actor="opsloop",
        reason="test",
    )


def _finish(store, rollout, status, kind, evidence, *, promote=False) -> None:  # type: ignore[no-untyped-def]
    done = store.finish_rollout(
        rollout,
        status=status,
        actor="opsloop (rollout)",
        summary=status,
        evidence=evidence,
        event_kind=kind,
        promote=promote,
    )
    assert done is not None
