"""The prediction server: Open Inference Protocol v2 REST, MLflow's `/invocations`, opsloop's
`/predict` and, with a Runtime, the management API — assembled from a `PredictionService`
(serve/service.py), the application services (`opsloop.services`) and one thin router per
protocol (serve/routes/).

Bodies are decoded by hand (no pydantic model per request) and validated against the
served version's feature specs; bad input is a 4xx in the one error shape
(serve/errors.py), never a 500.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from opsloop.serve.context import ServeContext
from opsloop.serve.handlers import install_error_handlers
from opsloop.serve.openapi import install_openapi
from opsloop.serve.routes.native import add_native_routes
from opsloop.serve.routes.oip import add_oip_routes
from opsloop.serve.routes.scoring import add_scoring_routes
from opsloop.serve.service import PredictionService

__all__ = ["ServeContext", "create_app", "prediction_service"]


def prediction_service(ctx: ServeContext) -> PredictionService:
    service = PredictionService(
        ctx.model_name,
        ctx.store,
        ctx.load_version,
        log_writer=ctx.log_writer,
        env=ctx.env,
        reload_interval=ctx.reload_interval,
        rollback_window=ctx.rollback_window,
        model_threads=ctx.model_threads,
        batching=ctx.batching,
        multiprocess_metrics=ctx.multiprocess_metrics,
        tune_gc=ctx.tune_gc,
    )
    service.holder.reconcile = ctx.reconcile
    return service


def create_app(ctx: ServeContext) -> FastAPI:
    from opsloop import __version__
    from opsloop.redact import install_log_redaction

    service = prediction_service(ctx)
    admin = None
    if ctx.runtime is not None:
        from opsloop.services import AdminService

        admin = AdminService(ctx.runtime)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        install_log_redaction()  # after uvicorn configured logging, in every worker
        service.start()
        controller = None
        if ctx.controller and ctx.runtime is not None:
            from opsloop.deploy import RolloutController

            controller = RolloutController(ctx.runtime)
            controller.start()
        try:
            yield
        finally:
            await service.stop()
            if controller is not None:
                controller.stop()

    app = FastAPI(title="opsloop prediction server", version=__version__, lifespan=lifespan)
    app.state.service = service
    app.state.holder = service.holder
    app.state.metrics = service.metrics
    app.state.batcher = service.batcher
    install_openapi(app, lambda: service.holder.current, ctx.model_name, ctx.id_column)
    install_error_handlers(app)
    sticky = (ctx.sticky_header or "x-request-id").lower()
    ids = ctx.id_column
    add_oip_routes(
        app,
        service,
        id_column=ids,
        time_column=ctx.time_column,
        sticky_header=sticky,
        server_version=__version__,
    )
    add_native_routes(
        app, service, id_column=ids, time_column=ctx.time_column, sticky_header=sticky
    )
    add_scoring_routes(
        app, service, id_column=ids, time_column=ctx.time_column, sticky_header=sticky
    )
    if admin is not None:  # after the prediction routes: those are matched first
        from opsloop.serve.routes.admin import create_admin_router
        from opsloop.services import ReadService

        log = ctx.log_writer.root if ctx.log_writer is not None else None
        reads = ReadService(admin.runtime.store, admin.runtime.config, log)
        app.include_router(create_admin_router(admin, reads, ctx.admin_token))
    if ctx.ui is not None:  # the dashboard (serve.ui): pages and forms under /ui
        from opsloop.ui.app import add_ui

        add_ui(app, ctx.ui)
    return app
