"""Several server processes (`serve.workers`, `opsloop serve --workers N`).

uvicorn's supervisor starts N worker processes that share the listening socket. A process
cannot inherit the parent's app, so each one builds its own with `create_worker_app` (an
app factory) from the project folder and stack named in the environment: its own model
holder (every holder polls the ops store, so all workers converge on each promotion), its
own prediction-log writer (file names are unique; each flushes on SIGTERM) and its own
batcher. Metrics are added up across workers through prometheus_client's multiprocess
mode (serve/metrics.py). This module is the edge that reads those variables.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

PROJECT_ENV = "OPSLOOP_SERVE_PROJECT"
STACK_ENV = "OPSLOOP_SERVE_STACK"
ACTOR_ENV = "OPSLOOP_SERVE_ACTOR"
TOKEN_ENV = "OPSLOOP_SERVE_ADMIN_TOKEN"
METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own variable
FACTORY = "opsloop.serve.workers:create_worker_app"


def create_worker_app() -> FastAPI:
    """The app of one worker process (called by uvicorn in each worker)."""
    from opsloop.serve.gcwatch import hold_collections

    hold_collections()  # until its first model is settled (serve/gcwatch.py)
    from opsloop.backends import open_runtime
    from opsloop.errors import ConfigError
    from opsloop.serve.app import create_app
    from opsloop.serve.context import serve_context

    root = os.environ.get(PROJECT_ENV)
    if not root:
        raise ConfigError(
            f"{PROJECT_ENV} is not set: worker processes are started by `opsloop serve --workers N`"
        )
    rt = open_runtime(
        root, stack=os.environ.get(STACK_ENV) or None, actor=os.environ.get(ACTOR_ENV) or "opsloop"
    )
    ctx = serve_context(
        rt,
        admin_token=os.environ.get(TOKEN_ENV) or None,
        multiprocess_metrics=bool(os.environ.get(METRICS_ENV)),
    )
    return create_app(ctx)
