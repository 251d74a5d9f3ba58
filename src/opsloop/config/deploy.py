"""`deploy:` (strategies, rollout analysis) and `serve:` (workers, batching, admin token)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator

from opsloop.config.base import ConfigModel, Duration

LOG_FLUSH_BYTES = 8 * 1024 * 1024
"""`serve.log_flush_bytes`: the prediction log's queue is flushed early past this size."""


class AnalysisConfig(ConfigModel):
    """What a rollout step must show before it advances; a breach rolls back at once."""

    interval: Duration = Field(
        default=timedelta(seconds=10),
        description="How often the controller analyses a running step.",
    )
    min_requests: int = Field(
        default=50, ge=1, description="Candidate requests needed before a step can pass."
    )
    max_error_rate: float = Field(
        default=0.01,
        ge=0.0,
        le=1.0,
        description="Largest share of candidate requests that may fail.",
    )
    max_p99_ratio: float | None = Field(
        default=2.0,
        gt=0.0,
        description="Largest candidate p99 prediction latency as a multiple of stable's.",
    )
    max_p99: Duration | None = Field(
        default=None, description="Largest candidate p99 prediction latency (absolute)."
    )
    latency_min_requests: int = Field(
        default=200,
        ge=1,
        description="Requests of each "
        "version before a p99 is judged (below ~100 a p99 is "
        "the single slowest request).",
    )
    max_divergence: float | None = Field(
        default=0.2,
        gt=0.0,
        le=1.0,
        description=(
            "Largest Jensen-Shannon distance (base 2) between the candidate's and stable's "
            "prediction distributions over the step."
        ),
    )
    performance_margin: float | None = Field(
        default=0.02,
        ge=0.0,
        description=(
            "With labels, the candidate's monitor.performance.metric may trail stable's by at "
            "most this much."
        ),
    )
    min_labels: int = Field(
        default=50,
        ge=1,
        description="Labelled rows per version needed before live performance is judged.",
    )


class DeployConfig(ConfigModel):
    strategy: Literal["blue_green", "canary", "shadow"] = "blue_green"
    steps: tuple[float, ...] = Field(
        default=(10.0, 50.0, 100.0),
        description="Canary: percent of traffic on the candidate at each step.",
    )
    bake: Duration = Field(
        default=timedelta(minutes=5),
        description="Time each canary step (or the shadow phase) runs before it can pass.",
    )
    shadow_share: float = Field(
        default=100.0,
        gt=0.0,
        le=100.0,
        description="Shadow: percent of requests mirrored to the candidate.",
    )
    rollback_window: Duration = Field(
        default=timedelta(minutes=10),
        description=(
            "How long a server keeps the previous version loaded after a switch, so a rollback "
            "needs no load."
        ),
    )
    sticky_header: str | None = Field(
        default=None,
        description="Header whose value assigns "
        "a request to stable or candidate (default: the "
        "request id, else the first prediction id).",
    )
    analysis: AnalysisConfig = AnalysisConfig()

    @field_validator("steps")
    @classmethod
    def _steps(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        return check_canary_steps(value)


def check_canary_steps(value: tuple[float, ...]) -> tuple[float, ...]:
    """Canary steps: increasing percentages above 0 that end at 100."""
    import itertools

    if (
        not value
        or value[0] <= 0
        or value[-1] != 100
        or any(b <= a for a, b in itertools.pairwise(value))
    ):
        raise ValueError(
            "expected increasing percentages above 0 ending at 100, e.g. "
            f"[10, 50, 100]; got {[f'{v:g}' for v in value]}"
        )
    return value


class BatchingConfig(ConfigModel):
    """Adaptive micro-batching: concurrent requests to the same model are coalesced into one
    predict call (serve/batching.py)."""

    enabled: bool = False
    max_batch_size: int = Field(
        default=64,
        ge=1,
        le=100_000,
        description="Most rows in one predict call (a larger request is never split).",
    )
    max_wait: Duration = Field(
        default=timedelta(milliseconds=2),
        description="Longest a "
        "request waits for others to join its batch; only while "
        "requests arrive concurrently.",
    )

    @field_validator("max_wait")
    @classmethod
    def _wait(cls, value: timedelta) -> timedelta:
        if not timedelta(0) <= value <= timedelta(seconds=1):
            raise ValueError("max_wait must be between 0ms and 1s (e.g. '2ms')")
        return value


class ServeConfig(ConfigModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Server processes; each loads the model and follows the ops store itself.",
    )
    model_threads: int = Field(
        default=1,
        ge=0,
        le=256,
        description="Native threads "
        "(OpenMP/BLAS) a predict call may use; 0 keeps the "
        "libraries' default (one per core).",
    )
    batching: BatchingConfig = BatchingConfig()
    reload_interval: Duration = timedelta(seconds=2)
    log_flush_interval: Duration = timedelta(seconds=2)
    log_max_queue: int = Field(default=100_000, ge=1)
    log_flush_bytes: int = Field(
        default=LOG_FLUSH_BYTES,
        ge=64 * 1024,
        description="Queued prediction-log rows holding about this many bytes are written at "
        "once instead of at the next log_flush_interval: bounds a server's memory under heavy "
        "traffic (docs/benchmarks.md, serving memory).",
    )
    log_durability: Literal["batch", "request"] = Field(
        default="batch",
        description="batch: answered predictions are written every log_flush_interval (a "
        "SIGKILL loses at most that interval's rows); request: each is appended to an "
        "fsync'd journal before it is answered, so none answered is lost (docs/reliability.md).",
    )
    controller: bool = Field(
        default=True,
        description="Each server also analyses and "
        "advances running rollouts (safe with any number of replicas).",
    )
    admin_token_env: str = Field(
        default="OPSLOOP_ADMIN_TOKEN",
        description="Environment variable holding the bearer token of the admin API.",
    )
    ui: bool = Field(
        default=False,
        description="Also serve the dashboard at /ui (its settings: `ui:`).",
    )


class UIConfig(ConfigModel):
    """The dashboard (`opsloop ui`, or `serve.ui: true`). Actions need the admin token
    (`serve.admin_token_env`), given once in its login form."""

    host: str = "127.0.0.1"
    port: int = Field(default=8050, ge=0, le=65535)
    public_read: bool = Field(
        default=False,
        description="Anyone who can reach it may view the pages without logging in "
        "(actions still need the admin token).",
    )
    session_hours: float = Field(
        default=12, gt=0, le=24 * 30, description="A login lasts this long."
    )
    mlflow_ui: str | None = Field(
        default=None,
        description="Base URL of the MLflow UI for links to runs (default: the stack's "
        "tracking_uri when it is http(s)).",
    )
