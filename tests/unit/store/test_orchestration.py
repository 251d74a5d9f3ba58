"""Leases, cursors, new-data arrivals and trigger firings on every store backend: one holder
per lease, take-over only after expiry with a new fencing token, cursors as compare-and-set,
arrivals and firings insert-once."""

from __future__ import annotations

import threading
from datetime import timedelta

from opsloop.store import OpsStore
from opsloop.store.records import utcnow
from store_fixtures import model

LONG = timedelta(minutes=5)


def test_lease_one_holder_renew_release(store: OpsStore) -> None:
    m = model()
    name = f"agent:{m}"
    a = store.acquire_lease(name, "a", LONG, model=m)
    assert a is not None and (a.holder, a.token) == ("a", 1) and a.live(utcnow())
    assert store.acquire_lease(name, "b", LONG, model=m) is None  # a's is live
    renewed = store.acquire_lease(name, "a", LONG, model=m)
    assert renewed is not None and renewed.token == 1 and renewed.expires >= a.expires
    assert store.renew_lease(renewed, LONG) is not None
    assert store.release_lease(renewed)
    b = store.acquire_lease(name, "b", LONG, model=m)  # released: free at once
    assert b is not None and b.token == 2
    # the old holder is fenced off: its renewals and releases no longer land
    assert store.renew_lease(renewed, LONG) is None and not store.release_lease(renewed)
    found = store.find_lease(name)
    assert found is not None and (found.holder, found.token) == ("b", 2)
    events = store.list_events(m, kinds=["agent_lease"])
    assert [(e.evidence["action"], e.evidence["holder"]) for e in events] == [
        ("acquired", "a"),
        ("taken_over", "b"),
    ]
    assert events[1].evidence["previous_holder"] == "a" and events[1].evidence["token"] == 2


def test_expired_lease_is_taken_over_without_events_when_no_model(store: OpsStore) -> None:
    name = f"train:{model()}"
    a = store.acquire_lease(name, "a", timedelta(seconds=-1))  # already expired
    assert a is not None
    b = store.acquire_lease(name, "b", LONG)
    assert b is not None and b.token == 2
    assert store.renew_lease(a, LONG) is None


def test_cursor_compare_and_set_and_events_after(store: OpsStore) -> None:
    m = model()
    name = f"notify:{m}:x"
    assert store.find_cursor(name) is None
    assert store.init_cursor(name, 5) == 5 and store.init_cursor(name, 9) == 5
    assert store.advance_cursor(name, 5, 7) and not store.advance_cursor(name, 5, 8)
    assert store.find_cursor(name) == 7
    ids = [store.add_event("promoted" if i % 2 else "monitored", m).id for i in range(5)]
    after = store.list_events_after(m, ids[0], kinds=["promoted"], limit=1)
    assert [e.id for e in after] == [ids[1]]  # oldest first, not the newest
    assert store.last_event_id() >= ids[-1]


def test_arrivals_are_recorded_once_per_sequence(store: OpsStore) -> None:
    m = model()
    t0 = utcnow()
    assert store.add_arrival(m, source="S", seq=1, ts=t0, rows=10, payload={"rows": 10})
    assert not store.add_arrival(m, source="S", seq=1, ts=t0, rows=10, payload={})
    assert store.add_arrival(
        m,
        source="S",
        seq=2,
        ts=t0 + timedelta(seconds=2),
        rows=5,
        payload={"rows": 5, "file": "b.parquet"},
    )
    assert [a.rows for a in store.list_arrivals(m)] == [10, 5]
    later = store.list_arrivals(m, since=t0 + timedelta(seconds=1))
    assert [(a.seq, a.payload.get("file")) for a in later] == [(2, "b.parquet")]


def test_an_arrival_and_its_event_are_written_together(store: OpsStore) -> None:
    m = model()
    event = ("labels_added", "7 labels added", {"rows": 7})
    big = 2**60 - 1  # inbox files use 60 bits of their content hash
    assert store.add_arrival(
        m, source="labels", seq=big, ts=utcnow(), rows=7, payload={}, event=event, actor="alice"
    )
    assert not store.add_arrival(
        m, source="labels", seq=big, ts=utcnow(), rows=7, payload={}, event=event
    )
    assert store.add_arrival(m, source="S", seq=big, ts=utcnow(), rows=3, payload={})
    added = store.list_events(m, kinds=["labels_added"])
    assert [(e.actor, e.evidence) for e in added] == [("alice", {"rows": 7})]
    assert [a.rows for a in store.list_arrivals(m, source="labels")] == [7]
    assert [a.seq for a in store.list_arrivals(m, source="S")] == [big]


def test_concurrent_contenders_one_wins(shared_store: OpsStore) -> None:
    """Six contenders race for a free lease, then for the take-over of an expired one."""
    m = model()
    name = f"agent:{m}"
    for round_ in range(2):
        won: list[str] = []
        barrier = threading.Barrier(6)

        def contend(
            i: int, round_: int = round_, barrier: threading.Barrier = barrier, won: list[str] = won
        ) -> None:
            barrier.wait()
            got = shared_store.acquire_lease(name, f"r{round_}-c{i}", LONG, model=m)
            if got is not None:
                won.append(got.holder)

        threads = [threading.Thread(target=contend, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 1, won
        held = shared_store.find_lease(name)
        assert held is not None  # let it expire (its holder died) for the next round
        assert shared_store.renew_lease(held, timedelta(seconds=-1)) is not None
    lease = shared_store.find_lease(name)
    assert lease is not None and lease.token == 2 and lease.holder.startswith("r1-")
    assert len(shared_store.list_events(m, kinds=["agent_lease"])) == 2


def test_trigger_fires_once_per_key(store: OpsStore) -> None:
    m = model()
    assert store.try_fire(m, "drift", "w1", {"share": 0.5}) is not None
    assert store.try_fire(m, "drift", "w1") is None
    assert store.try_fire(m, "performance", "w1") is not None
    assert store.try_fire(m, "drift", "w2") is not None
    assert [f.key for f in store.list_firings(m)] == ["w1", "w1", "w2"]
    assert len(store.list_events(m, kinds=["trigger_fired"])) == 3


def test_trigger_fires_once_under_concurrency(shared_store: OpsStore) -> None:
    store = shared_store
    m = model()
    results: list[object] = []

    def fire() -> None:
        results.append(store.try_fire(m, "drift", "same-window"))

    threads = [threading.Thread(target=fire) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is not None for r in results) == 1
