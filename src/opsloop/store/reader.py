"""The ops store's read side on the DB-API alone (`sqlite3`, `psycopg`), for the commands
people run most: `opsloop status` and `opsloop events` read through it without importing
SQLAlchemy (~0.2 s of every such command on the development machine).

It reads the tables `schema.py` defines into the same records `OpsStore` returns (each
record's fields are its table's columns; a record field's annotation says how a value is
decoded: timestamps, booleans and JSON), and the conformance test
(`tests/unit/store/test_reader.py`) holds every method equal to `OpsStore`'s on SQLite and
PostgreSQL. It only reads — but for two writes, each a record and its event(s) in one
transaction, held equal to `OpsStore`'s method of the same name by the same test:
`add_arrival` (`opsloop labels add`) and `record_batch_run` (`opsloop predict`: the run's
commit point, `batch/runrecord.py`; the predict path's store is `store/light.py`). A
database that is missing, in memory or not at the newest migration gets no reader
(`open_reader` → None) and callers use `OpsStore`, which creates or upgrades it.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from opsloop.errors import StoreError
from opsloop.redact import redact, redact_json
from opsloop.store._revision import head_revision
from opsloop.store._util import aware, dumps, jsonable, utc
from opsloop.store.history import MonitorDay, day_queries, days_from_rows
from opsloop.store.records import (
    Approval,
    BatchPublication,
    BatchRun,
    DataArrival,
    Deployment,
    Event,
    Evidence,
    GateDecision,
    Lease,
    MonitorResult,
    NewBatchRun,
    NewEvent,
    PipelineRun,
    ReplicaServing,
    Rollout,
    TriggerFiring,
    newest_per_replica,
)

R = TypeVar("R")
Where = list[tuple[str, str, Any]]  # (column, operator, value)

TABLES: dict[type[Any], str] = {
    Event: "events",
    Deployment: "deployments",
    GateDecision: "gate_decisions",
    Approval: "approvals",
    MonitorResult: "monitor_results",
    TriggerFiring: "trigger_firings",
    PipelineRun: "pipeline_runs",
    Rollout: "rollouts",
    Lease: "leases",
    DataArrival: "data_arrivals",
    BatchRun: "batch_runs",
    BatchPublication: "batch_publications",
}


def open_reader(url: str) -> StoreReader | None:
    """A reader of the ops store at `url` (a SQLAlchemy URL, as in `stack.ops_store`), or
    None when this database needs `OpsStore`: in memory, not created yet, not at the newest
    migration, not reachable (`OpsStore` then says why) or another kind of database."""
    if url.startswith("sqlite:///") and url not in ("sqlite:///:memory:",):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.is_file():
            return None
        import sqlite3

        try:  # shared by the dashboard's worker threads: `_rows` takes turns
            conn: Any = sqlite3.connect(
                path, timeout=30, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error:
            return None
        reader = StoreReader(conn, "sqlite")
    elif url.startswith(("postgresql://", "postgresql+psycopg://")):
        import psycopg

        conninfo = "postgresql://" + url.split("://", 1)[1]

        def connect() -> Any:  # again when the server dropped the connection
            return psycopg.connect(conninfo, autocommit=True)

        try:
            conn = connect()
        except psycopg.Error:
            return None
        reader = StoreReader(conn, "postgresql", reconnect=connect)
    else:
        return None
    if not reader.is_current():
        reader.close()
        return None
    return reader


class StoreReader:
    """The `StoreReads` port over one DB-API connection (`open_reader`)."""

    def __init__(
        self, conn: Any, dialect: str, *, reconnect: Callable[[], Any] | None = None
    ) -> None:
        self._conn = conn
        self._turn = threading.Lock()  # one statement at a time on the one connection
        self._reconnect = reconnect
        self.dialect = dialect
        self._mark = "?" if dialect == "sqlite" else "%s"
        self._error: type[Exception] = _driver_error(dialect)

    def close(self) -> None:
        self._conn.close()

    def is_current(self) -> bool:
        """Is the database at the newest migration (so every table and column exists)?"""
        try:
            rows = self._rows("SELECT version_num FROM alembic_version", [])
        except StoreError:  # no alembic_version table yet
            return False
        return [r["version_num"] for r in rows] == [head_revision()]

    # ---- the StoreReads port: each mirrors the OpsStore method of the same name -------
    def find_deployment(
        self, model: str, env: str = "production", *, at: datetime | None = None
    ) -> Deployment | None:
        where: Where = [("model", "=", model), ("env", "=", env)]
        if at is not None:
            where.append(("ts", "<=", at))
        return self._first(Deployment, where, "revision")

    def list_deployed_models(self) -> list[str]:
        rows = self._rows('SELECT DISTINCT "model" FROM deployments ORDER BY "model"', [])
        return [r["model"] for r in rows]

    def find_gate(self, model: str, version: str) -> GateDecision | None:
        return self._first(GateDecision, [("model", "=", model), ("version", "=", version)])

    def find_approval(self, model: str, version: str) -> Approval | None:
        return self._first(Approval, [("model", "=", model), ("version", "=", version)])

    def list_pending(self, model: str) -> list[Approval]:
        rows = self._select(Approval, [("model", "=", model)], '"id"')
        latest = {a.version: a for a in rows}
        return [a for a in latest.values() if a.status == "pending"]

    def find_last_monitor(self, model: str) -> MonitorResult | None:
        return self._first(MonitorResult, [("model", "=", model)])

    def find_monitor(self, model: str, result_id: int) -> MonitorResult | None:
        return self._first(MonitorResult, [("model", "=", model), ("id", "=", result_id)])

    def list_deployments(self, model: str, env: str = "production") -> list[Deployment]:
        return self._select(Deployment, [("model", "=", model), ("env", "=", env)], '"revision"')

    def list_monitor_windows(
        self,
        model: str,
        *,
        version: str | None = None,
        limit: int = 100,
        end_before: datetime | None = None,
        start: datetime | None = None,
        digests: bool = False,
    ) -> list[MonitorResult]:
        where: Where = [("model", "=", model)]
        if version is not None:
            where.append(("version", "=", version))
        if end_before is not None:
            where.append(("window_end", "<", end_before))
        if start is not None:
            where.append(("window_start", "=", start))
        names = [f.name for f in fields(MonitorResult)]
        columns = [*(n for n in names if n != "summary"), "digest"] if digests else names
        order = '"window_end" DESC, "id" DESC'
        rows = self._query("monitor_results", columns, where, order, limit)
        if digests:
            for r in rows:  # JSON null (SQLAlchemy's None) or SQL NULL: no digest stored
                r["digest"] = self._json(r["digest"])
            missing = [r["id"] for r in rows if r["digest"] is None]
            if missing:  # stored before digests existed
                from opsloop.core.digest import digest

                found = self._query("monitor_results", ["id", "summary"], [("id", "IN", missing)])
                summaries = {r["id"]: r["summary"] for r in found}
                for r in rows:
                    if r["id"] in summaries:
                        r["digest"] = digest(self._json(summaries[r["id"]]))
            for r in rows:
                r["summary"] = r["digest"]
        return [self._record(MonitorResult, r) for r in reversed(rows)]

    def list_monitor_days(
        self,
        model: str,
        *,
        version: str | None = None,
        limit: int = 100,
        end_before: datetime | None = None,
    ) -> list[MonitorDay]:
        totals, features, params = day_queries(
            self.dialect, model, version=version, limit=limit, end_before=end_before
        )
        return days_from_rows(self._rows(totals, params), self._rows(features, params))

    def find_rollout(
        self, model: str, env: str = "production", *, at: datetime | None = None
    ) -> Rollout | None:
        where: Where = [("model", "=", model), ("env", "=", env)]
        if at is not None:
            where.append(("started", "<=", at))
        return self._first(Rollout, where)

    def list_runs(self, model: str, *, limit: int = 20) -> list[PipelineRun]:
        return self._select(PipelineRun, [("model", "=", model)], '"id" DESC', limit)

    def list_running_runs(self, model: str, pipeline: str | None = None) -> list[PipelineRun]:
        where: Where = [("model", "=", model), ("status", "=", "running")]
        if pipeline is not None:
            where.append(("pipeline", "=", pipeline))
        return self._select(PipelineRun, where, '"id"')

    def find_lease(self, name: str) -> Lease | None:
        found = self._select(Lease, [("name", "=", name)])
        return found[0] if found else None

    def list_arrivals(
        self, model: str, *, since: datetime | None = None, source: str | None = None
    ) -> list[DataArrival]:
        where: Where = [("model", "=", model)]
        if source is not None:
            where.append(("source", "=", source))
        if since is not None:
            where.append(("ts", ">=", since))
        return self._select(DataArrival, where, '"ts", "id"')

    def list_firings(self, model: str) -> list[TriggerFiring]:
        return self._select(TriggerFiring, [("model", "=", model)], '"id"')

    def list_batch_runs(
        self, model: str, *, limit: int = 20, status: str | None = None
    ) -> list[BatchRun]:
        where: Where = [("model", "=", model)]
        if status is not None:
            where.append(("status", "=", status))
        return self._select(BatchRun, where, '"id" DESC', limit)

    def find_published_batch(self, model: str) -> BatchPublication | None:
        return self._first(BatchPublication, [("model", "=", model)], "revision")

    def find_batch_run(self, model: str, run_id: str) -> BatchRun | None:
        return self._first(BatchRun, [("model", "=", model), ("run_id", "=", run_id)])

    def list_batch_publications(self, model: str) -> list[BatchPublication]:
        """Publication history, oldest first."""
        return self._select(BatchPublication, [("model", "=", model)], '"revision"')

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
        """The `limit` newest events, oldest first (by id), optionally filtered."""
        # as OpsStore: a read of some kinds over a time range goes by (model, kind, ts)
        by_time = model is not None and bool(kinds) and (since is not None or until is not None)
        order = '("id" + 0)' if by_time else '"id"'
        where: Where = [('("id" + 0)' if by_time else "id", ">", after_id)]
        if model is not None:
            where.append(("model", "=", model))
        if kinds:
            where.append(("kind", "IN", list(kinds)))
        if since is not None:
            where.append(("ts", ">=", since))
        if until is not None:
            where.append(("ts", "<=", until))
        if actor is not None:
            where.append(("actor", "=", actor))
        if before_id is not None:
            where.append(("id", "<", before_id))
        return list(reversed(self._select(Event, where, f"{order} DESC", limit)))

    def find_first_event(
        self,
        model: str,
        kind: str,
        *,
        since: datetime,
        before: datetime,
        version: str | None = None,
    ) -> Event | None:
        where: Where = [("model", "=", model), ("kind", "=", kind)]
        where += [("ts", ">=", since), ("ts", "<", before)]
        if version is not None:
            where.append(("version", "=", version))
        found = self._select(Event, where, '"ts", "id"', 1)
        return found[0] if found else None

    def list_serving(
        self, model: str, env: str = "production", *, since: datetime
    ) -> list[ReplicaServing]:
        where: Where = [("model", "=", model), ("env", "=", env), ("ts", ">=", since)]
        columns = ["replica", "route", "version", "ts"]
        rows = self._query("serve_stats", columns, where, '"ts", "id"')
        found = []
        for r in rows:
            ts = _timestamp(r["ts"])
            assert ts is not None  # a NOT NULL column
            found.append((r["replica"], r["route"], r["version"], ts))
        return newest_per_replica(found)

    # ---- the one write ------------------------------------------------------------------
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
        """`OpsStore.add_arrival` on the DB-API: the arrival once per (model, source, seq)
        and `event` (kind, summary, evidence) in the same transaction; False if the arrival
        was already recorded (nothing written)."""
        from opsloop.store.records import utcnow

        arrival = [model, source, seq, self._param(ts), self._param(utcnow()), rows]
        statements = [
            "INSERT INTO data_arrivals (model, source, seq, ts, recorded, rows, payload) "
            f"VALUES ({', '.join([self._mark] * 6)}, {self._json_mark})",
            [*arrival, json.dumps(jsonable(payload))],
        ]
        if event is not None:
            kind, summary, evidence = event
            # as OpsStore: evidence quotes exception text, so no credentials in the store
            values = [self._param(utcnow()), kind, model, None, actor, redact(summary)]
            statements += [
                "INSERT INTO events (ts, kind, model, version, actor, summary, evidence) "
                f"VALUES ({', '.join([self._mark] * 6)}, {self._json_mark})",
                [*values, json.dumps(redact_json(jsonable(evidence)))],
            ]
        integrity = _integrity_error(self.dialect)
        try:
            self._write(statements)
        except integrity:
            return False
        except self._error as exc:
            raise StoreError(
                f"ops store operation failed: {str(exc).splitlines()[0] if str(exc) else exc!r}",
                fix="retry; if it persists check that the database is reachable",
            ) from None
        return True

    def record_batch_run(self, run: NewBatchRun, events: Sequence[NewEvent] = ()) -> BatchRun:
        """`OpsStore.record_batch_run` on the DB-API: the finished run and the events
        describing it (each one's evidence begins with the run's row id), atomically."""
        values = {**vars(run), "details": jsonable(run.details)}
        with self._transaction() as cur:
            row_id = self._insert(cur, "batch_runs", values, json_columns=("details",))
            for e in events:
                self._insert_event(cur, e, {"id": row_id, **e.evidence})
        return BatchRun(id=row_id, **vars(run))

    def _insert_event(self, cur: Any, event: NewEvent, evidence: Evidence) -> int:
        """As `UnitOfWork._insert_event`: a known kind, credentials redacted."""
        from opsloop.store.records import EVENT_KINDS, utcnow

        if event.kind not in EVENT_KINDS:
            raise ValueError(f"event kind {event.kind!r} is not in EVENT_KINDS")
        values = {
            "ts": utcnow(),
            "kind": event.kind,
            "model": event.model,
            "version": event.version,
            "actor": event.actor,
            "summary": redact(event.summary),
            "evidence": redact_json(jsonable(evidence)),
        }
        return self._insert(cur, "events", values, json_columns=("evidence",))

    def _insert(
        self, cur: Any, table: str, values: dict[str, Any], *, json_columns: tuple[str, ...]
    ) -> int:
        """One row into `table`; its id. JSON as the store writes it (`_util.dumps`),
        timestamps as SQLAlchemy stores them (`_stored`)."""
        names = list(values)
        marks = [self._json_mark if n in json_columns else self._mark for n in names]
        params = [
            dumps(values[n]) if n in json_columns else _stored(self.dialect, values[n])
            for n in names
        ]
        quoted = ", ".join(f'"{n}"' for n in names)
        sql = f"INSERT INTO {table} ({quoted}) VALUES ({', '.join(marks)})"
        if self.dialect == "sqlite":
            cur.execute(sql, params)
            return int(cur.lastrowid)
        cur.execute(sql + ' RETURNING "id"', params)
        return int(cur.fetchone()[0])

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Any]:
        """A cursor in one write transaction (SQLite: the write lock first, as SQLAlchemy's
        `BEGIN` then the first write takes it); a driver error is a StoreError, a unique
        key's is raised as the driver's IntegrityError, as `OpsStore` lets it through."""
        with self._turn:
            try:
                if self.dialect == "sqlite":
                    cur = self._conn.cursor()
                    try:
                        cur.execute("BEGIN IMMEDIATE")
                        try:
                            yield cur
                        except BaseException:
                            cur.execute("ROLLBACK")
                            raise
                        cur.execute("COMMIT")
                    finally:
                        cur.close()
                    return
                if self._reconnect is not None and (self._conn.closed or self._conn.broken):
                    self._conn = self._reconnect()
                with self._conn.transaction(), self._conn.cursor() as cur:
                    yield cur
            except _integrity_error(self.dialect):
                raise
            except self._error as exc:
                raise StoreError(
                    "ops store operation failed: "
                    f"{str(exc).splitlines()[0] if str(exc) else exc!r}",
                    fix="retry; if it persists check that the database is reachable",
                ) from None

    @property
    def _json_mark(self) -> str:
        """A JSON value's parameter (SQLite keeps JSON as text, PostgreSQL types it)."""
        return "?" if self.dialect == "sqlite" else "%s::json"

    def _write(self, statements: list[Any]) -> None:
        """(sql, params) pairs, flattened, in one transaction (`_transaction`)."""
        pairs = list(zip(statements[::2], statements[1::2], strict=True))
        with self._transaction() as cur:
            for sql, params in pairs:
                cur.execute(sql, params)

    # ---- SQL --------------------------------------------------------------------------
    def _first(self, record: type[R], where: Where, newest: str = "id") -> R | None:
        """The row with the greatest `newest` column."""
        found = self._select(record, where, f'"{newest}" DESC', 1)
        return found[0] if found else None

    def _select(
        self, record: type[R], where: Where, order: str | None = None, limit: int | None = None
    ) -> list[R]:
        """Rows of `record`'s table as records; `order` is SQL (quoted column names)."""
        names = [f.name for f in fields(record)]  # type: ignore[arg-type]
        rows = self._query(TABLES[record], names, where, order, limit)
        return [self._record(record, r) for r in rows]

    def _query(
        self,
        table: str,
        columns: list[str],
        where: Where,
        order: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for name, op, value in where:
            column = name if name.startswith("(") else f'"{name}"'  # an expression as is
            if op == "IN":
                clauses.append(f"{column} IN ({', '.join([self._mark] * len(value))})")
                params.extend(self._param(v) for v in value)
            else:
                clauses.append(f"{column} {op} {self._mark}")
                params.append(self._param(value))
        quoted = ", ".join('"' + c + '"' for c in columns)
        sql = f"SELECT {quoted} FROM {table}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        if order:
            sql += f" ORDER BY {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self._rows(sql, params)

    def _rows(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        with self._turn:
            return self._rows_now(sql, params)

    def _rows_now(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        if self._reconnect is not None and (self._conn.closed or self._conn.broken):
            with contextlib.suppress(self._error):  # else the query below reports it
                self._conn = self._reconnect()
        try:
            cur = self._conn.cursor()
            try:
                cur.execute(sql, params)
                names = [d[0] for d in cur.description]
                return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
            finally:
                cur.close()
        except self._error as exc:
            raise StoreError(
                f"ops store read failed: {str(exc).splitlines()[0] if str(exc) else exc!r}",
                fix="retry; if it persists check that the database is reachable",
            ) from None

    def _param(self, value: Any) -> Any:
        """SQLAlchemy's SQLite storage of a timestamp: its fields as text (no zone)."""
        if self.dialect == "sqlite" and isinstance(value, datetime):
            value = utc(value)
            return (
                f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
                f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}"
            )
        return value

    def _json(self, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str | bytes) else value

    def _record(self, record: type[R], row: dict[str, Any]) -> R:
        data = {}
        for f in fields(record):  # type: ignore[arg-type]
            data[f.name] = _decoder(str(f.type), self)(row[f.name])
        return record(**data)


def _decoder(annotation: str, reader: StoreReader) -> Callable[[Any], Any]:
    """How a column's value becomes the record field annotated `annotation`."""
    if annotation.startswith("datetime"):
        return _timestamp
    if annotation == "bool":
        return lambda v: v if v is None else bool(v)
    if annotation.startswith(("Evidence", "list", "dict")):
        return reader._json
    return lambda v: v


def _stored(dialect: str, value: Any) -> Any:
    """A value as `OpsStore` writes it: on SQLite, a timestamp's own fields as text (no
    zone, not converted: SQLAlchemy's `DateTime` storage); anything else as it is."""
    if dialect == "sqlite" and isinstance(value, datetime):
        return (
            f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
            f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}"
        )
    return value


def _timestamp(value: datetime | str | None) -> datetime | None:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return aware(value)


def _integrity_error(dialect: str) -> type[Exception]:
    if dialect == "sqlite":
        import sqlite3

        return sqlite3.IntegrityError
    import psycopg

    return psycopg.IntegrityError


def _driver_error(dialect: str) -> type[Exception]:
    if dialect == "sqlite":
        import sqlite3

        return sqlite3.Error
    import psycopg

    return psycopg.Error
