"""Leases, cursors, new-data arrivals and trigger firings in the ops store (a mixin of
`OpsStore`): the coordination state of agents and triggers.

A lease is one row per name. Taking, renewing and taking over are compare-and-set updates
(`WHERE name = ? AND holder = ? AND token = ?`) in one transaction, so exactly one of any
number of contenders wins, the same on SQLite and PostgreSQL. The row is read first in its
own connection and the decision is made by the conditional write alone: a SQLite
transaction that reads and then writes can fail at once with "database is locked" when
another writer committed in between, a plain conditional write waits its turn. Cursors
are compare-and-set too; arrivals and firings are insert-once (a unique key).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from opsloop.store import schema as t
from opsloop.store._util import aware, jsonable
from opsloop.store.ports import OrchestrationRepository
from opsloop.store.records import DataArrival, Evidence, Lease, TriggerFiring
from opsloop.store.unit import UnitOfWork, new_id


class OrchestrationQueries(UnitOfWork, OrchestrationRepository):
    # ---- leases ---------------------------------------------------------------------
    def find_lease(self, name: str) -> Lease | None:
        with self._read() as conn:
            row = (
                conn.execute(sa.select(t.leases).where(t.leases.c.name == name)).mappings().first()
            )
        return None if row is None else _lease(row)

    def acquire_lease(
        self, name: str, holder: str, ttl: timedelta, *, model: str | None = None
    ) -> Lease | None:
        """Take, renew or take over the lease `name` for `ttl`; None while another holder's
        lease is live. With `model`, every change of holder writes an `agent_lease` event
        for that model in the same transaction."""
        now = self.now()
        current = self.find_lease(name)
        if current is None:
            return self._insert_lease(name, holder, now, ttl, model)
        if current.holder == holder:
            return self.renew_lease(current, ttl)
        if current.live(now):
            return None
        with self._tx() as conn:
            res = conn.execute(
                t.leases.update()
                .where(
                    t.leases.c.name == name,
                    t.leases.c.holder == current.holder,
                    t.leases.c.token == current.token,
                )
                .values(
                    holder=holder,
                    token=current.token + 1,
                    acquired=now,
                    renewed=now,
                    expires=now + ttl,
                )
            )
            if res.rowcount != 1:
                return None
            if model is not None:
                self._insert_event(
                    conn,
                    "agent_lease",
                    model,
                    None,
                    f"{holder} took over the lease {name} from {current.holder} (expired "
                    f"{current.expires:%H:%M:%S} UTC)",
                    {
                        "action": "taken_over",
                        "lease": name,
                        "holder": holder,
                        "token": current.token + 1,
                        "previous_holder": current.holder,
                        "previous_expires": current.expires,
                        "ttl_seconds": ttl.total_seconds(),
                    },
                    holder,
                )
        return Lease(name, holder, current.token + 1, now, now, now + ttl)

    def _insert_lease(
        self, name: str, holder: str, now: datetime, ttl: timedelta, model: str | None
    ) -> Lease | None:
        try:
            with self._tx() as conn:
                conn.execute(
                    t.leases.insert().values(
                        name=name,
                        holder=holder,
                        token=1,
                        acquired=now,
                        renewed=now,
                        expires=now + ttl,
                    )
                )
                if model is not None:
                    self._insert_event(
                        conn,
                        "agent_lease",
                        model,
                        None,
                        f"{holder} acquired the lease {name}",
                        {
                            "action": "acquired",
                            "lease": name,
                            "holder": holder,
                            "token": 1,
                            "previous_holder": None,
                            "ttl_seconds": ttl.total_seconds(),
                        },
                        holder,
                    )
        except sa.exc.IntegrityError:
            return None  # another contender inserted it first
        return Lease(name, holder, 1, now, now, now + ttl)

    def renew_lease(self, lease: Lease, ttl: timedelta) -> Lease | None:
        """Extend a held lease; None if its holder changed since (the token is the fence)."""
        now = self.now()
        with self._tx() as conn:
            res = conn.execute(
                t.leases.update()
                .where(
                    t.leases.c.name == lease.name,
                    t.leases.c.holder == lease.holder,
                    t.leases.c.token == lease.token,
                )
                .values(renewed=now, expires=now + ttl)
            )
        if res.rowcount != 1:
            return None
        return Lease(lease.name, lease.holder, lease.token, lease.acquired, now, now + ttl)

    def release_lease(self, lease: Lease) -> bool:
        """Let the lease go at once (it expires now), if still held by `lease.holder`."""
        with self._tx() as conn:
            res = conn.execute(
                t.leases.update()
                .where(
                    t.leases.c.name == lease.name,
                    t.leases.c.holder == lease.holder,
                    t.leases.c.token == lease.token,
                )
                .values(expires=self.now())
            )
        return bool(res.rowcount == 1)

    # ---- cursors ------------------------------------------------------------------------
    def find_cursor(self, name: str) -> int | None:
        with self._read() as conn:
            value = conn.execute(
                sa.select(t.cursors.c.value).where(t.cursors.c.name == name)
            ).scalar()
        return None if value is None else int(value)

    def init_cursor(self, name: str, value: int) -> int:
        """Create the cursor at `value` unless it exists; its current value."""
        try:
            with self._tx() as conn:
                conn.execute(t.cursors.insert().values(name=name, value=value, updated=self.now()))
        except sa.exc.IntegrityError:
            pass
        found = self.find_cursor(name)
        assert found is not None
        return found

    def advance_cursor(self, name: str, expected: int, value: int) -> bool:
        """Compare-and-set: move the cursor from `expected` to `value`."""
        with self._tx() as conn:
            res = conn.execute(
                t.cursors.update()
                .where(t.cursors.c.name == name, t.cursors.c.value == expected)
                .values(value=value, updated=self.now())
            )
        return bool(res.rowcount == 1)

    # ---- new-data arrivals ----------------------------------------------------------------
    def add_arrival(
        self,
        model: str,
        *,
        source: str,
        seq: int,
        ts: datetime,
        rows: int,
        payload: Evidence,
        event: tuple[str, str, Evidence] | None = None,
        actor: str = "opsloop",
    ) -> bool:
        """Record one new-data message once per (model, source, seq); False if it was
        already recorded (a redelivery). With `event` (kind, summary, evidence), that event
        is written in the same transaction."""
        try:
            with self._tx() as conn:
                conn.execute(
                    t.data_arrivals.insert().values(
                        model=model,
                        source=source,
                        seq=seq,
                        ts=ts,
                        recorded=self.now(),
                        rows=rows,
                        payload=jsonable(payload),
                    )
                )
                if event is not None:
                    self._insert_event(conn, event[0], model, None, event[1], event[2], actor)
        except sa.exc.IntegrityError:
            return False
        return True

    def list_arrivals(
        self, model: str, *, since: datetime | None = None, source: str | None = None
    ) -> list[DataArrival]:
        """Arrivals at or after `since` (broker time), oldest first; with `source`, only
        that source's."""
        q = sa.select(t.data_arrivals).where(t.data_arrivals.c.model == model)
        if source is not None:
            q = q.where(t.data_arrivals.c.source == source)
        if since is not None:
            q = q.where(t.data_arrivals.c.ts >= since)
        with self._read() as conn:
            rows = conn.execute(q.order_by(t.data_arrivals.c.ts, t.data_arrivals.c.id)).mappings()
            return [
                DataArrival(**{**r, "ts": aware(r["ts"]), "recorded": aware(r["recorded"])})
                for r in rows
            ]

    # ---- triggers -------------------------------------------------------------------
    def try_fire(
        self, model: str, trigger: str, key: str, evidence: Evidence | None = None
    ) -> TriggerFiring | None:
        """Record a firing once per (model, trigger, key); None if it already fired."""
        ts = self.now()
        ev = jsonable(evidence or {})
        try:
            with self._tx() as conn:
                res = conn.execute(
                    t.trigger_firings.insert().values(
                        ts=ts, model=model, trigger=trigger, key=key, evidence=ev
                    )
                )
                self._insert_event(
                    conn,
                    "trigger_fired",
                    model,
                    None,
                    f"{trigger} trigger fired for {key}",
                    {"trigger": trigger, "key": key, **ev},
                    "opsloop",
                )
        except sa.exc.IntegrityError:
            return None
        return TriggerFiring(
            id=new_id(res),
            ts=ts,
            model=model,
            trigger=trigger,
            key=key,
            evidence=ev,
        )

    def list_firings(self, model: str) -> list[TriggerFiring]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(t.trigger_firings)
                .where(t.trigger_firings.c.model == model)
                .order_by(t.trigger_firings.c.id)
            ).mappings()
            return [TriggerFiring(**{**r, "ts": aware(r["ts"])}) for r in rows]


def _lease(row: Any) -> Lease:
    return Lease(**{**row, **{k: aware(row[k]) for k in ("acquired", "renewed", "expires")}})
