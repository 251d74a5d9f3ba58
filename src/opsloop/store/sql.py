"""The ops store on SQLAlchemy: SQLite (WAL) by default, PostgreSQL for teams.

``sqlite://`` (no path) is the in-memory store used by fast unit tests: the same SQL,
one shared connection. Every state change and the event that records it are written in
one transaction, so history and state never disagree.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from opsloop.core.digest import digest
from opsloop.errors import InvalidInputError, StoreError
from opsloop.store import schema as t
from opsloop.store._util import aware, jsonable
from opsloop.store.orchestration import OrchestrationQueries, pipeline_run
from opsloop.store.records import (
    APPROVAL_STATUSES,
    Approval,
    Deployment,
    Event,
    Evidence,
    GateDecision,
    MonitorResult,
    PipelineRun,
    TriggerFiring,
    utcnow,
)
from opsloop.store.rollouts import RolloutQueries

_MIGRATIONS = Path(__file__).with_name("migrations")
_migrate_lock = threading.Lock()


def create_store_engine(url: str) -> Engine:
    if url in ("sqlite://", "sqlite:///:memory:"):
        return sa.create_engine(
            "sqlite://",
            poolclass=sa.pool.StaticPool,
            connect_args={"check_same_thread": False},
        )
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return sa.create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (idempotent)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with _migrate_lock, engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Serialise concurrent first starts on one database.
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(7301961)"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


class OpsStore(RolloutQueries, OrchestrationQueries):
    """Deployments, gate decisions, approvals, monitor results, triggers, runs and events;
    rollouts and serving statistics come from `RolloutQueries`; leases, run heartbeats,
    cursors and new-data arrivals from `OrchestrationQueries`."""

    def __init__(self, url: str, *, auto_migrate: bool = True) -> None:
        self.url = url
        try:
            self.engine = create_store_engine(url)
            if auto_migrate:
                migrate(self.engine)
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(
                f"cannot open the ops store at {_redact(url)}: {exc.__class__.__name__}: "
                f"{str(exc).splitlines()[0]}",
                fix="check stack.ops_store in opsloop.yaml and that the database is running",
            ) from None

    def close(self) -> None:
        self.engine.dispose()

    @cached_property
    def _turn(self) -> AbstractContextManager[Any]:
        """In-memory SQLite is one shared connection: threads (pipeline heartbeats,
        notifiers, a test server) take turns on it, or one thread's commit could end
        another's transaction. Real databases give each thread its own connection."""
        return (
            threading.RLock()
            if self.engine.dialect.name == "sqlite"
            and self.engine.url.database in (None, "", ":memory:")
            else nullcontext()
        )

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._turn, self.engine.connect() as conn:
            yield conn

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        try:
            with self._turn, self.engine.begin() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise StoreError(
                f"ops store operation failed: {str(exc).splitlines()[0]}",
                fix="retry; if it persists check that the database is reachable",
            ) from None

    # ---- events ---------------------------------------------------------------------
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
        ts = utcnow()
        ev = jsonable(evidence or {})
        res = conn.execute(
            t.events.insert().values(
                ts=ts,
                kind=kind,
                model=model,
                version=version,
                actor=actor,
                summary=summary,
                evidence=ev,
            )
        )
        return Event(
            id=int(res.inserted_primary_key[0]),  # type: ignore[index]
            ts=ts,
            kind=kind,
            model=model,
            version=version,
            actor=actor,
            summary=summary,
            evidence=ev,
        )

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
    ) -> list[Event]:
        """Events oldest first (by id), optionally filtered."""
        q = sa.select(t.events).where(t.events.c.id > after_id)
        if model is not None:
            q = q.where(t.events.c.model == model)
        if kinds:
            q = q.where(t.events.c.kind.in_(list(kinds)))
        q = q.order_by(t.events.c.id.desc()).limit(limit)
        with self._read() as conn:
            rows = list(conn.execute(q).mappings())
        return [
            Event(
                id=r["id"],
                ts=aware(r["ts"]),
                kind=r["kind"],
                model=r["model"],
                version=r["version"],
                actor=r["actor"],
                summary=r["summary"],
                evidence=r["evidence"] or {},
            )
            for r in reversed(rows)
        ]

    # ---- deployments ----------------------------------------------------------------
    def record_deployment(
        self,
        model: str,
        version: str,
        *,
        env: str = "production",
        strategy: str = "blue_green",
        reason: str,
        actor: str = "opsloop",
        event_kind: str = "promoted",
        evidence: Evidence | None = None,
    ) -> Deployment:
        """Make `version` current for (model, env) and write the event, atomically."""
        with self._tx() as conn:
            return self._insert_deployment(
                conn, model, version, env, strategy, reason, actor, event_kind, evidence
            )

    def _insert_deployment(
        self,
        conn: Connection,
        model: str,
        version: str,
        env: str,
        strategy: str,
        reason: str,
        actor: str,
        event_kind: str,
        evidence: Evidence | None,
    ) -> Deployment:
        current = self._current_deployment(conn, model, env)
        revision = 1 if current is None else current.revision + 1
        previous = None if current is None else current.version
        ts = utcnow()
        res = conn.execute(
            t.deployments.insert().values(
                ts=ts,
                model=model,
                env=env,
                revision=revision,
                version=version,
                previous_version=previous,
                strategy=strategy,
                reason=reason,
                actor=actor,
            )
        )
        dep = Deployment(
            id=int(res.inserted_primary_key[0]),  # type: ignore[index]
            ts=ts,
            model=model,
            env=env,
            revision=revision,
            version=version,
            previous_version=previous,
            strategy=strategy,
            reason=reason,
            actor=actor,
        )
        ev = {
            "revision": revision,
            "previous_version": previous,
            "env": env,
            "strategy": strategy,
            **(evidence or {}),
        }
        self._insert_event(conn, event_kind, model, version, reason, ev, actor)
        return dep

    def _current_deployment(self, conn: Connection, model: str, env: str) -> Deployment | None:
        row = (
            conn.execute(
                sa.select(t.deployments)
                .where(t.deployments.c.model == model, t.deployments.c.env == env)
                .order_by(t.deployments.c.revision.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        return None if row is None else _deployment(row)

    def find_deployment(self, model: str, env: str = "production") -> Deployment | None:
        with self._read() as conn:
            return self._current_deployment(conn, model, env)

    def list_deployments(self, model: str, env: str = "production") -> list[Deployment]:
        """Deployment history, oldest first."""
        with self._read() as conn:
            rows = conn.execute(
                sa.select(t.deployments)
                .where(t.deployments.c.model == model, t.deployments.c.env == env)
                .order_by(t.deployments.c.revision)
            ).mappings()
            return [_deployment(r) for r in rows]

    # ---- gate decisions -------------------------------------------------------------
    def record_gate(
        self,
        *,
        model: str,
        version: str,
        champion_version: str | None,
        metric: str,
        policy: str,
        margin: float,
        floor: float | None,
        challenger_value: float,
        champion_value: float | None,
        passed: bool,
        reasons: list[str],
        evidence: Evidence | None = None,
        actor: str = "opsloop",
    ) -> GateDecision:
        diff = None if champion_value is None else challenger_value - champion_value
        ts = utcnow()
        ev = jsonable(evidence or {})
        values = dict(
            ts=ts,
            model=model,
            version=version,
            champion_version=champion_version,
            metric=metric,
            policy=policy,
            margin=margin,
            floor=floor,
            challenger_value=challenger_value,
            champion_value=champion_value,
            difference=diff,
            passed=passed,
            reasons=list(reasons),
            evidence=ev,
        )
        with self._tx() as conn:
            res = conn.execute(t.gate_decisions.insert().values(**values))
            decision = GateDecision(id=int(res.inserted_primary_key[0]), **values)  # type: ignore[index]
            kind = "gate_passed" if passed else "gate_failed"
            summary = "; ".join(reasons)
            self._insert_event(conn, kind, model, version, summary, decision.to_dict(), actor)
            return decision

    def _latest_for_version(self, table: sa.Table, model: str, version: str) -> Any:
        with self._read() as conn:
            return (
                conn.execute(
                    sa.select(table)
                    .where(table.c.model == model, table.c.version == version)
                    .order_by(table.c.id.desc())
                    .limit(1)
                )
                .mappings()
                .first()
            )

    def find_gate(self, model: str, version: str) -> GateDecision | None:
        row = self._latest_for_version(t.gate_decisions, model, version)
        return None if row is None else GateDecision(**{**row, "ts": aware(row["ts"])})

    # ---- approvals ------------------------------------------------------------------
    def set_approval(
        self,
        model: str,
        version: str,
        status: str,
        *,
        actor: str = "opsloop",
        comment: str = "",
        evidence: Evidence | None = None,
    ) -> Approval:
        if status not in APPROVAL_STATUSES:
            raise InvalidInputError(
                "unknown approval status", expected=" | ".join(APPROVAL_STATUSES), got=repr(status)
            )
        ts = utcnow()
        with self._tx() as conn:
            res = conn.execute(
                t.approvals.insert().values(
                    ts=ts,
                    model=model,
                    version=version,
                    status=status,
                    actor=actor,
                    comment=comment,
                )
            )
            kind = {"pending": "approval_pending", "approved": "approved", "rejected": "rejected"}[
                status
            ]
            summary = comment or f"version {version} {status}"
            self._insert_event(
                conn, kind, model, version, summary, {"comment": comment, **(evidence or {})}, actor
            )
            return Approval(
                id=int(res.inserted_primary_key[0]),  # type: ignore[index]
                ts=ts,
                model=model,
                version=version,
                status=status,
                actor=actor,
                comment=comment,
            )

    def find_approval(self, model: str, version: str) -> Approval | None:
        row = self._latest_for_version(t.approvals, model, version)
        return None if row is None else Approval(**{**row, "ts": aware(row["ts"])})

    def list_pending(self, model: str) -> list[Approval]:
        with self._read() as conn:
            rows = list(
                conn.execute(
                    sa.select(t.approvals)
                    .where(t.approvals.c.model == model)
                    .order_by(t.approvals.c.id)
                ).mappings()
            )
        latest: dict[str, Approval] = {}
        for row in rows:
            latest[row["version"]] = Approval(**{**row, "ts": aware(row["ts"])})
        return [a for a in latest.values() if a.status == "pending"]

    # ---- monitor results ------------------------------------------------------------
    def record_monitor(
        self,
        *,
        model: str,
        version: str | None,
        window_start: datetime,
        window_end: datetime,
        n_rows: int,
        n_labelled: int,
        drift_detected: bool,
        drift_share: float,
        performance_metric: str | None,
        performance_value: float | None,
        performance_degraded: bool,
        report_path: str | None,
        summary: Evidence,
        replaces: Sequence[int] = (),
    ) -> MonitorResult:
        """Store a result and its events. `replaces`: ids of results of the same window
        that this one supersedes (a re-run backfill); they are deleted in the same
        transaction, their events stay in the audit log."""
        ts = utcnow()
        values: dict[str, Any] = dict(
            ts=ts,
            model=model,
            version=version,
            window_start=window_start,
            window_end=window_end,
            n_rows=n_rows,
            n_labelled=n_labelled,
            drift_detected=drift_detected,
            drift_share=drift_share,
            performance_metric=performance_metric,
            performance_value=performance_value,
            performance_degraded=performance_degraded,
            report_path=report_path,
            summary=jsonable(summary),
        )
        row_digest = digest(values["summary"])
        with self._tx() as conn:
            if replaces:
                conn.execute(
                    t.monitor_results.delete().where(
                        t.monitor_results.c.model == model,
                        t.monitor_results.c.id.in_(list(replaces)),
                    )
                )
            res = conn.execute(t.monitor_results.insert().values(**values, digest=row_digest))
            result = MonitorResult(id=int(res.inserted_primary_key[0]), **values)  # type: ignore[index]
            brief = {k: v for k, v in result.to_dict().items() if k != "summary"}
            brief["drifted_features"] = summary.get("drifted_features", [])
            previous = summary.get("previous") or {}
            if previous:
                brief["previous"] = {
                    k: previous.get(k) for k in ("id", "newly_drifted", "recovered")
                }
            if replaces:
                brief["replaces"] = list(replaces)
            if summary.get("multivariate"):
                brief["multivariate"] = summary["multivariate"]
            self._insert_event(
                conn, "monitored", model, version, _monitor_summary(result), brief, "opsloop"
            )
            if drift_detected:
                self._insert_event(
                    conn,
                    "drift_detected",
                    model,
                    version,
                    _drift_summary(drift_share, summary),
                    brief,
                    "opsloop",
                )
            if performance_degraded:
                self._insert_event(
                    conn,
                    "performance_degraded",
                    model,
                    version,
                    f"{performance_metric}={performance_value:.4f} below floor",
                    brief,
                    "opsloop",
                )
            estimated = summary.get("estimated_performance") or {}
            if estimated.get("degraded"):
                self._insert_event(
                    conn,
                    "performance_estimated_degraded",
                    model,
                    version,
                    "; ".join(estimated.get("reasons", [])) + f" ({estimated.get('n')} rows, "
                    "no labels: CBPE)",
                    {**brief, "estimated_performance": jsonable(estimated)},
                    "opsloop",
                )
            quality = summary.get("quality")
            if isinstance(quality, dict) and quality.get("passed") is False:
                breaches = [c for c in quality.get("checks", []) if c.get("status") == "breach"]
                names = [
                    c["check"] + (f" ({c['feature']})" if c.get("feature") else "")
                    for c in breaches
                ]
                self._insert_event(
                    conn,
                    "quality_failed",
                    model,
                    version,
                    "data quality: "
                    + ", ".join(names[:5])
                    + (f" (+{len(names) - 5} more)" if len(names) > 5 else ""),
                    {**brief, "quality_breaches": breaches},
                    "opsloop",
                )
            return result

    def list_monitor(self, model: str, *, limit: int = 100) -> list[MonitorResult]:
        """Monitor results, oldest first."""
        with self._read() as conn:
            rows = list(
                conn.execute(
                    sa.select(t.monitor_results)
                    .where(t.monitor_results.c.model == model)
                    .order_by(t.monitor_results.c.id.desc())
                    .limit(limit)
                ).mappings()
            )
        return [_monitor_result(r) for r in reversed(rows)]

    def find_last_monitor(self, model: str) -> MonitorResult | None:
        results = self.list_monitor(model, limit=1)
        return results[-1] if results else None

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
        """The `limit` latest windows by window end (of one version; ending before
        `end_before`; starting exactly at `start`), oldest window first: the history a
        report charts (a backfill may store old windows after newer ones). With `digests`,
        each result's `summary` is its digest (`opsloop.core.digest`: no histograms or
        distances), much less to read for long histories."""
        c = t.monitor_results.c
        columns = (
            [col for col in t.monitor_results.c if col.name != "summary"]
            if digests
            else [t.monitor_results]
        )
        query = sa.select(*columns).where(c.model == model)
        if version is not None:
            query = query.where(c.version == version)
        if end_before is not None:
            query = query.where(c.window_end < end_before)
        if start is not None:
            query = query.where(c.window_start == start)
        with self._read() as conn:
            rows = [
                dict(r)
                for r in conn.execute(
                    query.order_by(c.window_end.desc(), c.id.desc()).limit(limit)
                ).mappings()
            ]
            missing = [r["id"] for r in rows if digests and r["digest"] is None]
            if missing:  # stored before digests existed
                found = dict(
                    conn.execute(sa.select(c.id, c.summary).where(c.id.in_(missing))).tuples().all()
                )
                for r in rows:
                    if r["id"] in found:
                        r["digest"] = digest(found[r["id"]])
        if digests:
            for r in rows:
                r["summary"] = r["digest"]
        return [_monitor_result(r) for r in reversed(rows)]

    def find_previous_monitor(
        self, model: str, version: str | None, window_end: datetime
    ) -> MonitorResult | None:
        """The result of the same model and version whose window ends last before
        `window_end` (the window a new result is compared with)."""
        found = self.list_monitor_windows(model, version=version, limit=1, end_before=window_end)
        return found[-1] if found else None

    def list_monitor_window(
        self, model: str, version: str | None, start: datetime, end: datetime
    ) -> list[MonitorResult]:
        """Results of exactly this window and version (a backfill's idempotency check)."""
        return [
            r
            for r in self.list_monitor_windows(model, version=version, limit=100, start=start)
            if r.window_end == end
        ]

    # ---- triggers -------------------------------------------------------------------
    def try_fire(
        self, model: str, trigger: str, key: str, evidence: Evidence | None = None
    ) -> TriggerFiring | None:
        """Record a firing once per (model, trigger, key); None if it already fired."""
        ts = utcnow()
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
            id=int(res.inserted_primary_key[0]),  # type: ignore[index]
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

    # ---- pipeline runs --------------------------------------------------------------
    def start_run(self, model: str, pipeline: str, *, trigger: str | None = None) -> int:
        now = utcnow()
        with self._tx() as conn:
            res = conn.execute(
                t.pipeline_runs.insert().values(
                    model=model,
                    pipeline=pipeline,
                    status="running",
                    started=now,
                    trigger=trigger,
                    stages=[],
                    result={},
                    heartbeat=now,
                )
            )
            return int(res.inserted_primary_key[0])  # type: ignore[index]

    def update_run(
        self,
        run_id: int,
        *,
        stages: list[dict[str, Any]],
        status: str = "running",
        error: str | None = None,
        result: Evidence | None = None,
    ) -> None:
        values: dict[str, Any] = {"stages": jsonable(stages), "status": status, "error": error}
        if result is not None:
            values["result"] = jsonable(result)
        if status != "running":
            values["finished"] = utcnow()
        else:
            values["heartbeat"] = utcnow()
        with self._tx() as conn:
            conn.execute(
                t.pipeline_runs.update()
                .where(t.pipeline_runs.c.id == run_id, t.pipeline_runs.c.status == "running")
                .values(**values)
            )

    def list_runs(self, model: str, *, limit: int = 20) -> list[PipelineRun]:
        """Pipeline runs, newest first."""
        with self._read() as conn:
            rows = conn.execute(
                sa.select(t.pipeline_runs)
                .where(t.pipeline_runs.c.model == model)
                .order_by(t.pipeline_runs.c.id.desc())
                .limit(limit)
            ).mappings()
            return [pipeline_run(r) for r in rows]


def _deployment(row: Any) -> Deployment:
    return Deployment(**{**row, "ts": aware(row["ts"])})


def _monitor_result(row: Any) -> MonitorResult:
    data = dict(row)
    data.pop("digest", None)
    for key in ("ts", "window_start", "window_end"):
        data[key] = aware(data[key])
    return MonitorResult(**data)


def _drift_summary(share: float, summary: Evidence) -> str:
    text = f"{share:.0%} of features drifted"
    mv = summary.get("multivariate") or {}
    if mv.get("drifted") and mv.get("value") is not None:
        text += (
            f"; multivariate reconstruction error {mv['value']:.4g} outside "
            f"[{mv['lower']:.4g}, {mv['upper']:.4g}]"
        )
    return text


def _monitor_summary(r: MonitorResult) -> str:
    parts = [f"{r.n_rows} rows", f"drift share {r.drift_share:.0%}"]
    if r.performance_value is not None:
        parts.append(f"{r.performance_metric}={r.performance_value:.4f} on {r.n_labelled} labels")
    newly = (r.summary.get("previous") or {}).get("newly_drifted")
    if newly:
        parts.append(f"newly drifted since the previous window: {', '.join(newly)}")
    return ", ".join(parts)


def _redact(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url
