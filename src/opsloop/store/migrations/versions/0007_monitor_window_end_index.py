"""index for reading monitoring history by time across versions: monitor results by
(model, window_end, id), so the dashboard's latest windows and its per-day aggregates are
an index range, not a sort of every window of the model

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_monitor_model_end", "monitor_results", ["model", "window_end", "id"])


def downgrade() -> None:
    op.drop_index("ix_monitor_model_end", table_name="monitor_results")
