"""What one server process is built from: `ServeContext`, and `serve_context` that fills it
from a Runtime and the project's `serve` settings (used by `Project.serve_context` and by
every worker process of `opsloop serve --workers N`)."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from opsloop.config import BatchingConfig

if TYPE_CHECKING:
    from opsloop.registry.base import LoadedModel
    from opsloop.runtime import Runtime
    from opsloop.serve.logwriter import PredictionLogWriter
    from opsloop.store.sql import OpsStore
    from opsloop.ui import UISite


@dataclass
class ServeContext:
    model_name: str
    store: OpsStore
    load_version: Callable[[str], LoadedModel]
    log_writer: PredictionLogWriter | None
    id_column: str | None = None
    time_column: str | None = None  # a record's event time (the prediction log's event_ts)
    reload_interval: float = 2.0
    env: str = "production"
    runtime: Runtime | None = None  # enables the management API (/api/...)
    admin_token: str | None = None  # bearer token for its write endpoints
    sticky_header: str | None = None  # assigns requests to stable/candidate (deploy.*)
    rollback_window: float = 600.0  # seconds a replaced version stays loaded
    controller: bool = False  # also analyse and advance rollouts (needs `runtime`)
    model_threads: int = 1  # native threads per predict call; 0: the libraries' default
    batching: BatchingConfig | None = None  # micro-batching when set and enabled
    multiprocess_metrics: bool = False  # one of several workers (serve/metrics.py)
    tune_gc: bool = False  # freeze the heap after loads, time collections (serve/gcwatch.py)
    ui: UISite | None = None  # the dashboard, mounted at /ui (serve.ui)
    # repairs the registry's champion alias from the deployment row (deploy/reconcile.py)
    reconcile: Callable[[], object] | None = None


def serve_context(
    rt: Runtime,
    *,
    admin_token: str | None = None,
    multiprocess_metrics: bool = False,
) -> ServeContext:
    """A server over `rt`'s backends, with a log writer and the `serve`/`deploy` settings."""
    from opsloop.deploy.reconcile import reconcile_champion
    from opsloop.modelcache import project_cache
    from opsloop.runtime import resolve_stack
    from opsloop.serve.logwriter import PredictionLogWriter

    prediction_log = resolve_stack(rt.config, rt.paths).prediction_log
    assert prediction_log is not None
    cfg = rt.config.serve
    name = rt.model
    writer = PredictionLogWriter(
        Path(prediction_log),
        name,
        flush_interval=cfg.log_flush_interval.total_seconds(),
        max_queue_rows=cfg.log_max_queue,
        flush_bytes=cfg.log_flush_bytes,
        durability=cfg.log_durability,
    )
    # MLflow opened on a cache miss; its artifact checked against the ops store's digest
    cache = project_cache(rt)
    return ServeContext(
        model_name=name,
        store=rt.store,
        load_version=cache.load,
        log_writer=writer,
        id_column=rt.config.id_column,
        time_column=rt.config.time_column,
        reload_interval=cfg.reload_interval.total_seconds(),
        runtime=rt,
        admin_token=admin_token,
        model_threads=cfg.model_threads,
        batching=cfg.batching,
        multiprocess_metrics=multiprocess_metrics,
        sticky_header=rt.config.deploy.sticky_header,
        rollback_window=rt.config.deploy.rollback_window.total_seconds(),
        controller=cfg.controller,
        tune_gc=True,
        reconcile=lambda: reconcile_champion(
            rt.registry,
            rt.store,
            name,
            actor=f"opsloop (server {socket.gethostname()}:{os.getpid()})",
        ),
        ui=_ui_site(rt, admin_token) if cfg.ui else None,
    )


def _ui_site(rt: Runtime, admin_token: str | None) -> UISite:
    from opsloop.ui import UISite, model_from_runtime

    return UISite(
        [model_from_runtime(rt)],
        admin_token=admin_token,
        public_read=rt.config.ui.public_read,
        session_hours=rt.config.ui.session_hours,
    )
