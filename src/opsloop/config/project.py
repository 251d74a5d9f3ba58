"""`data:`, `split:`, `stacks:` and the whole `opsloop.yaml` (`ProjectConfig`); reading and
validating the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from opsloop.config.base import CONFIG_FILE, TASK_METRICS, ConfigModel, Task, format_duration
from opsloop.config.batch import PredictConfig
from opsloop.config.deploy import DeployConfig, ServeConfig, UIConfig
from opsloop.config.gate import GateConfig
from opsloop.config.monitor import MonitorConfig
from opsloop.config.orchestrate import AgentConfig, NotifyConfig, RetrainConfig
from opsloop.config.ranking import HISTORY_SLICE, RankingConfig
from opsloop.errors import ConfigError


class QualityConfig(ConfigModel):
    """Preconditions on training data, checked before fitting (with the pandera contract)."""

    min_rows: int = Field(default=100, ge=1, description="Fewest rows worth training on.")
    max_missing: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Largest share of missing values in any feature."
    )
    min_class_rows: int = Field(
        default=5, ge=0, description="Fewest rows of each class (classification)."
    )


class InboxConfig(ConfigModel):
    """A folder the agent watches for label files: each tick ingests the new CSV/Parquet
    files matching `path` once (like `opsloop labels add`) and moves them to `processed`;
    a file it cannot ingest goes to `rejected` with a `labels_rejected` event."""

    path: str = Field(
        min_length=1,
        description="Glob relative to the project, e.g. "
        "'inbox/*.csv'. Write files under another name and rename them in: "
        "names starting with '.' or ending in '.tmp' are skipped.",
    )
    processed: str = Field(
        default=".opsloop/inbox/processed",
        description="Folder (relative to the project) ingested files are moved to.",
    )
    rejected: str = Field(
        default=".opsloop/inbox/rejected",
        description="Folder (relative to the project) files that cannot be ingested are moved to.",
    )


class FeedbackConfig(ConfigModel):
    """Labelled production traffic as training data: the prediction log joined with the
    labels on the id column, selected by event time in the training window, added to
    load()'s rows (`opsloop.train.feedback`). `data.feedback: true` is short for
    `{enabled: true}`."""

    enabled: bool = Field(
        default=False, description="Add the window's labelled production rows to training."
    )
    max_rows: int | None = Field(
        default=None,
        ge=1,
        description="Most feedback rows per training (the newest by event time); none: all.",
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, bool):
            return {"enabled": data}
        if not isinstance(data, dict | FeedbackConfig):
            raise ValueError(
                "expected true, false or a mapping such as {enabled: true, max_rows: 50000}"
            )
        return data


class DataConfig(ConfigModel):
    """Where ground truth comes from besides `opsloop labels add`; whether labelled
    production traffic is training data; training data quality."""

    labels: str | None = Field(
        default=None,
        description="Glob of Parquet files (relative to the project) with id column + target.",
    )
    inbox: InboxConfig | None = Field(
        default=None, description="Label files the agent ingests on each tick."
    )
    feedback: FeedbackConfig = FeedbackConfig()
    quality: QualityConfig = QualityConfig()


class SplitConfig(ConfigModel):
    holdout: float = Field(
        default=0.2, gt=0.0, lt=0.9, description="Share of the most recent rows held out."
    )


class MlflowServerConfig(ConfigModel):
    """The `mlflow server` that `opsloop stack up` starts on this machine for trying a team
    stack out (its address is the stack's `tracking_uri`). A real team runs its own server;
    `opsloop stack check` verifies either."""

    backend_store_uri: str | None = Field(
        default=None,
        description="The server's database, e.g. postgresql://postgres@127.0.0.1:5432/"
        "opsloop_mlflow (created if missing). Default: the ops store's PostgreSQL server, "
        "database `<ops store database>_mlflow`.",
    )
    artifacts_destination: str = Field(
        default=".opsloop/mlflow-artifacts",
        min_length=1,
        description="Where the server stores artifacts (a folder relative to the project, "
        "or a URI such as s3://bucket/path); clients reach them through the server "
        "(`--serve-artifacts`) and hold no storage credentials.",
    )


class SparkConfig(ConfigModel):
    """The Spark engine's session (`stack.engine: spark`): where it runs and its settings.
    The same project runs on a laptop (`local[*]`) and a cluster by changing only this."""

    master: str = Field(
        default="local[*]",
        min_length=1,
        description="Spark master URL, passed through unchanged: local[*], local[2], "
        "spark://host:7077, yarn, k8s://https://…, or Spark Connect sc://host:15002.",
    )
    conf: dict[str, str] = Field(
        default_factory=dict,
        description="Spark settings for the session, e.g. {spark.executor.memory: 4g}.",
    )


class StackConfig(ConfigModel):
    """Where things live. Empty fields take the embedded default under `.opsloop/`; with an
    `http(s)://` tracking server, an empty `artifact_location` leaves artifacts to it."""

    tracking_uri: str | None = None
    registry_uri: str | None = None
    artifact_location: str | None = None
    ops_store: str | None = None
    prediction_log: str | None = None
    engine: Literal["duckdb", "spark"] = "duckdb"
    spark: SparkConfig = SparkConfig()
    orchestrator: Literal["local"] = "local"
    mlflow_server: MlflowServerConfig | None = None


class ProjectConfig(ConfigModel):
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
    agent: AgentConfig = AgentConfig()
    notify: NotifyConfig = NotifyConfig()
    serve: ServeConfig = ServeConfig()
    ui: UIConfig = UIConfig()
    predict: PredictConfig | None = None
    ranking: RankingConfig | None = None
    stack: str = "local"
    stacks: dict[str, StackConfig] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> ProjectConfig:
        allowed = TASK_METRICS[self.task]
        checks = [(f"gate.metrics[{i}].metric", r.metric) for i, r in enumerate(self.gate.metrics)]
        checks.append(("monitor.performance.metric", self.monitor.performance.metric))
        for where, metric in checks:
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
        self._ranking_consistent()
        return self

    def _ranking_consistent(self) -> None:
        """`task: ranking` and the `ranking:` section go together; its columns are the
        project's: id_column the user, target the item (docs/configuration.md)."""
        r = self.ranking
        if r is None:
            if self.task == "ranking":
                raise ValueError(
                    "task: ranking needs a `ranking:` section, e.g. "
                    "{user_column: user_id, item_column: item_id, k: 10}"
                )
            return
        if self.task != "ranking":
            raise ValueError(
                f"ranking: is only for task: ranking (task is {self.task}); "
                "remove the section or set task: ranking"
            )
        if self.id_column != r.user_column:
            raise ValueError(
                f"id_column ({self.id_column!r}) must be ranking.user_column "
                f"({r.user_column!r}): a recommender's lists are logged and judged per user"
            )
        if self.target != r.item_column:
            raise ValueError(
                f"target ({self.target!r}) must be ranking.item_column ({r.item_column!r}): "
                "what arrives later for a user is the item they chose"
            )
        if r.rating_column == self.time_column:
            raise ValueError("ranking.rating_column must differ from time_column")
        if self.features is not None:
            raise ValueError(
                "features: is not used by task: ranking (the recommender reads the users "
                "and items tables load() returns); remove it"
            )
        if r.holdout >= self.retrain.training_window:
            raise ValueError(
                f"ranking.holdout ({format_duration(r.holdout)}) must be shorter than "
                f"retrain.training_window ({format_duration(self.retrain.training_window)}): "
                "the model trains on the window before the holdout"
            )
        if "split" in self.model_fields_set:
            raise ValueError(
                "split: task: ranking splits by time, not by a share of rows; remove split: "
                "and set ranking.holdout (the evaluation period, e.g. 7d)"
            )
        for i, piece in enumerate(self.gate.slices):
            if piece.column is None:
                raise ValueError(
                    f"gate.slices[{i}]: task: ranking slices users by a column of the users "
                    f"table or by {HISTORY_SLICE!r} (new / returning), not by a query"
                )

    @property
    def active_stack(self) -> StackConfig:
        return self.stacks.get(self.stack, StackConfig())


def _format_validation_error(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
        loc = loc.lstrip(".") or "(top level)"
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
        "tag:yaml.org,2002:bool",
        _re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
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
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path} is not UTF-8 text",
            expected="a UTF-8 encoded YAML file",
            got=f"the byte 0x{exc.object[exc.start]:02x} on line {line}",
            fix="save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`) or remove that character",
        ) from None
    try:
        data = yaml.load(text, Loader=_yaml_loader())
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"{path} is not valid YAML: {exc}", fix="fix the YAML syntax at the line shown"
        ) from None
    return parse_config(data, source=str(path))
