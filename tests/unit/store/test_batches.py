"""Batch runs and published outputs on every store backend: a run and its event in one
transaction, publication revisions, the current output, racing publishers."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from opsloop.errors import NotFoundError, StateError
from opsloop.store import OpsStore
from opsloop.store.records import NewBatchRun, NewEvent, utcnow
from store_fixtures import model


def new_run(m: str, run_id: str, *, status: str = "succeeded", rows: int = 10) -> NewBatchRun:
    now = utcnow()
    return NewBatchRun(
        run_id=run_id,
        model=m,
        version="3",
        status=status,
        started=now - timedelta(seconds=2),
        finished=now,
        rows=rows,
        input="data/*.parquet",
        input_fingerprint="ab" * 8,
        output=None if status == "failed" else f"/out/run={run_id}",
        seconds=2.0,
        error="boom" if status == "failed" else None,
        details={"batches": [1, 2], "path": "compiled"},
    )


def test_runs_are_recorded_with_their_events(store: OpsStore) -> None:
    m = model()
    event = NewEvent("batch_predicted", m, "3", "10 rows", {"rows": 10})
    run = store.record_batch_run(new_run(m, "r1"), [event])
    store.record_batch_run(new_run(m, "r2", status="failed"))
    assert run.rows_per_second == 5.0 and run.details["batches"] == [1, 2]
    runs = store.list_batch_runs(m)
    assert [r.run_id for r in runs] == ["r2", "r1"]
    assert runs[1] == run and runs[1].started.tzinfo is not None
    assert [r.run_id for r in store.list_batch_runs(m, status="succeeded")] == ["r1"]
    assert store.get_batch_run(m, "r1") == run and store.find_batch_run(m, "x") is None
    with pytest.raises(NotFoundError, match="no batch run 'x'"):
        store.get_batch_run(m, "x")
    (ev,) = store.list_events(m, kinds=["batch_predicted"])
    assert ev.evidence == {"id": run.id, "rows": 10} and ev.version == "3"


def test_publications_move_the_current_output(store: OpsStore) -> None:
    m = model()
    for run_id in ("a", "b"):
        store.record_batch_run(new_run(m, run_id))
    store.record_batch_run(new_run(m, "bad", status="failed"))
    assert store.find_published_batch(m) is None
    first = store.publish_batch(m, "a", actor="ann")
    second = store.publish_batch(m, "b", reason="nightly")
    back = store.publish_batch(m, "a", kind="rolled_back", actor="bob")
    assert (first.revision, second.revision, back.revision) == (1, 2, 3)
    assert (second.previous_run_id, back.previous_run_id) == ("a", "b")
    assert store.find_published_batch(m) == back
    assert [p.run_id for p in store.list_batch_publications(m)] == ["a", "b", "a"]
    kinds = [e.kind for e in store.list_events(m, kinds=["batch_published", "batch_rolled_back"])]
    assert kinds == ["batch_published", "batch_published", "batch_rolled_back"]
    with pytest.raises(StateError, match="has no output to publish"):
        store.publish_batch(m, "bad")
    with pytest.raises(NotFoundError):
        store.publish_batch(m, "nope")


def test_racing_publishers_each_get_one_revision(shared_store: OpsStore) -> None:
    m = model()
    for i in range(6):
        shared_store.record_batch_run(new_run(m, f"r{i}"))
    outcomes: list[object] = []

    def publish(i: int) -> None:
        try:
            outcomes.append(shared_store.publish_batch(m, f"r{i}"))
        except StateError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    revisions = [p.revision for p in shared_store.list_batch_publications(m)]
    assert revisions == list(range(1, len(revisions) + 1))  # no gap, no duplicate
    published = [o for o in outcomes if not isinstance(o, StateError)]
    assert len(published) == len(revisions) >= 1
