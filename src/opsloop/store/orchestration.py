"""Leases, run heartbeats, cursors and new-data arrivals in the ops store (a mixin of
`OpsStore`).

A lease is one row per name. Taking, renewing and taking over are compare-and-set updates
(`WHERE name = ? AND holder = ? AND token = ?`) in one transaction, so exactly one of any
number of contenders wins, the same on SQLite and PostgreSQL. The row is read first in its
own connection and the decision is made by the conditional write alone: a SQLite
transaction that reads and then writes can fail at once with "database is locked" when
another writer committed in between, a plain conditional write waits its turn.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsloop.store import schema as t
from opsloop.store._util import aware, jsonable
from opsloop.store.records import DataArrival, Event, Evidence, Lease, PipelineRun, utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


class OrchestrationQueries:
    if TYPE_CHECKING:  # provided by OpsStore
        engine: Engine

        def _tx(self) -> AbstractContextManager[Connection]: ...
        def _read(self) -> AbstractContextManager[Connection]: ...
        def _insert_event(
            self,
            conn: Connection,
            kind: str,
            model: str,
            version: str | None,
            summary: str,
            evidence: Evidence | None,
            actor: str,
        ) -> Event: ...

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
        now = utcnow()
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
        now = utcnow()
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
                .values(expires=utcnow())
            )
        return bool(res.rowcount == 1)

    # ---- run heartbeats ---------------------------------------------------------------
    def beat_run(self, run_id: int) -> bool:
        """Record that a running pipeline is alive; False once it is no longer running."""
        with self._tx() as conn:
            res = conn.execute(
                t.pipeline_runs.update()
                .where(t.pipeline_runs.c.id == run_id, t.pipeline_runs.c.status == "running")
                .values(heartbeat=utcnow())
            )
        return bool(res.rowcount == 1)

    def list_running_runs(self, model: str, pipeline: str | None = None) -> list[PipelineRun]:
        q = sa.select(t.pipeline_runs).where(
            t.pipeline_runs.c.model == model, t.pipeline_runs.c.status == "running"
        )
        if pipeline is not None:
            q = q.where(t.pipeline_runs.c.pipeline == pipeline)
        with self._read() as conn:
            rows = conn.execute(q.order_by(t.pipeline_runs.c.id)).mappings()
            return [pipeline_run(r) for r in rows]

    def fail_stale_runs(
        self, model: str, cutoff: datetime, *, actor: str = "opsloop"
    ) -> list[PipelineRun]:
        """Mark running runs whose last heartbeat is older than `cutoff` as failed, each with
        a `training_failed` (train) or `pipeline_failed` event; a run that beat in between
        is left alone (compare-and-set on the heartbeat it was seen with)."""
        marked = []
        for run in self.list_running_runs(model):
            beat = run.heartbeat or run.started
            if beat >= cutoff:
                continue
            stage = next(
                (s.get("name") for s in reversed(run.stages) if s.get("status") == "running"), None
            )
            error = f"crashed: no heartbeat since {beat:%Y-%m-%d %H:%M:%S} UTC" + (
                f" (in stage {stage})" if stage else ""
            )
            now = utcnow()
            stages = [
                {**s, "status": "failed", "error": "crashed"} if s.get("status") == "running" else s
                for s in run.stages
            ]
            with self._tx() as conn:
                cond = [t.pipeline_runs.c.id == run.id, t.pipeline_runs.c.status == "running"]
                cond.append(
                    t.pipeline_runs.c.heartbeat == run.heartbeat
                    if run.heartbeat is not None
                    else t.pipeline_runs.c.heartbeat.is_(None)
                )
                res = conn.execute(
                    t.pipeline_runs.update()
                    .where(*cond)
                    .values(status="failed", finished=now, error=error, stages=jsonable(stages))
                )
                if res.rowcount != 1:
                    continue
                kind = "training_failed" if run.pipeline == "train" else "pipeline_failed"
                self._insert_event(
                    conn,
                    kind,
                    model,
                    None,
                    error,
                    {
                        "crashed": True,
                        "pipeline_run": run.id,
                        "pipeline": run.pipeline,
                        "trigger": run.trigger,
                        "stage": stage,
                        "heartbeat": beat,
                    },
                    actor,
                )
            marked.append(
                pipeline_run(
                    {
                        **run.to_dict(),
                        "status": "failed",
                        "error": error,
                        "finished": now,
                        "stages": stages,
                        "started": run.started,
                        "heartbeat": run.heartbeat,
                    }
                )
            )
        return marked

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
                conn.execute(t.cursors.insert().values(name=name, value=value, updated=utcnow()))
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
                .values(value=value, updated=utcnow())
            )
        return bool(res.rowcount == 1)

    def list_events_after(
        self, model: str, after_id: int, *, kinds: list[str] | None = None, limit: int = 100
    ) -> list[Event]:
        """The first `limit` events after `after_id`, oldest first (cursor reads)."""
        q = sa.select(t.events).where(t.events.c.model == model, t.events.c.id > after_id)
        if kinds is not None:
            q = q.where(t.events.c.kind.in_(kinds))
        with self._read() as conn:
            rows = conn.execute(q.order_by(t.events.c.id).limit(limit)).mappings()
            return [
                Event(**{**r, "ts": aware(r["ts"]), "evidence": r["evidence"] or {}}) for r in rows
            ]

    def last_event_id(self) -> int:
        with self._read() as conn:
            return int(conn.execute(sa.select(sa.func.max(t.events.c.id))).scalar() or 0)

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
                        recorded=utcnow(),
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


def _lease(row: Any) -> Lease:
    return Lease(**{**row, **{k: aware(row[k]) for k in ("acquired", "renewed", "expires")}})


def pipeline_run(row: Any) -> PipelineRun:
    data = dict(row)
    for key in ("started", "finished", "heartbeat"):
        value = data.get(key)
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        data[key] = aware(value)
    return PipelineRun(**data)
