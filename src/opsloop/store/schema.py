"""Ops-store tables (SQLAlchemy Core). Changes here need an Alembic revision in migrations/."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

_TS = sa.DateTime(timezone=True)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", _TS, nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("version", sa.String(32)),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("evidence", sa.JSON, nullable=False),
    sa.Index("ix_events_model_id", "model", "id"),
    # history by kind and time (DORA, as-of views): promotions, breaches, trainings
    sa.Index("ix_events_model_kind_ts", "model", "kind", "ts"),
)

deployments = sa.Table(
    "deployments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", _TS, nullable=False),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("env", sa.String(64), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("previous_version", sa.String(32)),
    sa.Column("strategy", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.UniqueConstraint("model", "env", "revision", name="uq_deployments_revision"),
    sa.Index("ix_deployments_model_env_ts", "model", "env", "ts"),
)

gate_decisions = sa.Table(
    "gate_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", _TS, nullable=False),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("champion_version", sa.String(32)),
    sa.Column("metric", sa.String(64), nullable=False),
    sa.Column("policy", sa.String(32), nullable=False),
    sa.Column("margin", sa.Float, nullable=False),
    sa.Column("floor", sa.Float),
    sa.Column("challenger_value", sa.Float, nullable=False),
    sa.Column("champion_value", sa.Float),
    sa.Column("difference", sa.Float),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("reasons", sa.JSON, nullable=False),
    sa.Column("evidence", sa.JSON, nullable=False),
    sa.Index("ix_gate_model_version", "model", "version"),
)

approvals = sa.Table(
    "approvals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", _TS, nullable=False),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Index("ix_approvals_model_version", "model", "version"),
)

monitor_results = sa.Table(
    "monitor_results",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", _TS, nullable=False),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("version", sa.String(32)),
    sa.Column("window_start", _TS, nullable=False),
    sa.Column("window_end", _TS, nullable=False),
    sa.Column("n_rows", sa.Integer, nullable=False),
    sa.Column("n_labelled", sa.Integer, nullable=False),
    sa.Column("drift_detected", sa.Boolean, nullable=False),
    sa.Column("drift_share", sa.Float, nullable=False),
    sa.Column("performance_metric", sa.String(64)),
    sa.Column("performance_value", sa.Float),
    sa.Column("performance_degraded", sa.Boolean, nullable=False),
    sa.Column("report_path", sa.Text),
    sa.Column("summary", sa.JSON, nullable=False),
    # the summary without histograms and distances (opsloop.core.digest): history views
    sa.Column("digest", sa.JSON),
    sa.Index("ix_monitor_model_id", "model", "id"),
    sa.Index("ix_monitor_model_window", "model", "version", "window_end"),
    sa.Index("ix_monitor_model_end", "model", "window_end", "id"),  # every version, by time
)

trigger_firings = sa.Table(
    "trigger_firings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", _TS, nullable=False),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("trigger", sa.String(64), nullable=False),
    sa.Column("key", sa.String(256), nullable=False),
    sa.Column("evidence", sa.JSON, nullable=False),
    sa.UniqueConstraint("model", "trigger", "key", name="uq_trigger_key"),
)

pipeline_runs = sa.Table(
    "pipeline_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("pipeline", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started", _TS, nullable=False),
    sa.Column("finished", _TS),
    sa.Column("trigger", sa.String(256)),
    sa.Column("error", sa.Text),
    sa.Column("stages", sa.JSON, nullable=False),
    sa.Column("result", sa.JSON, nullable=False),
    sa.Column("heartbeat", _TS),
    sa.Index("ix_runs_model_id", "model", "id"),
)

rollouts = sa.Table(
    "rollouts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("env", sa.String(64), nullable=False),
    sa.Column("strategy", sa.String(32), nullable=False),
    sa.Column("stable_version", sa.String(32), nullable=False),
    sa.Column("candidate_version", sa.String(32), nullable=False),
    sa.Column("steps", sa.JSON, nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("share", sa.Float, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started", _TS, nullable=False),
    sa.Column("step_started", _TS, nullable=False),
    sa.Column("finished", _TS),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("settings", sa.JSON, nullable=False),
    sa.Column("analysis", sa.JSON, nullable=False),
    sa.Column("analysed", _TS),
    sa.Index("ix_rollouts_model_env_id", "model", "env", "id"),
)

serve_stats = sa.Table(
    "serve_stats",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", _TS, nullable=False),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("env", sa.String(64), nullable=False),
    sa.Column("replica", sa.String(128), nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("route", sa.String(16), nullable=False),
    sa.Column("requests", sa.Integer, nullable=False),
    sa.Column("errors", sa.Integer, nullable=False),
    sa.Column("latency", sa.JSON, nullable=False),
    sa.Index("ix_serve_stats_model_ts", "model", "env", "ts"),
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("holder", sa.String(256), nullable=False),
    sa.Column("token", sa.Integer, nullable=False),
    sa.Column("acquired", _TS, nullable=False),
    sa.Column("renewed", _TS, nullable=False),
    sa.Column("expires", _TS, nullable=False),
)

cursors = sa.Table(
    "cursors",
    metadata,
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
    sa.Column("updated", _TS, nullable=False),
)

data_arrivals = sa.Table(
    "data_arrivals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("source", sa.String(256), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("ts", _TS, nullable=False),
    sa.Column("recorded", _TS, nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.UniqueConstraint("model", "source", "seq", name="uq_data_arrivals_seq"),
    sa.Index("ix_data_arrivals_model_ts", "model", "ts"),
)

# One row per finished batch prediction (`opsloop predict`): what was scored, by which
# version, from which input, into which folder. A killed job leaves no row (and no output).
batch_runs = sa.Table(
    "batch_runs",
    metadata,
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
    sa.Index("ix_batch_runs_model_id", "model", "id"),
)

# Which batch run readers see (`--publish`, `opsloop batch rollback`): one row per revision
# of a model's published output; the newest is current.
batch_publications = sa.Table(
    "batch_publications",
    metadata,
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
