"""Shared fixtures. PostgreSQL tests need OPSLOOP_TEST_POSTGRES_URL (scripts/test.sh sets it);
in CI (CI=true) a missing server is a failure, never a skip."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    base = os.environ.get("OPSLOOP_TEST_POSTGRES_URL")
    if not base:
        if os.environ.get("CI"):
            pytest.fail("CI requires PostgreSQL: set OPSLOOP_TEST_POSTGRES_URL")
        pytest.skip("OPSLOOP_TEST_POSTGRES_URL not set (scripts/test.sh sets it)")
    import psycopg

    name = f"opsloop_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(base, autocommit=True)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI requires PostgreSQL at {base}: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    head, _, _ = base.rpartition("/")
    try:
        yield f"{head}/{name}"
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
