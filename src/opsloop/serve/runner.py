"""Run the server with uvicorn; SIGTERM/SIGINT stop it gracefully (the lifespan flushes the
prediction log before the process exits)."""

from __future__ import annotations

import sys

import uvicorn

from opsloop.serve.app import ServeContext, create_app


def run_server(ctx: ServeContext, host: str, port: int) -> None:
    app = create_app(ctx)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on",
                            timeout_graceful_shutdown=10, access_log=False)
    server = uvicorn.Server(config)
    deployment = ctx.store.find_deployment(ctx.model_name, ctx.env)
    version = "none yet" if deployment is None else deployment.version
    sys.stderr.write(f"opsloop serve: {ctx.model_name} (deployed version: {version}) on "
                     f"http://{host}:{port}  — Ctrl-C to stop\n")
    server.run()
