"""The event log: append-only audit rows, read by filters or after a cursor (a mixin of
`OpsStore`). Events that record a state change are written by that change's repository in
its own transaction (`UnitOfWork._insert_event`); `add_event` writes one on its own."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from opsloop.store import schema as t
from opsloop.store._util import aware, utc
from opsloop.store.ports import EventLog
from opsloop.store.records import Event, Evidence
from opsloop.store.unit import UnitOfWork


class EventQueries(UnitOfWork, EventLog):
    def add_event(
        self,
        kind: str,
        model: str,
        *,
        version: str | None = None,
        summary: str = "",
        evidence: Evidence | None = None,
        actor: str = "opsloop",
    ) -> Event:
        with self._tx() as conn:
            return self._insert_event(conn, kind, model, version, summary, evidence, actor)

    def list_events(
        self,
        model: str | None = None,
        *,
        kinds: Sequence[str] | None = None,
        after_id: int = 0,
        limit: int = 1000,
        since: datetime | None = None,
        until: datetime | None = None,
        actor: str | None = None,
        before_id: int | None = None,
    ) -> list[Event]:
        """The `limit` newest events, oldest first (by id), optionally filtered (`since`,
        `until`: the event's time, both inclusive; `actor`; a page ending before `before_id`)."""
        # A read of some kinds over a time range is answered by the (model, kind, ts)
        # index; `id + 0` keeps SQLite from walking the model's every event by id instead.
        by_time = model is not None and bool(kinds) and (since is not None or until is not None)
        order = t.events.c.id + 0 if by_time else t.events.c.id
        q = sa.select(t.events).where(order > after_id)
        if model is not None:
            q = q.where(t.events.c.model == model)
        if kinds:
            q = q.where(t.events.c.kind.in_(list(kinds)))
        if since is not None:
            q = q.where(t.events.c.ts >= utc(since))
        if until is not None:
            q = q.where(t.events.c.ts <= utc(until))
        if actor is not None:
            q = q.where(t.events.c.actor == actor)
        if before_id is not None:
            q = q.where(t.events.c.id < before_id)
        q = q.order_by(order.desc()).limit(limit)
        with self._read() as conn:
            rows = list(conn.execute(q).mappings())
        return [_event(r) for r in reversed(rows)]

    def find_first_event(
        self,
        model: str,
        kind: str,
        *,
        since: datetime,
        before: datetime,
        version: str | None = None,
    ) -> Event | None:
        """The oldest `kind` event of `model` (and `version`) in [since, before), by time:
        one seek on the (model, kind, ts) index."""
        c = t.events.c
        q = sa.select(t.events).where(
            c.model == model, c.kind == kind, c.ts >= utc(since), c.ts < utc(before)
        )
        if version is not None:
            q = q.where(c.version == version)
        with self._read() as conn:
            row = conn.execute(q.order_by(c.ts, c.id).limit(1)).mappings().first()
        return None if row is None else _event(row)

    def list_events_after(
        self, model: str, after_id: int, *, kinds: list[str] | None = None, limit: int = 100
    ) -> list[Event]:
        """The first `limit` events after `after_id`, oldest first (cursor reads)."""
        q = sa.select(t.events).where(t.events.c.model == model, t.events.c.id > after_id)
        if kinds is not None:
            q = q.where(t.events.c.kind.in_(kinds))
        with self._read() as conn:
            rows = conn.execute(q.order_by(t.events.c.id).limit(limit)).mappings()
            return [_event(r) for r in rows]

    def last_event_id(self) -> int:
        with self._read() as conn:
            return int(conn.execute(sa.select(sa.func.max(t.events.c.id))).scalar() or 0)


def _event(row: Any) -> Event:
    return Event(
        id=row["id"],
        ts=aware(row["ts"]),
        kind=row["kind"],
        model=row["model"],
        version=row["version"],
        actor=row["actor"],
        summary=row["summary"],
        evidence=row["evidence"] or {},
    )
