"""The SQLAlchemy-free reader (`opsloop.store.reader`) answers every read of the `StoreReads`
port exactly as `OpsStore` does, on a SQLite file and on PostgreSQL; and it declines the
databases `OpsStore` must open (new, in memory, not migrated)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from monitor_fixtures import store_window
from opsloop.store import OpsStore
from opsloop.store import schema as t
from opsloop.store.reader import TABLES, StoreReader, open_reader
from opsloop.store.records import MonitorResult, NewBatchRun, NewEvent, ServeStat
from store_fixtures import POSTGRES, model

T0 = datetime(2026, 5, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", POSTGRES])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ops.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def pair(url: str) -> Iterator[tuple[OpsStore, StoreReader]]:
    store = OpsStore(url)
    reader = open_reader(url)
    assert reader is not None
    yield store, reader
    reader.close()
    store.close()


def fill(store: OpsStore, m: str) -> None:
    """One of every row the read side shows, with JSON, booleans, nulls and timestamps."""
    store.record_deployment(m, "1", reason="first")
    store.record_deployment(m, "2", reason="second", evidence={"nested": {"a": [1, 2.5]}})
    store.record_deployment(m, "9", env="staging", reason="other env")
    for version, passed in (("2", True), ("3", False)):
        store.record_gate(
            model=m,
            version=version,
            champion_version="1",
            metric="roc_auc",
            policy="non_inferiority",
            margin=0.005,
            floor=None,
            challenger_value=0.8,
            champion_value=0.79,
            passed=passed,
            reasons=["ok" if passed else "worse"],
            evidence={"report": {"metric": "roc_auc"}, "artifacts": {"a.html": "x"}},
        )
    store.set_approval(m, "3", "pending", comment="look")
    store.set_approval(m, "4", "pending")
    store.set_approval(m, "4", "rejected", actor="ann", comment="no")
    rollout = store.start_rollout(
        m,
        strategy="canary",
        stable_version="1",
        candidate_version="2",
        steps=[10.0, 50.0, 100.0],
        share=10.0,
        settings={"bake": 60},
        actor="bob",
        reason="try",
    )
    store.save_analysis(rollout, {"verdict": "pass", "checks": [{"name": "errors"}]})
    for hour, drifted in ((1, False), (3, True), (2, False)):
        store_window(
            store,
            model=m,
            version="1",
            window_start=T0 + timedelta(hours=hour),
            window_end=T0 + timedelta(hours=hour + 1),
            n_rows=10,
            n_labelled=2,
            drift_detected=drifted,
            drift_share=0.5 if drifted else 0.0,
            performance_metric="roc_auc",
            performance_value=None if hour == 2 else 0.7,
            performance_degraded=False,
            report_path=None,
            summary={"hour": hour, "features": [{"name": "x", "drifted": drifted}]},
        )
    with store.engine.begin() as conn:  # a result stored before digests existed
        c = t.monitor_results.c
        first = conn.execute(sa.select(sa.func.min(c.id)).where(c.model == m)).scalar()
        conn.execute(t.monitor_results.update().where(c.id == first).values(digest=None))
    done = store.start_run(m, "train", trigger="manual")
    store.update_run(done, stages=[{"name": "load", "status": "ok"}], status="succeeded")
    store.start_run(m, "train", trigger="drift:k")
    store.start_run(m, "monitor")
    store.try_fire(m, "drift", "k", {"share": 0.5})
    store.try_fire(m, "manual", "7")
    store.acquire_lease(f"agent:{m}", "host:1:a", timedelta(minutes=5), model=m)
    for seq, source in ((1, "labels"), (2, "labels"), (3, "stream")):
        store.add_arrival(
            m,
            source=source,
            seq=seq,
            ts=T0 + timedelta(minutes=seq),
            rows=seq * 10,
            payload={"seq": seq},
            event=("labels_added", f"{seq}", {"rows": seq}) if source == "labels" else None,
        )
    store.add_event("retrain_requested", m, summary="please", evidence={"reason": None})
    for replica, route, version in (
        ("a:1", "stable", "1"),
        ("a:1", "canary", "2"),
        ("b:2", "stable", "1"),
    ):
        store.add_serve_stats(m, "production", replica, [ServeStat(version, route, 3, 0, [3])])
    store.add_serve_stats(m, "production", "a:1", [ServeStat("2", "stable", 1, 0, [1])])
    store.add_serve_stats(m, "staging", "c:3", [ServeStat("9", "stable", 1, 0, [1])])
    for run_id, status in (("b1", "succeeded"), ("b2", "failed"), ("b3", "succeeded")):
        store.record_batch_run(
            NewBatchRun(
                run_id=run_id,
                model=m,
                version="2",
                status=status,
                started=T0,
                finished=T0 + timedelta(seconds=3),
                rows=100,
                input="in/*.parquet",
                input_fingerprint="f" * 16,
                output=None if status == "failed" else f"/o/run={run_id}",
                seconds=3.0,
                error="boom" if status == "failed" else None,
                details={"path": "compiled", "batches": [1.5]},
            )
        )
    store.publish_batch(m, "b1")
    store.publish_batch(m, "b3", actor="ann", reason="nightly")


READS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("find_deployment", (), {}),
    ("find_deployment", (), {"env": "staging"}),
    ("find_deployment", (), {"env": "none"}),
    ("find_gate", ("2",), {}),
    ("find_gate", ("3",), {}),
    ("find_gate", ("8",), {}),
    ("find_approval", ("3",), {}),
    ("find_approval", ("4",), {}),
    ("list_pending", (), {}),
    ("find_last_monitor", (), {}),
    ("list_monitor_windows", (), {}),
    ("list_monitor_windows", (), {"digests": True}),
    ("list_monitor_windows", (), {"version": "1", "limit": 2}),
    ("list_monitor_windows", (), {"end_before": T0 + timedelta(hours=3)}),
    ("list_monitor_windows", (), {"start": T0 + timedelta(hours=2)}),
    ("list_monitor_days", (), {}),
    ("list_monitor_days", (), {"version": "1", "limit": 2}),
    ("list_monitor_days", (), {"end_before": T0 + timedelta(hours=3)}),
    ("find_rollout", (), {}),
    ("list_runs", (), {}),
    ("list_runs", (), {"limit": 1}),
    ("list_running_runs", (), {}),
    ("list_running_runs", (), {"pipeline": "monitor"}),
    ("list_arrivals", (), {}),
    ("list_arrivals", (), {"source": "labels"}),
    ("list_arrivals", (), {"since": T0 + timedelta(minutes=2)}),
    ("list_firings", (), {}),
    ("list_batch_runs", (), {}),
    ("list_batch_runs", (), {"limit": 1, "status": "failed"}),
    ("find_published_batch", (), {}),
    ("list_batch_publications", (), {}),
    ("find_batch_run", ("b2",), {}),
    ("find_batch_run", ("b3",), {}),
    ("list_events", (), {}),
    ("list_events", (), {"kinds": ["promoted", "labels_added"], "limit": 3}),
    ("list_events", (), {"after_id": 3}),
    ("list_events", (), {"actor": "opsloop"}),
    ("list_events", (), {"since": T0 - timedelta(days=1), "until": T0 + timedelta(days=3650)}),
    ("list_events", (), {"before_id": "third", "limit": 2}),  # the model's third event
    ("find_monitor", ("first",), {}),  # the model's first monitor result
    ("list_deployments", (), {}),
    ("list_serving", (), {"since": T0}),
    ("list_serving", (), {"env": "staging", "since": T0}),
]


@pytest.mark.parametrize(("method", "args", "kwargs"), READS, ids=lambda x: str(x))
def test_reader_reads_what_the_store_reads(
    pair: tuple[OpsStore, StoreReader],
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    store, reader = pair
    m = model()
    fill(store, m)
    if kwargs.get("before_id") == "third":  # ids are shared by every model in the database
        kwargs = {**kwargs, "before_id": store.list_events(m)[2].id}
    if args == ("first",):
        args = (store.list_monitor(m)[0].id,)
    expected = getattr(store, method)(m, *args, **kwargs)
    got = getattr(reader, method)(m, *args, **kwargs)
    assert got == expected
    assert (expected is None) == (kwargs.get("env") == "none" or args == ("8",))
    if isinstance(expected, list):
        assert expected, "fill() writes rows for every read"
        assert [r.to_dict() for r in got] == [r.to_dict() for r in expected]
    elif expected is not None:  # the same time zones and JSON, not only equal values
        assert got.to_dict() == expected.to_dict()


def test_reader_reads_leases_and_all_models_events(pair: tuple[OpsStore, StoreReader]) -> None:
    store, reader = pair
    m = model()
    fill(store, m)
    assert reader.find_lease(f"agent:{m}") == store.find_lease(f"agent:{m}") is not None
    assert reader.find_lease("nobody") is None
    assert reader.list_events(limit=5) == store.list_events(limit=5)


def test_reader_reads_history_by_time_as_the_store_does(
    pair: tuple[OpsStore, StoreReader],
) -> None:
    """The reads of the DORA metrics and the as-of views: deployments and rollouts at an
    instant, events between two instants, the deployed models."""
    store, reader = pair
    m = model()
    fill(store, m)
    deployments = store.list_deployments(m)
    events = store.list_events(m)
    rollout = store.find_rollout(m)
    assert rollout is not None and len(deployments) == 2 and len(events) > 4
    instants = [
        deployments[0].ts - timedelta(seconds=1),
        deployments[0].ts,
        deployments[1].ts,
        rollout.started,
        datetime.now(UTC) + timedelta(days=1),
    ]
    for instant in instants:
        assert reader.find_deployment(m, at=instant) == store.find_deployment(m, at=instant)
        assert reader.find_rollout(m, at=instant) == store.find_rollout(m, at=instant)
    assert store.find_deployment(m, at=instants[0]) is None
    assert store.find_deployment(m, at=instants[1]) == deployments[0]
    assert store.find_rollout(m, at=instants[3]) == rollout
    middle = events[len(events) // 2].ts
    for window in ({"since": middle}, {"until": middle}, {"since": middle, "until": middle}):
        got = store.list_events(m, **window)
        assert reader.list_events(m, **window) == got
        assert 0 < len(got) < len(events)
    kinds = {"kinds": ["promoted"], "since": deployments[1].ts}
    assert [e.version for e in reader.list_events(m, **kinds)] == ["2", "9"]  # + staging
    first, last = events[0].ts, events[-1].ts + timedelta(seconds=1)
    for kind, version in (("promoted", None), ("promoted", "9"), ("rolled_back", None)):
        args = {"since": first, "before": last, "version": version}
        assert reader.find_first_event(m, kind, **args) == store.find_first_event(m, kind, **args)
    found = store.find_first_event(m, "promoted", since=first, before=last, version="2")
    assert found is not None and found.version == "2"
    assert store.find_first_event(m, "promoted", since=first, before=found.ts) is not None
    assert store.find_first_event(m, "promoted", since=last, before=last) is None
    assert reader.list_deployed_models() == store.list_deployed_models()
    assert m in store.list_deployed_models()


def test_records_have_their_tables_columns() -> None:
    """The reader selects a record's fields by name: each is a column of its table."""
    for record, table in TABLES.items():
        columns = {c.name for c in t.metadata.tables[table].columns} - {"digest"}
        assert {f.name for f in dataclasses.fields(record)} == columns, table
    assert "digest" in t.metadata.tables[TABLES[MonitorResult]].columns


def test_no_reader_for_a_store_that_opsstore_must_open(tmp_path: Path) -> None:
    assert open_reader("sqlite://") is None
    assert open_reader("sqlite:///:memory:") is None
    assert open_reader(f"sqlite:///{tmp_path / 'new.db'}") is None  # OpsStore creates it
    assert not (tmp_path / "new.db").exists()
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    store = OpsStore(url)
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0001'"))
    assert open_reader(url) is None  # an older schema: OpsStore upgrades it
    store.close()
    assert open_reader("mysql://x/y") is None


@pytest.mark.postgres
def test_reader_reconnects_to_postgresql(postgres_url: str) -> None:
    """A long-lived `Project` keeps its reader: a closed connection is opened again."""
    store = OpsStore(postgres_url)
    reader = open_reader(postgres_url)
    assert reader is not None
    m = model()
    store.record_deployment(m, "1", reason="first")
    reader._conn.close()
    assert reader.find_deployment(m) == store.find_deployment(m)
    reader.close()
    store.close()


def test_reader_adds_an_arrival_with_its_event_as_the_store_does(
    pair: tuple[OpsStore, StoreReader],
) -> None:
    """The reader's one write (`opsloop labels add`): the same rows as `OpsStore`, the
    event in the same transaction, a redelivery refused with nothing written."""
    store, reader = pair
    by_store, by_reader = model(), model()
    ts = T0 + timedelta(seconds=1.5)
    evidence = {
        "rows": 2,
        "source": "postgresql://ann:secret@db/x",
        "when": T0,
        "nan": 1e400 - 1e400,
    }
    for writer, m in ((store, by_store), (reader, by_reader)):
        args: dict[str, Any] = {"source": "labels", "seq": 2**59 + 7, "ts": ts, "rows": 2}
        event = ("labels_added", "2 labels added from postgresql://ann:secret@db/x", evidence)
        assert writer.add_arrival(m, **args, payload=evidence, event=event, actor="ann")
        assert not writer.add_arrival(m, **args, payload={}, event=event)  # redelivered

    def written(m: str) -> tuple[list[Any], list[Any]]:
        arrivals = [
            {**dataclasses.asdict(a), "id": None, "model": None, "recorded": None}
            for a in store.list_arrivals(m)
        ]
        events = [
            {**dataclasses.asdict(e), "id": None, "model": None, "ts": None}
            for e in store.list_events(m)
        ]
        return arrivals, events

    assert written(by_reader) == written(by_store)
    arrivals, events = written(by_reader)
    assert len(arrivals) == 1 and len(events) == 1
    assert arrivals[0]["ts"] == ts and "secret" not in str(events)
    # and the reader reads back what it wrote, as the store does
    assert reader.list_arrivals(by_reader) == store.list_arrivals(by_reader)
    assert reader.list_events(by_reader) == store.list_events(by_reader)


def batch_run(m: str, run_id: str, **changes: Any) -> NewBatchRun:
    run = NewBatchRun(
        run_id=run_id,
        model=m,
        version="3",
        status="succeeded",
        started=T0 + timedelta(microseconds=7),
        finished=T0 + timedelta(seconds=12.25),
        rows=2**40 + 1,
        input="/in/*.parquet",
        input_fingerprint="a" * 64,
        output=f"/o/run={run_id}",
        seconds=12.25,
        details={"renames": [["/o/.run=x.tmp", "/o/run=x"]], "nan": 1e400 - 1e400, "at": T0},
    )
    return dataclasses.replace(run, **changes)


def test_reader_records_a_batch_run_with_its_events_as_the_store_does(
    pair: tuple[OpsStore, StoreReader],
) -> None:
    """The reader's second write (`opsloop predict`'s commit point, store/light.py): the
    same run row and events as `OpsStore.record_batch_run` (each event's evidence led by
    the run's id, credentials redacted, JSON as strict as the store's), read back alike."""
    store, reader = pair
    by_store, by_reader = model(), model()
    returned = []
    for writer, m in ((store, by_store), (reader, by_reader)):
        events = [
            NewEvent(
                "batch_predicted",
                m,
                "3",
                "scored from postgresql://ann:secret@db/x",
                {"rows": 2, "uri": "postgresql://ann:secret@db/x", "when": T0},
                "ann",
            )
        ]
        recorded = writer.record_batch_run(batch_run(m, "r1"), events)
        found = store.find_batch_run(m, "r1")
        assert found is not None and recorded.id == found.id
        assert reader.find_batch_run(m, "r1") == found
        failed = batch_run(m, "r2", status="failed", output=None, error="boom", details={})
        assert writer.record_batch_run(failed) == store.find_batch_run(m, "r2")
        returned.append({**dataclasses.asdict(recorded), "id": None, "model": None})
    assert returned[0] == returned[1]  # what each returns: the run as given, with its id

    def written(m: str) -> tuple[list[Any], list[Any]]:
        runs = [
            {**dataclasses.asdict(r), "id": None, "model": None} for r in store.list_batch_runs(m)
        ]
        events = [
            {
                **dataclasses.asdict(e),
                "id": None,
                "model": None,
                "ts": None,
                "evidence": {**e.evidence, "id": None},
            }
            for e in store.list_events(m)
        ]
        return runs, events

    assert written(by_reader) == written(by_store)
    runs, events = written(by_reader)
    assert [r["status"] for r in runs] == ["failed", "succeeded"] and len(events) == 1
    assert runs[1]["details"]["nan"] is None and runs[1]["rows"] == 2**40 + 1
    assert "secret" not in str(events)
    run_id = store.find_batch_run(by_reader, "r1")
    assert run_id is not None and store.list_events(by_reader)[0].evidence["id"] == run_id.id
    assert reader.list_batch_runs(by_reader) == store.list_batch_runs(by_reader)
    assert reader.list_events(by_reader) == store.list_events(by_reader)


def test_a_batch_run_record_is_all_or_nothing_on_the_reader(
    pair: tuple[OpsStore, StoreReader],
) -> None:
    """An event the store refuses (an unknown kind) or a run id recorded twice: nothing of
    the transaction is written, as with `OpsStore`."""
    store, reader = pair
    m = model()
    with pytest.raises(ValueError, match="EVENT_KINDS"):
        reader.record_batch_run(batch_run(m, "r1"), [NewEvent("no_such_kind", m, "3", "x")])
    assert store.list_batch_runs(m) == [] and store.list_events(m) == []
    reader.record_batch_run(batch_run(m, "r1"))
    again = [NewEvent("batch_predicted", m, "3", "again")]
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        reader.record_batch_run(batch_run(m, "r1"), again)
    assert len(store.list_batch_runs(m)) == 1 and store.list_events(m) == []
    reader.record_batch_run(batch_run(m, "r2"), again)  # the connection is usable again
    assert [e.summary for e in store.list_events(m)] == ["again"]
