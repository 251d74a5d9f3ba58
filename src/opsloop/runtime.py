"""The Runtime: a project's configuration, paths and backends, handed to every subsystem.

`Project` (the public façade) builds one; train/, gate/, deploy/, monitor/ and orchestrate/
take it as an argument, so no subsystem imports the façade ("upward"). Tests build one with
in-memory backends (`MemoryRegistry`, `OpsStore("sqlite://")`, `MemoryEngine`).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from opsloop.config import ProjectConfig, StackConfig
from opsloop.errors import StateError, UserCodeError

if TYPE_CHECKING:
    import pandas as pd

    from opsloop.data.window import Window
    from opsloop.engines.base import Engine
    from opsloop.registry.base import ModelRegistry
    from opsloop.store.sql import OpsStore


@dataclass(frozen=True)
class Paths:
    """Where the embedded default keeps things, under `<project>/.opsloop/`."""

    root: Path
    # elsewhere than `<root>/.opsloop` (a backtest's sandbox: a temporary directory)
    home_dir: Path | None = None

    @property
    def home(self) -> Path:
        return self.home_dir if self.home_dir is not None else self.root / ".opsloop"

    @property
    def predictions(self) -> Path:
        return self.home / "predictions"

    @property
    def labels(self) -> Path:
        return self.home / "labels"

    @property
    def reports(self) -> Path:
        return self.home / "reports"

    @property
    def artifacts(self) -> Path:
        return self.home / "artifacts"


def resolve_stack(config: ProjectConfig, paths: Paths) -> StackConfig:
    """Fill the active stack's empty fields with the embedded defaults."""
    stack = config.active_stack
    mlflow_db = f"sqlite:///{paths.home / 'mlflow.db'}"
    tracking = stack.tracking_uri or mlflow_db
    # A tracking server decides where artifacts go (its proxied artifact root): clients
    # then hold no storage path or credentials. A database URI needs a folder here.
    on_server = tracking.startswith(("http://", "https://"))
    return stack.model_copy(
        update={
            "tracking_uri": tracking,
            "registry_uri": stack.registry_uri or stack.tracking_uri or mlflow_db,
            "artifact_location": stack.artifact_location
            or (None if on_server else str(paths.artifacts)),
            "ops_store": stack.ops_store or f"sqlite:///{paths.home / 'ops.db'}",
            "prediction_log": _local_path(paths, stack.prediction_log) or str(paths.predictions),
        }
    )


def _local_path(paths: Paths, location: str | None) -> str | None:
    """A relative folder is the project's (servers and agents run from anywhere)."""
    if not location or "://" in location or Path(location).is_absolute():
        return location
    return str(paths.root / location)


# The tasks the whole pipeline (train, gate, deploy, serve, monitor, predict) runs.
PIPELINE_TASKS = ("binary_classification", "multiclass_classification", "regression")

# The commands that run for `task: ranking` (docs/ranking.md): training and its gate, the
# decisions on versions (a ranking model's deployment is becoming champion: it is not
# served, its lists are), visits as labels, the monitor and the agent's tick, the nightly
# top-k lists (`predict`) and their publication (`batch`). Every other acting command
# refuses a ranking project in one line.
RANKING_COMMANDS = frozenset(
    {
        "train",
        "retrain",
        "gate",
        "approve",
        "reject",
        "promote",
        "rollback",
        "store",
        "labels",
        "monitor",
        "agent",
        "predict",
        "batch",
    }
)
_NOT_SERVED = frozenset({"serve", "deploy", "rollout"})  # their refusal points to `promote`


def check_pipeline_task(config: ProjectConfig, command: str) -> None:
    """StateError unless `opsloop <command>` runs the project's task; called at the entry
    of every acting command (the CLI's, and `Project`'s methods)."""
    if config.task in PIPELINE_TASKS:
        return
    if config.task == "ranking" and command in RANKING_COMMANDS:
        return
    supported = ", ".join(sorted(RANKING_COMMANDS))
    fix = (
        "see docs/ranking.md for what runs today; read-only commands such as `opsloop status` work"
    )
    if config.task == "ranking" and command in _NOT_SERVED:
        fix = (
            "a ranking model is not served, so it is not deployed or rolled out: make a "
            f"version champion with `opsloop promote {config.model} VERSION` ({fix})"
        )
    raise StateError(
        f"model {config.model!r} has task: {config.task}, which `opsloop {command}` does not "
        "run yet",
        expected=f"a command that runs ranking models ({supported}) or task "
        f"{', '.join(PIPELINE_TASKS)}",
        fix=fix,
    )


@dataclass
class Runtime:
    config: ProjectConfig
    root: Path
    registry: ModelRegistry
    store: OpsStore
    engine: Engine
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    actor: str = "opsloop"
    # where reports and labels go when not `<root>/.opsloop` (a backtest's sandbox)
    home: Path | None = None

    @property
    def paths(self) -> Paths:
        return Paths(self.root, self.home)

    @property
    def model(self) -> str:
        return self.config.model

    def now(self) -> datetime:
        return self.clock()

    # ---- the user's code ---------------------------------------------------------
    @cached_property
    def user_module(self) -> ModuleType:
        path = (self.root / self.config.code).resolve()
        if not path.is_file():
            raise UserCodeError(
                f"the project's code file {self.config.code!r} does not exist",
                expected=f"a Python file at {path} defining load(window) and build()",
                fix="create it or set `code:` in opsloop.yaml",
            )
        name = f"opsloop_user_{abs(hash(str(path)))}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise UserCodeError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # pickling user-defined classes needs the module registered
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise UserCodeError(
                f"importing {self.config.code} failed: {type(exc).__name__}: {exc}",
                fix="run `python " + str(path) + "` to see the full error",
            ) from exc
        for fn in ("load", "build"):
            if not callable(getattr(module, fn, None)):
                raise UserCodeError(
                    f"{self.config.code} does not define {fn}()",
                    expected="functions load(window) -> DataFrame and build() -> estimator",
                )
        return module

    def call_load(self, window: Window) -> Any:
        """What the user's load(window) returns, unchecked; a UserCodeError chained to the
        exception it raised (`train.load` retries those)."""
        module = self.user_module  # its own errors (import, missing functions) stay as they are
        try:
            return module.load(window)
        except Exception as exc:
            raise UserCodeError(
                f"load(window) in {self.config.code} raised {type(exc).__name__}: {exc}",
                fix="fix the function; it gets a window with .start and .end (UTC datetimes)",
            ) from exc

    def load_data(self, window: Window) -> pd.DataFrame:
        import pandas as pd

        frame = self.call_load(window)
        if not isinstance(frame, pd.DataFrame):
            raise UserCodeError(
                f"load(window) in {self.config.code} returned the wrong type",
                expected="a pandas DataFrame",
                got=type(frame).__name__,
            )
        return frame

    def build_estimator(self) -> Any:
        """build()'s fresh estimator: fit + predict, or for `task: ranking` a recommender
        (fit + recommend: `opsloop.ranking.models.Recommender`)."""
        module = self.user_module
        try:
            estimator = module.build()
        except Exception as exc:
            raise UserCodeError(
                f"build() in {self.config.code} raised {type(exc).__name__}: {exc}"
            ) from exc
        ranking = self.config.task == "ranking"
        needs = ("fit", "recommend") if ranking else ("fit", "predict")
        if not all(hasattr(estimator, name) for name in needs):
            raise UserCodeError(
                f"build() in {self.config.code} returned something that is not "
                + ("a recommender" if ranking else "an estimator"),
                expected="an unfitted recommender (fit(data) + recommend(data, users, k), e.g. "
                "opsloop.ranking.models.TwoStageRecommender)"
                if ranking
                else "an unfitted scikit-learn-compatible estimator (fit + predict)",
                got=type(estimator).__name__,
            )
        return estimator
