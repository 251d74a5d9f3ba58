"""PostgreSQL URLs and databases for the team stack: which database a URL names, creating
it when missing, and what a failed connection means (psycopg, imported when used)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

Problem = Literal["unreachable", "authentication", "missing_database", "error"]


def is_postgres(url: str) -> bool:
    return urlsplit(url).scheme.split("+")[0] in ("postgresql", "postgres")


def libpq_url(url: str) -> str:
    """`url` without a SQLAlchemy driver (`postgresql+psycopg://` → `postgresql://`)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql"))


def sqlalchemy_url(url: str) -> str:
    """`url` with the psycopg 3 driver, for SQLAlchemy users (MLflow) that would otherwise
    look for psycopg2."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql+psycopg"))


def database_of(url: str) -> str:
    name = urlsplit(url).path.lstrip("/")
    if not name:
        from opsloop.errors import ConfigError

        raise ConfigError(
            f"the PostgreSQL URL {redact(url)} names no database",
            expected="postgresql://USER@HOST:PORT/DATABASE",
            fix="add the database name after the last /",
        )
    return name


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def redact(url: str) -> str:
    """`url` with any password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True)
class ConnectFailure:
    problem: Problem
    detail: str


def classify(exc: Exception) -> ConnectFailure:
    """What a failed psycopg connection means, from libpq's message."""
    text = " ".join(str(exc).split())
    lower = text.lower()
    if "does not exist" in lower and "database" in lower:
        return ConnectFailure("missing_database", text)
    if any(
        sign in lower
        for sign in (
            "password authentication failed",
            "no password supplied",
            "pg_hba.conf",
            "authentication failed",
            'role "',
        )
    ):
        return ConnectFailure("authentication", text)
    if any(
        sign in lower
        for sign in ("connection refused", "could not connect", "timeout", "timed out", "resolve")
    ):
        return ConnectFailure("unreachable", text)
    return ConnectFailure("error", text)


def ensure_database(url: str) -> bool:
    """Create the database `url` names if it does not exist (connecting to the server's
    `postgres` database); True when it was created."""
    import psycopg
    from psycopg import sql

    name = database_of(url)
    with psycopg.connect(libpq_url(with_database(url, "postgres")), autocommit=True) as admin:
        found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if found is not None:
            return False
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True
