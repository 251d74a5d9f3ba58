"""Reading an MLflow alias without importing MLflow, when the registry is a database.

Every server checks the `champion` alias against its deployment every 30 s
(deploy/reconcile.py). Through MLflow's client that check imports MLflow into the serving
process: ~80 MiB of resident memory and 1–2 s of CPU, for one row of one table (measured on
the churn example: RSS 298 → 386 MiB after the first check; docs/benchmarks.md). When the
registry URI is a database (`sqlite:///…`, `postgresql://…`, `mysql…://…`) MLflow keeps its
aliases in the table `registered_model_aliases` (name, alias, version; since MLflow 2.3,
plus `workspace` in 3.x), which SQLAlchemy — already loaded for the ops store — reads.

Read-only, and only a hint: a tracking server (`http(s)://`), a database without that
table, several workspaces holding the name, or any database error is `Unknown`, and the
caller asks MLflow itself (registry/lazy.py). Writes always go through MLflow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

log = logging.getLogger("opsloop.registry")

_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
_QUERY = "SELECT version FROM registered_model_aliases WHERE name = :name AND alias = :alias"


class Unknown(Exception):
    """The database could not answer; ask MLflow."""


AliasPeek = Callable[[str, str], str | None]


def alias_peek(registry_uri: str) -> AliasPeek | None:
    """A function (model, alias) -> version or None (not set), raising `Unknown` when it
    cannot tell; None when `registry_uri` is not a database MLflow reads with SQLAlchemy."""
    if registry_uri.split(":", 1)[0].split("+", 1)[0] not in _SCHEMES:
        return None
    engine: Engine | None = None

    def peek(name: str, alias: str) -> str | None:
        nonlocal engine
        from sqlalchemy import create_engine, text
        from sqlalchemy.exc import SQLAlchemyError
        from sqlalchemy.pool import NullPool

        try:
            if engine is None:  # NullPool: no connection held between two checks
                engine = create_engine(registry_uri, poolclass=NullPool)
            with engine.connect() as con:
                rows = con.execute(text(_QUERY), {"name": name, "alias": alias}).all()
        except SQLAlchemyError as exc:
            log.debug("alias %s of %s not read from the database: %s", alias, name, exc)
            raise Unknown(str(exc)) from exc
        if len(rows) > 1:  # the name in several MLflow workspaces: MLflow knows which
            raise Unknown(f"{len(rows)} rows for alias {alias!r} of {name!r}")
        return None if not rows else str(rows[0][0])

    return peek
