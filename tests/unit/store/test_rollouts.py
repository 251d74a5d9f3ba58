"""Rollouts and serving statistics in the ops store, on every store backend: one running
rollout per model, compare-and-set transitions (one winner among concurrent controllers),
promotion and the deployment in one transaction, statistics summed over replicas."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from opsloop import latency
from opsloop.errors import StateError
from opsloop.store import OpsStore
from opsloop.store.records import ServeStat, utcnow
from store_fixtures import model


def start(store: OpsStore, m: str, **kw):  # type: ignore[no-untyped-def]
    store.record_deployment(m, "1", reason="first")
    args = dict(
        strategy="canary",
        stable_version="1",
        candidate_version="2",
        steps=[10, 50, 100],
        share=10,
        settings={"bake_seconds": 60},
        actor="alice",
        reason="try v2",
    )
    return store.start_rollout(m, **{**args, **kw})


def test_one_running_rollout_and_routing(store: OpsStore) -> None:
    m = model()
    assert store.find_routing(m) == (None, None)
    r = start(store, m)
    assert (r.step, r.share, r.status, r.steps) == (0, 10, "running", [10, 50, 100])
    with pytest.raises(StateError, match="already running"):
        store.start_rollout(
            m,
            strategy="shadow",
            stable_version="1",
            candidate_version="3",
            steps=[100],
            share=100,
            settings={},
            actor="bob",
            reason="",
        )
    deployment, running = store.find_routing(m)
    assert deployment is not None and deployment.version == "1"
    assert running is not None and running.id == r.id and running.candidate_version == "2"
    event = store.list_events(m)[-1]
    assert event.kind == "rollout_started" and event.evidence["steps"] == [10, 50, 100]


def test_transitions_are_compare_and_set(store: OpsStore) -> None:
    m = model()
    r = start(store, m)
    moved = store.advance_rollout(r, share=50, actor="c1", summary="step", analysis={"x": 1})
    assert moved is not None and (moved.step, moved.share) == (1, 50)
    assert moved.step_started >= r.step_started and moved.analysis == {"x": 1}
    # a second controller acting on the stale row loses
    assert store.advance_rollout(r, share=50, actor="c2", summary="step", analysis={}) is None
    assert (
        store.finish_rollout(
            r, status="rolled_back", actor="c2", summary="x", evidence={}, event_kind="rolled_back"
        )
        is None
    )
    done = store.finish_rollout(
        moved,
        status="promoted",
        actor="c1",
        summary="all steps",
        evidence={"analysis": {"verdict": "pass"}},
        event_kind="promoted",
        promote=True,
    )
    assert done is not None and done.status == "promoted" and done.finished is not None
    deployment, running = store.find_routing(m)
    assert running is None and deployment is not None and deployment.version == "2"
    assert deployment.previous_version == "1" and deployment.strategy == "canary"
    kinds = [e.kind for e in store.list_events(m)]
    assert kinds == ["promoted", "rollout_started", "rollout_advanced", "promoted"]
    assert store.list_events(m)[-1].evidence["rollout"] == r.id
    # a finished rollout frees the model for the next one
    assert start(store, m, stable_version="2", candidate_version="3").running


def test_abort_keeps_the_deployment(store: OpsStore) -> None:
    m = model()
    r = start(store, m)
    done = store.finish_rollout(
        r, status="aborted", actor="bob", summary="stop", evidence={}, event_kind="rollout_aborted"
    )
    assert done is not None and done.share == 0
    deployment, running = store.find_routing(m)
    assert running is None and deployment is not None and deployment.version == "1"
    assert deployment.revision == 1
    assert store.find_rollout(m).status == "aborted"  # type: ignore[union-attr]


def test_serve_stats_sum_over_replicas_and_time(store: OpsStore) -> None:
    m = model()
    since = utcnow() - timedelta(seconds=1)
    h1, h2 = latency.empty(), latency.empty()
    h1[latency.bucket(0.001)] = 3
    h2[latency.bucket(0.004)] = 2
    store.add_serve_stats(
        m,
        "production",
        "a:1",
        [ServeStat("2", "candidate", 3, 1, h1), ServeStat("1", "stable", 30, 0, h1)],
    )
    store.add_serve_stats(m, "production", "b:2", [ServeStat("2", "candidate", 2, 0, h2)])
    store.add_serve_stats(m, "production", "b:2", [])
    total = store.sum_serve_stats(m, since)
    cand = total[("2", "candidate")]
    assert (cand.requests, cand.errors, sum(cand.latency)) == (5, 1, 5)
    assert latency.quantile(cand.latency, 0.99) == pytest.approx(
        latency.EDGES[latency.bucket(0.004)]
    )
    assert total[("1", "stable")].requests == 30
    assert store.sum_serve_stats(m, utcnow() + timedelta(seconds=5)) == {}


def test_concurrent_controllers_apply_a_transition_once(shared_store: OpsStore) -> None:
    m = model()
    r = start(shared_store, m)
    results: list[object] = []
    barrier = threading.Barrier(6)

    def controller(i: int) -> None:
        barrier.wait()
        results.append(
            shared_store.advance_rollout(r, share=50, actor=f"c{i}", summary="step", analysis={})
        )

    threads = [threading.Thread(target=controller, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(x is not None for x in results) == 1
    assert [e.kind for e in shared_store.list_events(m)].count("rollout_advanced") == 1
