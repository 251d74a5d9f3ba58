"""A Runtime built from a project folder and a stack name, without the `Project` façade.

A server worker process (`opsloop serve --workers N`) gets only the folder and the stack in
its environment; it builds the same backends `Project` builds (with these functions): the
MLflow registry, the ops store and the engine the stack names, each imported lazily.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from opsloop.config import CONFIG_FILE, ProjectConfig, StackConfig, load_config, parse_config
from opsloop.errors import ProjectNotFoundError
from opsloop.runtime import Paths, Runtime, resolve_stack

if TYPE_CHECKING:
    from opsloop.engines.base import Engine
    from opsloop.registry.base import ModelRegistry
    from opsloop.store.ports import StoreReads
    from opsloop.store.sql import OpsStore


def load_project_config(root: Path, stack: str | None = None) -> ProjectConfig:
    """`root`'s opsloop.yaml, with `stack` as the active stack when given."""
    config_path = root / CONFIG_FILE
    if not config_path.is_file():
        raise ProjectNotFoundError(
            f"no {CONFIG_FILE} in {root}",
            fix=f"run `opsloop init {root} --example churn`, or pass --project PATH",
        )
    config = load_config(config_path)
    if stack is None or stack == config.stack:
        return config
    data = config.model_dump(mode="json", exclude_unset=True, by_alias=True)
    return parse_config({**data, "stack": stack}, source=str(config_path))


def open_store(stack: StackConfig) -> OpsStore:
    """The ops store of a resolved stack (`resolve_stack`)."""
    from opsloop.store.sql import OpsStore

    assert stack.ops_store is not None
    return OpsStore(stack.ops_store)


def open_reads(stack: StackConfig) -> StoreReads | None:
    """The SQLAlchemy-free reader of a resolved stack's ops store (`store/reader.py`), or
    None when the store needs `open_store` first (new, in memory, not migrated)."""
    from opsloop.store.reader import open_reader

    assert stack.ops_store is not None
    return open_reader(stack.ops_store)


def open_registry(stack: StackConfig, paths: Paths) -> ModelRegistry:
    """The MLflow registry of a resolved stack, its database initialised once (MLflow's own
    migration races when several processes start on a new SQLite file)."""
    from opsloop.registry.mlflow import MlflowRegistry

    assert stack.tracking_uri is not None
    paths.home.mkdir(parents=True, exist_ok=True)
    registry = MlflowRegistry(
        stack.tracking_uri,
        registry_uri=stack.registry_uri,
        artifact_location=stack.artifact_location,
    )
    registry.initialise()
    return registry


def open_engine(config: ProjectConfig, stack: StackConfig, paths: Paths) -> Engine:
    """The engine the stack names (`stack.engine`), over its prediction log and labels."""
    from opsloop.engines import create_engine

    assert stack.prediction_log is not None
    labels = str(paths.root / config.data.labels) if config.data.labels else None
    # the Spark session's master and settings (created lazily, on the engine's first read)
    settings = (
        {"master": stack.spark.master, "conf": dict(stack.spark.conf)}
        if stack.engine == "spark"
        else {}
    )
    return create_engine(
        stack.engine,
        prediction_root=Path(stack.prediction_log),
        labels_root=paths.labels,
        extra_labels_glob=labels,
        id_column=config.id_column,
        target=config.target,
        **settings,
    )


def open_runtime(root: str | Path, *, stack: str | None = None, actor: str = "opsloop") -> Runtime:
    """The project's backends from its stack: registry, ops store and engine."""
    root = Path(root).resolve()
    config = load_project_config(root, stack)
    paths = Paths(root)
    resolved = resolve_stack(config, paths)
    from opsloop.registry.lazy import LazyRegistry

    return Runtime(
        config,
        root,
        LazyRegistry(lambda: open_registry(resolved, paths)),  # MLflow imported on first use
        open_store(resolved),
        open_engine(config, resolved, paths),
        actor=actor,
    )
