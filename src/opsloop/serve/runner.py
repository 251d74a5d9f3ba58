"""Run the server with uvicorn; SIGTERM/SIGINT stop it gracefully (the lifespan flushes the
prediction log before the process exits). With several workers, uvicorn's supervisor
passes SIGTERM on to every worker and waits for them."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import uvicorn

from opsloop.serve.app import create_app
from opsloop.serve.context import ServeContext
from opsloop.serve.workers import ACTOR_ENV, FACTORY, METRICS_ENV, PROJECT_ENV, STACK_ENV, TOKEN_ENV


def _banner(name: str, version: str | None, host: str, port: int, workers: int = 1) -> None:
    procs = "" if workers == 1 else f", {workers} workers"
    sys.stderr.write(
        f"opsloop serve: {name} (deployed version: {version or 'none yet'}) on "
        f"http://{host}:{port}{procs}  — Ctrl-C to stop\n"
    )


# glibc gives each thread that allocates concurrently its own malloc arena (up to 8 per
# core); the server's request threads (anyio's pool), the log writer and the model reloader
# each grow one and keep its high-water pages. Two arenas hold a server's RSS near its
# working set at no measured throughput cost (docs/benchmarks.md, "Serving").
MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # glibc's mallopt parameter number


def limit_malloc_arenas() -> None:
    """Cap glibc's malloc arenas for this process (before its threads start) and for the
    worker processes it spawns (glibc reads `MALLOC_ARENA_MAX` at start); a user's own
    `MALLOC_ARENA_MAX` wins. Elsewhere than glibc it does nothing."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return
    os.environ["MALLOC_ARENA_MAX"] = str(MALLOC_ARENAS)
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(_M_ARENA_MAX, MALLOC_ARENAS)
    except (OSError, AttributeError):
        pass


def run_server(ctx: ServeContext, host: str, port: int) -> None:
    limit_malloc_arenas()
    app = create_app(ctx)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=10,
        access_log=False,
    )
    server = uvicorn.Server(config)
    deployment = ctx.store.find_deployment(ctx.model_name, ctx.env)
    _banner(ctx.model_name, None if deployment is None else deployment.version, host, port)
    server.run()


def run_workers(
    root: Path,
    stack: str,
    *,
    name: str,
    version: str | None,
    host: str,
    port: int,
    workers: int,
    actor: str,
    admin_token: str | None,
) -> None:
    """Serve with `workers` processes, each building its app from the project folder."""
    metrics_dir = tempfile.mkdtemp(prefix="opsloop-metrics-")  # fresh per server run
    env = {PROJECT_ENV: str(root), STACK_ENV: stack, ACTOR_ENV: actor, METRICS_ENV: metrics_dir}
    if admin_token:
        env[TOKEN_ENV] = admin_token
    limit_malloc_arenas()  # the spawned workers inherit MALLOC_ARENA_MAX
    saved = {key: os.environ.get(key) for key in (*env, TOKEN_ENV)}
    os.environ.update(env)  # the spawned workers inherit it
    try:
        _banner(name, version, host, port, workers)
        uvicorn.run(
            FACTORY,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=10,
            timeout_worker_healthcheck=30,
            access_log=False,
        )
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(metrics_dir, ignore_errors=True)
