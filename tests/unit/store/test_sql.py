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
        ports.BatchRepository,
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


def test_head_revision_is_alembics_head() -> None:
    """Opening a store skips Alembic when the database is at `head_revision()`, read from
    the migration file names: it must be the revision Alembic itself calls head."""
    from alembic.script import ScriptDirectory

    from opsloop.store.sql import _MIGRATIONS, head_revision

    script = ScriptDirectory(str(_MIGRATIONS))
    assert head_revision() == script.get_current_head()


def test_a_store_behind_head_is_still_migrated(tmp_path) -> None:
    from alembic import command
    from alembic.config import Config

    from opsloop.store.sql import _MIGRATIONS, head_revision

    url = f"sqlite:///{tmp_path / 'ops.db'}"
    store = OpsStore(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "-1")
    store.close()
    again = OpsStore(url)
    with again.engine.connect() as conn:
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    assert version == head_revision()


def test_opening_a_current_store_does_not_import_alembic(tmp_path) -> None:
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'ops.db'}"
    OpsStore(url).close()
    code = (
        "import sys; from opsloop.store import OpsStore; "
        f"OpsStore({url!r}).find_deployment('m'); print('alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
