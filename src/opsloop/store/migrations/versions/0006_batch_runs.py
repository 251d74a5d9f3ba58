"""batch prediction: finished runs and the published output's history

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "batch_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.String(32)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started", _TS, nullable=False),
        sa.Column("finished", _TS, nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("input", sa.Text, nullable=False),
        sa.Column("input_fingerprint", sa.String(64), nullable=False),
        sa.Column("output", sa.Text),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("details", sa.JSON, nullable=False),
        sa.UniqueConstraint("model", "run_id", name="uq_batch_runs_run_id"),
    )
    op.create_index("ix_batch_runs_model_id", "batch_runs", ["model", "id"])
    op.create_table(
        "batch_publications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ts", _TS, nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("previous_run_id", sa.String(64)),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.UniqueConstraint("model", "revision", name="uq_batch_publications_revision"),
    )


def downgrade() -> None:
    op.drop_table("batch_publications")
    op.drop_index("ix_batch_runs_model_id", table_name="batch_runs")
    op.drop_table("batch_runs")
