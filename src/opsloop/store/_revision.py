"""The newest migration's revision, without Alembic or SQLAlchemy."""

from __future__ import annotations

from pathlib import Path

MIGRATIONS = Path(__file__).with_name("migrations")


def head_revision() -> str:
    """The newest migration's revision, read from the file names (`NNNN_name.py`, whose
    `revision` is `"NNNN"`; a unit test holds this equal to Alembic's head)."""
    return max(p.name.split("_", 1)[0] for p in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))
