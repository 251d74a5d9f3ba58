"""`predict:` — the project's batch prediction (`opsloop predict` without options, the
agent on `schedule`, the Airflow batch-prediction DAG)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from opsloop.config.base import ConfigModel, check_cron


class PredictConfig(ConfigModel):
    """What a scheduled batch prediction scores, with which version, and where it writes.
    Paths are relative to the project folder."""

    input: str = Field(
        min_length=1,
        description="Rows to score: a Parquet or CSV file, a glob, a folder of Parquet "
        "files, or a DuckDB query written 'sql:SELECT …'.",
    )
    output: str = Field(
        min_length=1,
        description="Folder of the output: each run writes Parquet under "
        "<output>/run=<run id>/ (and `current.json` when published).",
    )
    schedule: str | None = Field(
        default=None,
        description="Cron expression (UTC) on which the agent runs it, e.g. '0 2 * * *'; "
        "none: only when asked.",
    )
    alias: Literal["champion", "challenger"] | None = Field(
        default=None,
        description="Score with the version holding this alias (default: the deployed one).",
    )
    publish: bool = Field(
        default=True, description="Make each scheduled run the current output for readers."
    )
    engine: Literal["duckdb", "spark"] | None = Field(
        default=None,
        description="Where the job scores: duckdb (in process) or spark (on stack.spark.master); "
        "default: the stack's engine.",
    )
    batch_rows: int = Field(
        default=65_536,
        ge=1_000,
        le=10_000_000,
        description="Rows per Arrow record batch read from the input and scored at once.",
    )
    republish_on_rollback: bool = Field(
        default=True,
        description="When the model is rolled back (`opsloop rollback`), make the batch "
        "output last published for the version it returns to current again.",
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else check_cron(value)
