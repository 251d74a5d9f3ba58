"""The unit of work every ops-store repository shares: one engine, a read connection, a
write transaction, and the event insert that makes each state change and its event one
transaction.

Each repository (deployments.py, approvals.py, monitoring.py, rollouts.py, runs.py,
orchestration.py, events.py) is a mixin over `UnitOfWork`; `OpsStore` composes them all
over one engine.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from opsloop.errors import StoreError
from opsloop.redact import redact, redact_json
from opsloop.store import schema as t
from opsloop.store._util import jsonable
from opsloop.store.records import EVENT_KINDS, Event, Evidence, NewEvent, utcnow


class UnitOfWork:
    engine: Engine
    # the time the store stamps its records with (events, firings, leases, runs, arrivals):
    # None is the wall clock; `Project(clock=...)` sets its runtime's clock (a replay)
    clock: Callable[[], datetime] | None = None

    def now(self) -> datetime:
        """The store's time: its `clock`, else the wall clock (UTC)."""
        return utcnow() if self.clock is None else self.clock()

    @cached_property
    def _turn(self) -> AbstractContextManager[object]:
        """In-memory SQLite is one shared connection: threads (pipeline heartbeats,
        notifiers, a test server) take turns on it, or one thread's commit could end
        another's transaction. Real databases give each thread its own connection."""
        if self.engine.dialect.name == "sqlite" and self.engine.url.database in (
            None,
            "",
            ":memory:",
        ):
            return threading.RLock()
        return nullcontext()

    @cached_property
    def _batch(self) -> threading.local:
        """The connection of this thread's open `batch`, if any."""
        return threading.local()

    def batch(self) -> AbstractContextManager[None]:
        """One transaction for every write (and read) this thread makes inside the block:
        all of them are committed together at its end, or none if it raises. Reads inside
        see the block's own writes. For many small records in a row (a backfill's windows):
        one commit instead of one per record. Nested blocks join the outer one."""
        return self._batched()

    @contextmanager
    def _batched(self) -> Iterator[None]:
        if getattr(self._batch, "conn", None) is not None:
            yield
            return
        with self._tx() as conn:
            self._batch.conn = conn
            try:
                yield
            finally:
                self._batch.conn = None

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        joined = getattr(self._batch, "conn", None)
        if joined is not None:
            yield joined
            return
        with self._turn, self.engine.connect() as conn:
            yield conn

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        joined = getattr(self._batch, "conn", None)
        if joined is not None:
            yield joined
            return
        try:
            with self._turn, self.engine.begin() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise StoreError(
                f"ops store operation failed: {str(exc).splitlines()[0]}",
                fix="retry; if it persists check that the database is reachable",
            ) from None

    def _serialize(self, conn: Connection, model: str) -> None:
        """Hold the write lock of `model`'s deployment state until `conn`'s transaction ends,
        so a read-check-write (a compare-and-set on the current revision, starting a rollout)
        is never interleaved with another writer's: PostgreSQL takes a transaction-scoped
        advisory lock per model; SQLite takes its database write lock (a no-op UPDATE is the
        first statement, so the reads that follow see the newest commit)."""
        if conn.dialect.name == "postgresql":
            key = zlib.crc32(model.encode()) - 2**31  # a signed 32-bit key
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(7301962, :k)"), {"k": key})
        elif conn.dialect.name == "sqlite":
            conn.execute(sa.text("UPDATE deployments SET id = id WHERE 1 = 0"))

    def _insert_event(
        self,
        conn: Connection,
        kind: str,
        model: str,
        version: str | None,
        summary: str,
        evidence: Evidence | None,
        actor: str,
    ) -> Event:
        if kind not in EVENT_KINDS:  # a programming error: the list is the documented contract
            raise ValueError(f"event kind {kind!r} is not in EVENT_KINDS (opsloop.store.records)")
        ts = self.now()
        # evidence quotes exception text (user code, drivers): no credentials in the store
        ev = redact_json(jsonable(evidence or {}))
        summary = redact(summary)
        res = conn.execute(
            t.events.insert(),  # parameters apart: one compiled INSERT, cached
            {
                "ts": ts,
                "kind": kind,
                "model": model,
                "version": version,
                "actor": actor,
                "summary": summary,
                "evidence": ev,
            },
        )
        return Event(
            id=new_id(res),
            ts=ts,
            kind=kind,
            model=model,
            version=version,
            actor=actor,
            summary=summary,
            evidence=ev,
        )

    def _insert_events(
        self, conn: Connection, events: Sequence[NewEvent], *, record_id: int | None = None
    ) -> list[Event]:
        """Write events as described; with `record_id`, each one's evidence begins with the
        id of the record it accompanies (written in the same transaction)."""
        return [
            self._insert_event(
                conn,
                e.kind,
                e.model,
                e.version,
                e.summary,
                e.evidence if record_id is None else {"id": record_id, **e.evidence},
                e.actor,
            )
            for e in events
        ]


def new_id(result: sa.CursorResult[Any]) -> int:
    """The primary key an INSERT assigned."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])
