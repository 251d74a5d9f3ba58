"""agent leases, pipeline-run heartbeats, notification cursors, new-data arrivals

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("pipeline_runs") as batch:
        batch.add_column(sa.Column("heartbeat", _TS, nullable=True))
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("holder", sa.String(length=256), nullable=False),
        sa.Column("token", sa.Integer(), nullable=False),
        sa.Column("acquired", _TS, nullable=False),
        sa.Column("renewed", _TS, nullable=False),
        sa.Column("expires", _TS, nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "cursors",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("updated", _TS, nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "data_arrivals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=256), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("ts", _TS, nullable=False),
        sa.Column("recorded", _TS, nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("model", "source", "seq", name="uq_data_arrivals_seq"),
    )
    op.create_index("ix_data_arrivals_model_ts", "data_arrivals", ["model", "ts"])


def downgrade() -> None:
    op.drop_index("ix_data_arrivals_model_ts", table_name="data_arrivals")
    op.drop_table("data_arrivals")
    op.drop_table("cursors")
    op.drop_table("leases")
    with op.batch_alter_table("pipeline_runs") as batch:
        batch.drop_column("heartbeat")
