"""Shared fixtures. PostgreSQL tests need OPSLOOP_TEST_POSTGRES_URL, NATS tests
OPSLOOP_TEST_NATS_URL (scripts/test.sh sets both); in CI (CI=true) a missing server is a
failure, never a skip."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tinyproject import write_tiny_project


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


@pytest.fixture(scope="session")
def nats_url() -> str:
    """NATS with JetStream (OPSLOOP_TEST_NATS_URL; scripts/test.sh sets it). In CI a missing
    broker is a failure, never a skip."""
    import socket
    from urllib.parse import urlsplit

    url = os.environ.get("OPSLOOP_TEST_NATS_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("CI requires NATS with JetStream: set OPSLOOP_TEST_NATS_URL")
        pytest.skip("OPSLOOP_TEST_NATS_URL not set (scripts/test.sh sets it)")
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port or 4222), timeout=5).close()
    except OSError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI requires NATS at {url}: {exc}")
        pytest.skip(f"NATS not reachable at {url}: {exc}")
    return url


@pytest.fixture
def tiny_project(tmp_path):
    return write_tiny_project(tmp_path / "tiny")


@pytest.fixture
def memory_project(tiny_project):
    """A Project on in-memory backends: MemoryRegistry, in-memory SQLite store, MemoryEngine."""
    from opsloop.engines.memory import MemoryEngine
    from opsloop.project import Project
    from opsloop.registry.memory import MemoryRegistry
    from opsloop.store import OpsStore

    return Project(
        tiny_project,
        registry=MemoryRegistry(),
        store=OpsStore("sqlite://"),
        engine=MemoryEngine(),
        actor="tester",
    )


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """The one Spark session (local[2]) of the test run, shared by every Spark test: never
    skipped; a missing PySpark or Java fails loudly (scripts/setup.sh installs
    `opsloop[spark]`)."""
    from opsloop.engines.spark_session import get_session, stop_session
    from spark_fixtures import SPARK_CONF, SPARK_MASTER

    try:
        session = get_session(SPARK_MASTER, SPARK_CONF)
    except Exception as exc:  # a missing dependency is a failure, never a skip
        pytest.fail(f"the Spark tests need PySpark and Java 17: {exc}")
    yield session
    stop_session()
