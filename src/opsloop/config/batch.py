"""`predict:` — the project's batch prediction (`opsloop predict` without options, the
agent on `schedule`, the Airflow batch-prediction DAG)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import Field, field_validator

from opsloop.config.base import ConfigModel, check_cron
from opsloop.redact import MASK, redact

OUTPUT_TABLE_FORM = "postgresql://[USER[:PASSWORD]@]HOST[:PORT]/DATABASE?table=[SCHEMA.]NAME"
RUN_TABLE_INFIX = "__run_"
_RUN_ID_CHARS = 23  # batch.predict.new_run_id: 20261207T020000Z-4f1c2a
MAX_TABLE_NAME = 63 - len(RUN_TABLE_INFIX) - _RUN_ID_CHARS  # PostgreSQL names: 63 bytes
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class OutputTable:
    """Where a batch prediction also writes its rows in PostgreSQL (`predict.output_table`,
    `opsloop predict --output-table`): readers query the view `schema.name`; each run's
    rows are a table of their own beside it (`run_table`), and publishing re-points the
    view (docs/batch.md). `url` is the libpq URL without `table` (it may hold a password:
    never shown); `shown` is the whole target with any password masked."""

    url: str = field(repr=False)
    schema: str
    name: str
    shown: str

    @property
    def view(self) -> str:
        return f"{self.schema}.{self.name}"

    def run_table(self, run_id: str) -> str:
        """The name (unqualified) of `run_id`'s table: ``name__run_<run id, lower case>``."""
        return f"{self.name}{RUN_TABLE_INFIX}{run_id.lower().replace('-', '_')}"

    def without_password(self) -> OutputTable:
        """The same target with the password left to libpq (PGPASSWORD, ~/.pgpass): how a
        target recorded with its password masked is reached again."""
        parts = urlsplit(self.url)
        netloc = parts.netloc
        if parts.password is not None:
            user, _, host = netloc.rpartition("@")
            netloc = f"{user.partition(':')[0]}@{host}"
        query = [(k, v) for k, v in parse_qsl(parts.query) if v != MASK]
        url = urlunsplit(parts._replace(netloc=netloc, query=urlencode(query)))
        return OutputTable(url, self.schema, self.name, self.shown)


def parse_output_table(text: str) -> OutputTable:
    """`text` (`OUTPUT_TABLE_FORM`) as an `OutputTable`; ValueError saying what is wrong."""
    shown = redact(text)
    parts = urlsplit(text)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"expected {OUTPUT_TABLE_FORM}, got {shown!r}")
    if not parts.path.strip("/") or not parts.hostname:
        raise ValueError(f"{shown!r} names no host or database; expected {OUTPUT_TABLE_FORM}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    tables = [v for k, v in query if k == "table"]
    if len(tables) != 1:
        raise ValueError(
            f"{shown!r} has {len(tables)} table= parameter(s); expected one: {OUTPUT_TABLE_FORM}"
        )
    schema, _, name = tables[0].rpartition(".")
    schema = schema or "public"
    for label, ident, longest in (("schema", schema, 63), ("table", name, MAX_TABLE_NAME)):
        if not _IDENTIFIER.match(ident) or len(ident) > longest:
            raise ValueError(
                f"the {label} name {ident!r} must be lower-case letters, digits and _ (so "
                f"readers query it unquoted), starting with a letter or _, at most {longest} "
                "characters (each run's table adds __run_<run id> to the table name)"
            )
    rest = [(k, v) for k, v in query if k != "table"]
    url = urlunsplit(parts._replace(scheme="postgresql", query=urlencode(rest)))
    shown = redact(url) + ("&" if rest else "?") + f"table={schema}.{name}"
    return OutputTable(url, schema, name, shown)


def check_output_table(value: str) -> str:
    parse_output_table(value)
    return value


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
    output_table: str | None = Field(
        default=None,
        description="Also write every run's rows to PostgreSQL: " + OUTPUT_TABLE_FORM + ". "
        "Readers query the view [SCHEMA.]NAME, which publishing and rollbacks re-point; each "
        "run is a table NAME__run_<run id>. Keep the password in PGPASSWORD or ~/.pgpass.",
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

    @field_validator("output_table")
    @classmethod
    def _output_table(cls, value: str | None) -> str | None:
        return None if value is None else check_output_table(value)
