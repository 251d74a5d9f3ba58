"""monitor results: a compact digest of the summary and an index by window, for history

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Results stored before have no digest; readers compute it from the summary.
    with op.batch_alter_table("monitor_results") as batch:
        batch.add_column(sa.Column("digest", sa.JSON(), nullable=True))
    op.create_index(
        "ix_monitor_model_window", "monitor_results", ["model", "version", "window_end"]
    )


def downgrade() -> None:
    op.drop_index("ix_monitor_model_window", table_name="monitor_results")
    with op.batch_alter_table("monitor_results") as batch:
        batch.drop_column("digest")
