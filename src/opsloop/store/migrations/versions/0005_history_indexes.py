"""indexes for reading history by time: events by (model, kind, ts) and deployments by
(model, env, ts), for DORA metrics and as-of deployment views

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_model_kind_ts", "events", ["model", "kind", "ts"])
    op.create_index("ix_deployments_model_env_ts", "deployments", ["model", "env", "ts"])


def downgrade() -> None:
    op.drop_index("ix_deployments_model_env_ts", table_name="deployments")
    op.drop_index("ix_events_model_kind_ts", table_name="events")
