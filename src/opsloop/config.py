"""opsloop.yaml as pydantic models.

`load_config(path)` reads and validates the file; any wrong key or value becomes one
`ConfigError` naming the field, what was expected and what came. Settings are built once
at the edge (CLI, server) and passed down; core code never reads ``os.environ``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)

from opsloop.errors import ConfigError

CONFIG_FILE = "opsloop.yaml"

Task = Literal["binary_classification", "multiclass_classification", "regression"]

# Metrics per task; "higher is better" unless listed in LOWER_IS_BETTER.
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "binary_classification": ("roc_auc", "accuracy", "f1", "precision", "recall", "log_loss"),
    "multiclass_classification": ("accuracy", "f1_macro", "log_loss"),
    "regression": ("rmse", "mae", "r2"),
}
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(value: object) -> timedelta:
    """Parse ``"90s"``, ``"15m"``, ``"1h"``, ``"30d"``, ``"2w"`` (or seconds as a number)."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=float(value))
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    raise ValueError(
        f"expected a duration such as '90s', '15m', '1h', '30d' or '2w', got {value!r}"
    )


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


Duration = Annotated[
    timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Model):
    """Where ground truth comes from besides `opsloop labels add`."""

    labels: str | None = Field(
        default=None,
        description="Glob of Parquet files (relative to the project) with id column + target.",
    )


class SplitConfig(_Model):
    holdout: float = Field(
        default=0.2, gt=0.0, lt=0.9, description="Share of the most recent rows held out."
    )


class GateConfig(_Model):
    metric: str = "roc_auc"
    policy: Literal["non_inferiority", "superiority"] = "non_inferiority"
    margin: float = Field(default=0.005, ge=0.0, description="δ: allowed loss or required gain.")
    floor: float | None = Field(default=None, description="Absolute minimum for the metric.")
    approval: Literal["auto", "manual"] = "auto"


class DeployConfig(_Model):
    strategy: Literal["blue_green"] = "blue_green"


class DriftConfig(_Model):
    psi_threshold: float = Field(default=0.2, gt=0.0)
    p_value: float = Field(default=0.01, gt=0.0, lt=1.0)
    share: float = Field(
        default=0.3, gt=0.0, le=1.0, description="Share of drifted features that means drift."
    )
    min_rows: int = Field(default=100, ge=1)


class PerformanceConfig(_Model):
    metric: str = "roc_auc"
    floor: float | None = None
    min_labels: int = Field(default=100, ge=1)


class MonitorConfig(_Model):
    schedule: str = "*/15 * * * *"
    window: Duration = timedelta(hours=1)
    drift: DriftConfig = DriftConfig()
    performance: PerformanceConfig = PerformanceConfig()

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        return _check_cron(value)


class RetrainConfig(_Model):
    on: tuple[Literal["drift", "performance", "schedule"], ...] = ("drift", "performance")
    schedule: str | None = None
    training_window: Duration = timedelta(days=30)
    cooldown: Duration = timedelta(hours=1)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else _check_cron(value)


class ServeConfig(_Model):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    reload_interval: Duration = timedelta(seconds=2)
    log_flush_interval: Duration = timedelta(seconds=2)
    log_max_queue: int = Field(default=100_000, ge=1)


class StackConfig(_Model):
    """Where things live. Empty fields take the embedded default under `.opsloop/`."""

    tracking_uri: str | None = None
    registry_uri: str | None = None
    artifact_location: str | None = None
    ops_store: str | None = None
    prediction_log: str | None = None
    engine: Literal["duckdb"] = "duckdb"
    orchestrator: Literal["local"] = "local"


class ProjectConfig(_Model):
    model: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
    task: Task = "binary_classification"
    target: str
    id_column: str
    time_column: str
    code: str = "model.py"
    features: tuple[str, ...] | None = None
    data: DataConfig = DataConfig()
    split: SplitConfig = SplitConfig()
    gate: GateConfig = GateConfig()
    deploy: DeployConfig = DeployConfig()
    monitor: MonitorConfig = MonitorConfig()
    retrain: RetrainConfig = RetrainConfig()
    serve: ServeConfig = ServeConfig()
    stack: str = "local"
    stacks: dict[str, StackConfig] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> ProjectConfig:
        allowed = TASK_METRICS[self.task]
        for where, metric in (("gate.metric", self.gate.metric),
                              ("monitor.performance.metric", self.monitor.performance.metric)):
            if metric not in allowed:
                raise ValueError(
                    f"{where}: {metric!r} is not a {self.task} metric; "
                    f"expected one of {', '.join(allowed)}"
                )
        special = {self.target, self.id_column, self.time_column}
        if len(special) != 3:
            raise ValueError("target, id_column and time_column must be three different columns")
        if self.features is not None and special & set(self.features):
            raise ValueError("features must not include the target, id_column or time_column")
        if self.stack != "local" and self.stack not in self.stacks:
            raise ValueError(
                f"stack: {self.stack!r} is not defined; expected 'local' or one of "
                f"{sorted(self.stacks) or 'the names under stacks:'}"
            )
        return self

    @property
    def active_stack(self) -> StackConfig:
        return self.stacks.get(self.stack, StackConfig())


def _check_cron(value: str) -> str:
    from croniter import croniter  # small, but only needed when a schedule is given

    if not croniter.is_valid(value):
        raise ValueError(
            f"expected a 5-field cron expression such as '*/15 * * * *', got {value!r}"
        )
    return value


def _format_validation_error(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key; check the spelling against docs/configuration.md"
        elif err["type"] == "missing":
            msg = "required key is missing"
        got = err.get("input")
        got_text = "" if err["type"] == "missing" or isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"{loc}: {msg}{got_text}")
    return f"{source}: " + "; ".join(lines)


def parse_config(data: Any, *, source: str = CONFIG_FILE) -> ProjectConfig:
    """Validate a mapping as a project configuration."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source} is not a mapping",
            expected="YAML keys such as 'model:', 'target:', 'id_column:'",
            got=type(data).__name__,
            fix="start from `opsloop init PATH --example churn`",
        )
    try:
        return ProjectConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            _format_validation_error(exc, source),
            fix="correct the field(s) named above in opsloop.yaml",
        ) from None


def _yaml_loader() -> Any:
    """A SafeLoader with YAML 1.2 booleans: only true/false, so `on:` stays a key (YAML 1.1
    would read `retrain: {on: [drift]}` as `{True: [drift]}`)."""
    import re as _re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    resolvers = {
        first: [(tag, regexp) for tag, regexp in entries if tag != "tag:yaml.org,2002:bool"]
        for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.yaml_implicit_resolvers = resolvers
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", _re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
        list("tTfF"),
    )
    return Loader


def load_config(path: Path) -> ProjectConfig:
    """Read and validate ``opsloop.yaml``."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = yaml.load(text, Loader=_yaml_loader())
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"{path} is not valid YAML: {exc}", fix="fix the YAML syntax at the line shown"
        ) from None
    return parse_config(data, source=str(path))
