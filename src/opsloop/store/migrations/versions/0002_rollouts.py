"""rollouts and per-replica serving statistics

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rollouts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("env", sa.String(length=64), nullable=False),
        sa.Column("strategy", sa.String(length=32), nullable=False),
        sa.Column("stable_version", sa.String(length=32), nullable=False),
        sa.Column("candidate_version", sa.String(length=32), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started", _TS, nullable=False),
        sa.Column("step_started", _TS, nullable=False),
        sa.Column("finished", _TS, nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("analysis", sa.JSON(), nullable=False),
        sa.Column("analysed", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_rollouts_model_env_id", "rollouts", ["model", "env", "id"])
    op.create_table(
        "serve_stats",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ts", _TS, nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("env", sa.String(length=64), nullable=False),
        sa.Column("replica", sa.String(length=128), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("route", sa.String(length=16), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("latency", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_serve_stats_model_ts", "serve_stats", ["model", "env", "ts"])


def downgrade() -> None:
    op.drop_index("ix_serve_stats_model_ts", table_name="serve_stats")
    op.drop_table("serve_stats")
    op.drop_index("ix_rollouts_model_env_id", table_name="rollouts")
    op.drop_table("rollouts")
