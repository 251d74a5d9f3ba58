"""`OpsStore` itself: opening (migrations, a clear error when unreachable)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from opsloop.errors import StoreError
from opsloop.store import OpsStore


def test_migrations_are_idempotent(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    OpsStore(url).record_deployment("m", "1", reason="x")
    again = OpsStore(url)
    assert again.find_deployment("m") is not None
    with again.engine.connect() as conn:
        mode = conn.execute(sa.text("PRAGMA journal_mode")).scalar()
        assert mode == "wal"
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def test_unreachable_store_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="cannot open the ops store"):
        OpsStore("postgresql://nobody@127.0.0.1:1/none")


def test_the_ports_cover_the_store_once() -> None:
    """Every public method of `OpsStore` belongs to exactly one repository Protocol (and
    the Protocols promise nothing it lacks), so a narrow port is always available."""
    import inspect

    from opsloop.store import ports

    protocols = [
        ports.DeploymentRepository,
        ports.ApprovalRepository,
        ports.MonitoringRepository,
        ports.RolloutRepository,
        ports.RunRepository,
        ports.OrchestrationRepository,
        ports.EventLog,
    ]
    owned = [
        name
        for p in protocols
        for name, member in vars(p).items()
        if not name.startswith("_") and callable(member)
    ]
    assert len(owned) == len(set(owned))
    public = {
        name
        for name, member in inspect.getmembers(OpsStore, callable)
        if not name.startswith("_") and name != "close"
    }
    assert public == set(owned)
    for p in protocols:
        for name in vars(p):
            if name in public:
                assert inspect.signature(getattr(OpsStore, name)) == inspect.signature(
                    getattr(p, name)
                ), name
