"""The ops-store conformance fixtures: in-memory SQLite, a SQLite file (WAL) and
PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from opsloop.store import OpsStore

POSTGRES = pytest.param("postgres", marks=pytest.mark.postgres)


def open_store(request: pytest.FixtureRequest, tmp_path) -> OpsStore:
    if request.param == "memory":
        return OpsStore("sqlite://")
    if request.param == "sqlite":
        return OpsStore(f"sqlite:///{tmp_path / 'ops.db'}")
    return OpsStore(request.getfixturevalue("postgres_url"))


@pytest.fixture(params=["memory", "sqlite", POSTGRES])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[OpsStore]:
    s = open_store(request, tmp_path)
    yield s
    s.close()


def model() -> str:
    return f"m-{uuid.uuid4().hex[:8]}"  # postgres DB is shared by the session


@pytest.fixture(params=["sqlite", POSTGRES])
def shared_store(request: pytest.FixtureRequest, tmp_path) -> Iterator[OpsStore]:
    """Stores that several connections share (not the single-connection in-memory one)."""
    s = open_store(request, tmp_path)
    yield s
    s.close()
