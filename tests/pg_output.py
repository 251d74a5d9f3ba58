"""A PostgreSQL schema of its own for a test of the batch output table
(`predict.output_table`), and what a reader of its view sees."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest


def base_url() -> str:
    """The test server (OPSLOOP_TEST_POSTGRES_URL, as `tests/conftest.py` finds it): a
    failure in CI when missing, never a skip there."""
    url = os.environ.get("OPSLOOP_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("CI requires PostgreSQL: set OPSLOOP_TEST_POSTGRES_URL")
        pytest.skip("OPSLOOP_TEST_POSTGRES_URL not set (scripts/test.sh sets it)")
    return url


def execute(url: str, statement: str, params: tuple[object, ...] = ()) -> list[tuple]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


@contextmanager
def schema(url: str) -> Iterator[str]:
    """A new schema in the database of `url`, dropped (with everything in it) afterwards."""
    name = f"out_{uuid.uuid4().hex[:10]}"
    execute(url, f"CREATE SCHEMA {name}")
    try:
        yield name
    finally:
        execute(url, f"DROP SCHEMA IF EXISTS {name} CASCADE")


def target(url: str, schema: str, name: str = "scores") -> str:
    return f"{url}{'&' if '?' in url else '?'}table={schema}.{name}"


def view_runs(url: str, schema: str, name: str = "scores") -> dict[str, int]:
    """Rows per run id in the view, as one reader query sees it."""
    rows = execute(url, f"SELECT run_id, count(*) FROM {schema}.{name} GROUP BY run_id")
    return {str(r): int(n) for r, n in rows}


def view_comment(url: str, schema: str, name: str = "scores") -> dict[str, Any] | None:
    import json

    found = execute(url, f"SELECT obj_description('{schema}.{name}'::regclass, 'pg_class')")
    return None if not found or found[0][0] is None else json.loads(found[0][0])


def tables(url: str, schema: str) -> list[str]:
    """The schema's tables and views, by name."""
    found = execute(
        url,
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'v')",
        (schema,),
    )
    return sorted(str(r[0]) for r in found)  # in Python's order, not the server's collation
