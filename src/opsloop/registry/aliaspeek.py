"""Reading an MLflow alias without importing MLflow, when the registry is a database.

Every server checks the `champion` alias against its deployment every 30 s
(deploy/reconcile.py). Through MLflow's client that check imports MLflow into the serving
process: ~80 MiB of resident memory and 1–2 s of CPU, for one row of one table (measured on
the churn example: RSS 298 → 386 MiB after the first check; docs/benchmarks.md). When the
registry URI is a database (`sqlite:///…`, `postgresql://…`, `mysql…://…`) MLflow keeps its
aliases in the table `registered_model_aliases` (name, alias, version; since MLflow 2.3,
plus `workspace` in 3.x), which SQLAlchemy — already loaded for the ops store — reads.

Read-only. A tracking server (`http(s)://`), a database without that table (not MLflow's,
or a schema this reading does not know) or several workspaces holding the name is
`Unknown`, and the caller asks MLflow itself (registry/lazy.py). A database that cannot be
read right now (locked, unreachable) is `RegistryUnavailableError`, as MLflow's client
would say: the server's reconciler logs it and tries again at its next check, rather than
loading MLflow to meet the same database. Writes always go through MLflow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from opsloop.errors import RegistryUnavailableError
from opsloop.registry._mlflow_errors import display_uri

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
        from sqlalchemy.exc import OperationalError, SQLAlchemyError
        from sqlalchemy.pool import NullPool

        try:
            if engine is None:  # NullPool: no connection held between two checks
                engine = create_engine(registry_uri, poolclass=NullPool)
            with engine.connect() as con:
                rows = con.execute(text(_QUERY), {"name": name, "alias": alias}).all()
        except OperationalError as exc:
            if "no such table" in str(exc).lower():  # SQLite's word for a missing table
                raise Unknown(str(exc)) from exc
            raise RegistryUnavailableError(
                f"cannot read alias {alias!r} of {name!r} from the model registry's database "
                f"at {display_uri(registry_uri)}: {str(exc.orig).strip()[:200]}",
                fix="check that the database is up and readable; the check is retried",
            ) from exc
        except (SQLAlchemyError, ImportError) as exc:  # a missing table, or no driver here
            log.debug("alias %s of %s not read from the database: %s", alias, name, exc)
            raise Unknown(str(exc)) from exc
        if len(rows) > 1:  # the name in several MLflow workspaces: MLflow knows which
            raise Unknown(f"{len(rows)} rows for alias {alias!r} of {name!r}")
        return None if not rows else str(rows[0][0])

    return peek
