"""`retrain:` (triggers), `agent:` and `notify:` — what the agent and external
orchestrators act on."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal, get_args

from pydantic import Field, field_validator, model_validator

from opsloop.config.base import ConfigModel, Duration, check_cron

RetrainOn = Literal[
    "drift", "performance", "estimated_performance", "schedule", "new_data", "labels", "quality"
]
RETRAIN_TRIGGERS: tuple[str, ...] = get_args(RetrainOn)  # what `retrain.on` may list


class NewDataConfig(ConfigModel):
    """New-data events from NATS JetStream: each message is JSON saying how many new rows
    arrived (`{"rows": 250}`); when the rows since the last training reach `min_rows`, the
    `new_data` trigger fires."""

    nats: str = Field(
        default="nats://127.0.0.1:4222", description="NATS server URL(s), comma-separated."
    )
    subject: str = Field(min_length=1, description="Subject the producers publish to.")
    stream: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description=(
            "JetStream stream holding the subject; created if no stream binds the subject "
            "(default OPSLOOP_<MODEL>_NEW_DATA)."
        ),
    )
    durable: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description=(
            "Durable consumer name (default opsloop-<model>): the broker keeps its position "
            "while the agent is down."
        ),
    )
    min_rows: int = Field(
        default=1000, ge=1, description="New rows since the last training that fire the trigger."
    )
    batch: int = Field(default=500, ge=1, le=10_000, description="Most messages read per tick.")


class LabelsTriggerConfig(ConfigModel):
    """The `labels` trigger: fires when this many labelled rows arrived (agent inbox or
    `opsloop labels add`) since the last training started."""

    min_rows: int = Field(
        default=1000, ge=1, description="New labels since the last training that fire the trigger."
    )


class RetrainConfig(ConfigModel):
    on: tuple[RetrainOn, ...] = ("drift", "performance")
    schedule: str | None = None
    training_window: Duration = timedelta(days=30)
    anchor: Literal["now", "data"] = Field(
        default="now",
        description="Where a training window ends by default: `now` (the clock), or `data` "
        "(the newest event time_column value of the data load() returns, so that a history "
        "that stopped in the past is still trained on).",
    )
    warn_row_share: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Warn (`training_data_shrank`) when load() returns fewer rows than this "
        "share of the rows the champion was trained on; 0 turns the warning off.",
    )
    cooldown: Duration = timedelta(hours=1)
    retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Extra attempts of the load "
        "stage when the user's load() raises (transient I/O errors).",
    )
    backoff: Duration = Field(
        default=timedelta(seconds=5),
        description="Wait before the first retry; doubled for each further one.",
    )
    new_data: NewDataConfig | None = None
    labels: LabelsTriggerConfig = LabelsTriggerConfig()

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else check_cron(value)

    @model_validator(mode="after")
    def _new_data(self) -> RetrainConfig:
        if "new_data" in self.on and self.new_data is None:
            raise ValueError("on: new_data needs a new_data: {subject: ..., min_rows: ...} section")
        return self


class AgentConfig(ConfigModel):
    """The agent's lease (one acting agent per model and ops store) and crash detection."""

    lease_ttl: Duration = Field(
        default=timedelta(seconds=60),
        description=(
            "How long the agent's lease lasts without renewal; a dead agent's lease is taken "
            "over after it expires."
        ),
    )
    heartbeat_interval: Duration = Field(
        default=timedelta(seconds=10),
        description=("How often a running pipeline stage records a heartbeat."),
    )
    heartbeat_timeout: Duration = Field(
        default=timedelta(minutes=2),
        description=(
            "A running pipeline whose heartbeat is older than this is marked failed (crashed)."
        ),
    )
    resume_crashed: bool = Field(
        default=True,
        description="Re-run a crashed training pipeline once, on the same data window.",
    )

    @model_validator(mode="after")
    def _timeouts(self) -> AgentConfig:
        if self.heartbeat_timeout < 2 * self.heartbeat_interval:
            raise ValueError(
                "heartbeat_timeout must be at least twice heartbeat_interval "
                "(a single late beat must not declare a run crashed)"
            )
        return self


class WebhookConfig(ConfigModel):
    url: str = Field(pattern=r"^https?://", description="Slack-compatible incoming webhook.")
    events: tuple[str, ...] = Field(
        default=(
            "drift_detected",
            "performance_degraded",
            "performance_estimated_degraded",
            "quality_failed",
            "rolled_back",
            "approval_pending",
            "promoted",
            "training_failed",
        ),
        description="Event kinds posted to this webhook.",
    )
    timeout: Duration = timedelta(seconds=10)


class NotifyConfig(ConfigModel):
    webhooks: tuple[WebhookConfig, ...] = ()
    retries: int = Field(default=3, ge=0, le=20, description="Extra attempts of a failed delivery.")
    backoff: Duration = Field(
        default=timedelta(seconds=2),
        description="Wait before the first retry; doubled for each further one.",
    )
