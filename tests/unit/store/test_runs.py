"""Pipeline runs on every store backend: stages and status, heartbeats from threads, stale
runs failed once."""

from __future__ import annotations

import threading
from datetime import timedelta

from opsloop.store import OpsStore
from opsloop.store.records import utcnow
from store_fixtures import model


def test_pipeline_runs(store: OpsStore) -> None:
    m = model()
    run_id = store.start_run(m, "train", trigger="manual")
    store.update_run(run_id, stages=[{"name": "load", "status": "succeeded"}])
    (run,) = store.list_runs(m)
    assert run.status == "running" and run.finished is None
    store.update_run(run_id, stages=[], status="failed", error="boom")
    (run,) = store.list_runs(m)
    assert (run.status, run.error) == ("failed", "boom") and run.finished is not None


def test_stale_runs_are_failed_once_and_fresh_ones_kept(store: OpsStore) -> None:
    m = model()
    stale = store.start_run(m, "train", trigger="manual")
    store.update_run(
        stale,
        stages=[{"name": "load", "status": "succeeded"}, {"name": "fit", "status": "running"}],
    )
    fresh = store.start_run(m, "train", trigger="drift:x")
    cutoff = utcnow() + timedelta(seconds=1)  # stale's heartbeat is before the cutoff ...
    assert store.beat_run(fresh)
    marked = store.fail_stale_runs(m, cutoff)
    assert {r.id for r in marked} == {stale, fresh}  # ... and so is fresh's, here
    runs = {r.id: r for r in store.list_runs(m)}
    assert runs[stale].status == "failed" and runs[stale].finished is not None
    assert (
        runs[stale].error is not None
        and runs[stale].error.startswith("crashed: no heartbeat since")
        and "(in stage fit)" in runs[stale].error
    )
    assert runs[stale].stages[-1]["status"] == "failed"
    assert store.fail_stale_runs(m, cutoff) == []  # once
    assert not store.beat_run(stale)  # a failed run no longer beats ...
    store.update_run(stale, stages=[], status="succeeded")  # ... nor finishes late
    assert store.list_runs(m)[-1].status == "failed"
    events = store.list_events(m, kinds=["training_failed"])
    assert len(events) == 2 and events[0].evidence["crashed"] is True
    assert events[0].evidence["stage"] == "fit"

    alive = store.start_run(m, "train")
    assert store.fail_stale_runs(m, utcnow() - timedelta(minutes=1)) == []
    assert [r.id for r in store.list_running_runs(m, "train")] == [alive]


def test_heartbeats_and_stage_updates_from_threads_do_not_collide(store: OpsStore) -> None:
    """What a heartbeat thread does beside its pipeline (the in-memory store is a single
    shared connection: threads must take turns on it)."""
    m = model()
    run = store.start_run(m, "train")
    errors: list[BaseException] = []

    def beat() -> None:
        for _ in range(100):
            try:
                store.beat_run(run)
                store.find_lease(f"train:{m}")
            except BaseException as exc:  # collected for the assertion
                errors.append(exc)

    threads = [threading.Thread(target=beat) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(100):
        store.update_run(run, stages=[{"name": "fit", "status": "running", "i": i}])
    for t in threads:
        t.join()
    assert errors == []
    assert store.list_runs(m)[0].stages[0]["i"] == 99
