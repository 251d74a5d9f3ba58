"""The ops store on SQLAlchemy: SQLite (WAL) by default, PostgreSQL for teams.

``sqlite://`` (no path) is the in-memory store used by fast unit tests: the same SQL,
one shared connection. Every state change and the event that records it are written in
one transaction, so history and state never disagree.

`OpsStore` is the one concrete store: it composes the repositories of each aggregate
(deployments, gate decisions and approvals, monitoring, rollouts and serving statistics,
pipeline runs, orchestration, events — one module each, Protocols in `ports.py`) over one
engine and one unit of work (`unit.py`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from opsloop.errors import StoreError
from opsloop.store._revision import MIGRATIONS as _MIGRATIONS
from opsloop.store._revision import head_revision
from opsloop.store._util import dumps
from opsloop.store.approvals import ApprovalQueries
from opsloop.store.batches import BatchQueries
from opsloop.store.events import EventQueries
from opsloop.store.monitoring import MonitoringQueries
from opsloop.store.orchestration import OrchestrationQueries
from opsloop.store.rollouts import RolloutQueries
from opsloop.store.runs import RunQueries

_migrate_lock = threading.Lock()

# JSON columns are written by orjson (`_util.dumps`: strict JSON, several times faster than
# the standard library's encoder on a monitoring summary); read back by the standard
# library, which also reads the NaN tokens rows written before this may hold.


def create_store_engine(url: str) -> Engine:
    if url in ("sqlite://", "sqlite:///:memory:"):
        return sa.create_engine(
            "sqlite://",
            poolclass=sa.pool.StaticPool,
            connect_args={"check_same_thread": False},
            json_serializer=dumps,
        )
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, json_serializer=dumps
        )

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
    return sa.create_engine(url, pool_pre_ping=True, json_serializer=dumps)


def _is_current(engine: Engine) -> bool:
    """One query: is the database already at the newest revision? Opening a current store
    then costs no Alembic import (~0.1–0.3 s of every CLI command)."""
    with engine.connect() as conn:
        try:
            found = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
            return list(found) == [head_revision()]
        except sa.exc.DBAPIError:  # no alembic_version table yet: a new database
            return False


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (idempotent; a store already at the
    newest revision is left alone without importing Alembic)."""
    if _is_current(engine):
        return
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


class OpsStore(
    RolloutQueries,  # with DeploymentQueries
    ApprovalQueries,
    MonitoringQueries,
    RunQueries,
    OrchestrationQueries,
    BatchQueries,
    EventQueries,
):
    """Deployments, gate decisions, approvals, monitor results, rollouts, serving
    statistics, pipeline runs, leases, cursors, arrivals, trigger firings, batch runs and
    their publications, and events over one database. Code that needs only part of it
    takes the Protocol of that part (`opsloop.store.ports`)."""

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


def _redact(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url
