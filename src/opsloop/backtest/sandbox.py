"""The sandbox a policy is replayed in: the project's configuration and code with backends of
its own in a temporary directory, so a backtest never touches the project's registry, ops
store, prediction log, labels or reports.

- registry: MLflow on SQLite in the directory (`registry="mlflow"`, the real thing) or the
  in-memory registry (`"memory"`, faster; same semantics);
- ops store: SQLite in the directory; engine: DuckDB over the directory's prediction log
  and labels (the project's `data.labels` files are not read: labels arrive only as the
  replay delivers them);
- the clock is the simulated now (`SimClock`), read by everything that asks the Runtime;
- the configuration is the project's with what a replay needs: approval `auto` and
  `blue_green` deployment (a promoted version answers the next period), monitoring by
  event time (`monitor.clock: event`).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from opsloop.config import ProjectConfig
from opsloop.errors import InvalidInputError
from opsloop.runtime import Runtime

if TYPE_CHECKING:
    from opsloop.registry.base import ModelRegistry

SandboxRegistry = Literal["mlflow", "memory"]
ACTOR = "opsloop (backtest)"


@dataclass
class SimClock:
    """The simulated now; the sandbox's Runtime reads it."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass(frozen=True)
class Sandbox:
    rt: Runtime
    clock: SimClock
    home: Path

    @property
    def prediction_root(self) -> Path:
        return self.home / "predictions"


def sandbox_config(config: ProjectConfig) -> ProjectConfig:
    return config.model_copy(
        update={
            "gate": config.gate.model_copy(update={"approval": "auto"}),
            "deploy": config.deploy.model_copy(update={"strategy": "blue_green"}),
            "monitor": config.monitor.model_copy(update={"clock": "event"}),
        }
    )


def _registry(kind: SandboxRegistry, home: Path) -> ModelRegistry:
    if kind == "memory":
        from opsloop.registry.memory import MemoryRegistry

        return MemoryRegistry()
    if kind == "mlflow":
        from opsloop.registry.mlflow import MlflowRegistry

        registry = MlflowRegistry(
            f"sqlite:///{home / 'mlflow.db'}", artifact_location=str(home / "artifacts")
        )
        registry.initialise()
        return registry
    raise InvalidInputError(
        f"unknown sandbox registry {kind!r}", expected="mlflow or memory", got=repr(kind)
    )


@contextmanager
def open_sandbox(
    config: ProjectConfig, root: Path, *, start: datetime, registry: SandboxRegistry = "mlflow"
) -> Iterator[Sandbox]:
    """A sandbox for the project at `root` (its configuration `config` and code), its clock
    at `start`; removed on exit."""
    from opsloop.engines import create_engine
    from opsloop.store.sql import OpsStore

    home = Path(tempfile.mkdtemp(prefix=f"opsloop-backtest-{config.model}-"))
    store: OpsStore | None = None
    try:
        config = sandbox_config(config)
        clock = SimClock(start)
        store = OpsStore(f"sqlite:///{home / 'ops.db'}")
        engine = create_engine(
            "duckdb",
            prediction_root=home / "predictions",
            labels_root=home / "labels",
            extra_labels_glob=None,
            id_column=config.id_column,
            target=config.target,
        )
        sandboxed = Runtime(
            config,
            root,
            _registry(registry, home),
            store,
            engine,
            clock=clock,
            actor=ACTOR,
            home=home,
        )
        yield Sandbox(sandboxed, clock, home)
    finally:
        if store is not None:
            store.close()
        shutil.rmtree(home, ignore_errors=True)
