"""A Runtime built from a project folder and a stack name, without the `Project` façade.

A server worker process (`opsloop serve --workers N`) gets only the folder and the stack in
its environment; it builds the same backends `Project` would (MLflow registry, ops store,
DuckDB engine) from the configuration, each imported lazily.
"""

from __future__ import annotations

from pathlib import Path

from opsloop.config import CONFIG_FILE, ProjectConfig, load_config, parse_config
from opsloop.errors import ProjectNotFoundError
from opsloop.runtime import Paths, Runtime, resolve_stack


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


def open_runtime(root: str | Path, *, stack: str | None = None, actor: str = "opsloop") -> Runtime:
    """The project's backends from its stack: MLflow registry, ops store and DuckDB engine."""
    from opsloop.engines.duckdb import DuckDBEngine
    from opsloop.registry.mlflow import MlflowRegistry
    from opsloop.store.sql import OpsStore

    root = Path(root).resolve()
    config = load_project_config(root, stack)
    paths = Paths(root)
    resolved = resolve_stack(config, paths)
    assert resolved.tracking_uri and resolved.ops_store and resolved.prediction_log
    paths.home.mkdir(parents=True, exist_ok=True)
    registry = MlflowRegistry(
        resolved.tracking_uri,
        registry_uri=resolved.registry_uri,
        artifact_location=resolved.artifact_location,
    )
    registry.initialise()
    labels = str(root / config.data.labels) if config.data.labels else None
    engine = DuckDBEngine(
        Path(resolved.prediction_log),
        paths.labels,
        extra_labels_glob=labels,
        id_column=config.id_column,
        target=config.target,
    )
    return Runtime(config, root, registry, OpsStore(resolved.ops_store), engine, actor=actor)
