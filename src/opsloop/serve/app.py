"""The prediction server: Open Inference Protocol v2 REST plus a simple `/predict`.

Bodies are decoded by hand (no pydantic model per request) and validated against the
served version's feature specs; bad input is a 4xx with field-level details, never a 500.
The request path is kept short (docs/architecture.md, "Serving fast"): orjson both ways,
all-numeric rows as one matrix (serve/rows.py, serve/predictor.py), predict calls in their
own thread with optional micro-batching (serve/batching.py), and the prediction log built
in the writer's thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from opsloop.config import BatchingConfig
from opsloop.errors import OpsloopError
from opsloop.registry.base import LoadedModel
from opsloop.serve.batching import MicroBatcher
from opsloop.serve.fastjson import FastJSONResponse
from opsloop.serve.handlers import install_error_handlers
from opsloop.serve.inputs import (
    RequestError,
    decode_json,
    oip_datatype,
    parse_csv,
    parse_invocations,
    parse_oip,
    parse_records,
)
from opsloop.serve.logwriter import LoggedRequest, PredictionLogWriter
from opsloop.serve.metrics import ServeMetrics
from opsloop.serve.openapi import install_openapi
from opsloop.serve.predictor import predict_rows, prepare
from opsloop.serve.rows import ModelInput
from opsloop.serve.scoring import check_finite, refused
from opsloop.serve.state import ModelHolder, Routing
from opsloop.serve.stats import ServeStats
from opsloop.store.sql import OpsStore

if TYPE_CHECKING:
    from opsloop.project import Project

MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_SHADOWS = 64  # shadow predictions in flight per server process

log = logging.getLogger("opsloop.serve")


@dataclass
class ServeContext:
    model_name: str
    store: OpsStore
    load_version: Callable[[str], LoadedModel]
    log_writer: PredictionLogWriter | None
    id_column: str | None = None
    reload_interval: float = 2.0
    env: str = "production"
    project: Project | None = None  # enables the management API (/api/...)
    admin_token: str | None = None  # bearer token for its write endpoints
    sticky_header: str | None = None  # assigns requests to stable/candidate (deploy.*)
    rollback_window: float = 600.0  # seconds a replaced version stays loaded
    controller: bool = False  # also analyse and advance rollouts (needs `project`)
    model_threads: int = 1  # native threads per predict call; 0: the libraries' default
    batching: BatchingConfig | None = None  # micro-batching when set and enabled
    multiprocess_metrics: bool = False  # one of several workers (serve/metrics.py)


def _error(status: int, message: str, details: list[dict[str, Any]] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "details": details or []}, status_code=status)


def create_app(ctx: ServeContext) -> FastAPI:
    from opsloop import __version__

    stats = ServeStats()
    holder = ModelHolder(
        ctx.model_name,
        ctx.store,
        lambda version: prepare(ctx.load_version(version)),
        env=ctx.env,
        reload_interval=ctx.reload_interval,
        rollback_window=ctx.rollback_window,
        stats=stats,
    )
    metrics = ServeMetrics(holder, ctx.log_writer, multiprocess=ctx.multiprocess_metrics)
    shadows: set[asyncio.Task[None]] = set()  # shadow predictions in flight
    # Predict calls run one at a time in a dedicated thread, off the event loop; with
    # batching enabled, requests that queue up meanwhile are coalesced (serve/batching.py).
    batching = ctx.batching if ctx.batching is not None and ctx.batching.enabled else None
    batcher = MicroBatcher(
        lambda m, rows: predict_rows(m, rows, ctx.model_threads),
        max_batch_size=batching.max_batch_size if batching else 1,
        max_wait=batching.max_wait.total_seconds() if batching else 0.0,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        holder.refresh()
        holder.start()
        if ctx.log_writer is not None:
            ctx.log_writer.start()
        metrics.start()
        batcher.start()
        controller = None
        if ctx.controller and ctx.project is not None:
            from opsloop.deploy import RolloutController

            controller = RolloutController(ctx.project.runtime)
            controller.start()
        try:
            yield
        finally:
            if shadows:  # answered shadows are logged too: let them finish first
                await asyncio.wait(list(shadows), timeout=30)
            await batcher.stop()
            if controller is not None:
                controller.stop()
            holder.stop()
            if ctx.log_writer is not None:
                ctx.log_writer.close()
            metrics.close()

    app = FastAPI(title="opsloop prediction server", version=__version__, lifespan=lifespan)
    app.state.holder = holder
    app.state.metrics = metrics
    app.state.batcher = batcher
    install_openapi(app, lambda: holder.current, ctx.model_name, ctx.id_column)
    install_error_handlers(app)

    @app.exception_handler(RequestError)
    async def _request_error(_: Request, exc: RequestError) -> JSONResponse:
        return _error(exc.status, exc.message, exc.details)

    @app.exception_handler(OpsloopError)
    async def _opsloop_error(_: Request, exc: OpsloopError) -> JSONResponse:
        from opsloop.serve.api import error_status

        return JSONResponse(exc.to_dict(), status_code=error_status(exc))

    if ctx.project is not None:
        from opsloop.serve.api import create_api_router

        app.include_router(create_api_router(ctx.project, ctx.admin_token))

    @app.exception_handler(Exception)
    async def _server_error(_: Request, exc: Exception) -> JSONResponse:
        return _error(500, f"internal error: {type(exc).__name__}: {exc}")

    def routing_for(name: str) -> Routing:
        if name != ctx.model_name:
            raise RequestError(
                404, f"unknown model {name!r}; this server serves {ctx.model_name!r}"
            )
        routing = holder.routing
        if routing is None:
            raise RequestError(
                503,
                f"no version of {ctx.model_name!r} is deployed yet; "
                "train and promote one (`opsloop train`)",
            )
        return routing

    def served(name: str, version: str | None = None) -> LoadedModel:
        routing = routing_for(name)
        if version is None or version == routing.stable.version:
            return routing.stable
        if routing.candidate is not None and version == routing.candidate.version:
            return routing.candidate
        versions = served_versions(routing)
        raise RequestError(
            404,
            f"version {version!r} of {name!r} is not served; this server "
            f"serves version{'s' if len(versions) > 1 else ''} "
            f"{', '.join(versions)}",
        )

    def served_versions(routing: Routing) -> list[str]:
        return [routing.stable.version] + (
            [] if routing.candidate is None else [routing.candidate.version]
        )

    async def body_bytes(request: Request) -> bytes:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
            raise RequestError(413, f"request body over {MAX_BODY_BYTES} bytes")
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            raise RequestError(413, f"request body over {MAX_BODY_BYTES} bytes")
        return body

    sticky_header = (ctx.sticky_header or "x-request-id").lower()

    async def answer(
        route: str,
        request: Request,
        name: str,
        version: str | None,
        parse: Callable[[LoadedModel, bytes], tuple[ModelInput, list[str], str]],
    ) -> tuple[LoadedModel, list[str], str, np.ndarray, np.ndarray | None]:
        """Check the model, read and parse the body, route (stable, canary candidate or
        shadow mirror), predict and log, and count the outcome per route and version: the
        one path every prediction route takes."""
        t0 = time.perf_counter()
        model: LoadedModel | None = None
        try:
            routing = routing_for(name)
            model = served(name, version)
            body = await body_bytes(request)
            rows, ids, request_id = parse(model, body)
            key = request.headers.get(sticky_header) or ids[0]
            traffic = "stable" if model is routing.stable else "candidate"
            if version is None and routing.mode == "canary" and routing.picks_candidate(key):
                assert routing.candidate is not None
                model, traffic = routing.candidate, "candidate"
                if model.features != routing.stable.features:
                    rows, ids, request_id = parse(model, body)
            try:
                prediction, score = await predict(model, rows, ids, request_id, traffic)
            except Exception:
                if traffic != "candidate":
                    raise
                # a failing candidate costs the caller nothing: stable answers, the error
                # counts against the candidate in the rollout analysis
                log.exception("candidate version %s failed; stable answered", model.version)
                model, traffic = routing.stable, "stable"
                if model.features != routing.candidate.features:  # type: ignore[union-attr]
                    rows, ids, request_id = parse(model, body)
                prediction, score = await predict(model, rows, ids, request_id, traffic)
            if version is None and routing.mode == "shadow" and routing.picks_candidate(key):
                assert routing.candidate is not None
                mirror(routing.candidate, routing.stable, parse, body, rows, ids, request_id)
        except RequestError as exc:
            observe(route, exc.status, "none" if model is None else model.version, t0)
            raise
        observe(route, 200, model.version, t0)
        return model, ids, request_id, prediction, score

    async def predict(
        model: LoadedModel, rows: ModelInput, ids: list[str], request_id: str, traffic: str
    ) -> tuple[np.ndarray, np.ndarray | None]:
        t0 = time.perf_counter()
        try:
            try:
                prediction, score = await batcher.predict(model, rows)
            except ValueError as exc:  # scikit-learn refusing the input: the caller's 4xx
                raise refused(model, exc) from None
            check_finite(prediction, score)
        except Exception:
            stats.observe(model.version, traffic, time.perf_counter() - t0, error=True)
            raise
        stats.observe(model.version, traffic, time.perf_counter() - t0)
        metrics.predictions.labels(model.version).inc(len(rows))
        if ctx.log_writer is not None:  # the rows are built in the writer's thread
            ctx.log_writer.submit(
                LoggedRequest(
                    rows, ids, request_id, time.time(), model.version, traffic, prediction, score
                )
            )
        return prediction, score

    def mirror(
        candidate: LoadedModel,
        stable: LoadedModel,
        parse: Callable[[LoadedModel, bytes], tuple[ModelInput, list[str], str]],
        body: bytes,
        rows: ModelInput,
        ids: list[str],
        request_id: str,
    ) -> None:
        """Answer a copy of the request with the shadow candidate after the caller's answer
        (a task queued behind it on the predict thread); the answer is logged (route
        `shadow`), never returned. Bounded: beyond MAX_SHADOWS in flight a mirror is
        skipped and counted."""
        if len(shadows) >= MAX_SHADOWS:
            metrics.shadow_skipped.inc()
            return

        async def run() -> None:
            try:
                copy = rows if candidate.features == stable.features else parse(candidate, body)[0]
            except RequestError:  # stable took this input; the candidate cannot
                stats.observe(candidate.version, "shadow", 0.0, error=True)
                return
            try:
                await predict(candidate, copy, ids, request_id, "shadow")
            except Exception:  # counted against the candidate by predict()
                log.exception("shadow version %s failed", candidate.version)

        task = asyncio.create_task(run())
        shadows.add(task)
        task.add_done_callback(shadows.discard)

    def observe(route: str, status: int, version: str, t0: float) -> None:
        metrics.requests.labels(route, str(status), version).inc()
        metrics.latency.labels(route, version).observe(time.perf_counter() - t0)

    @app.get("/v2")
    async def server_metadata() -> dict[str, Any]:
        return {"name": "opsloop", "version": __version__, "extensions": []}

    @app.get("/v2/health/live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def ready() -> dict[str, bool]:
        served(ctx.model_name)
        return {"ready": True}

    def metadata(model: LoadedModel) -> dict[str, Any]:
        kinds = {"numeric": "FP64", "categorical": "BYTES", "boolean": "BOOL"}
        outputs = [
            {"name": "prediction", "datatype": "BYTES", "shape": [-1]},
            {"name": "prediction_id", "datatype": "BYTES", "shape": [-1]},
        ]
        if model.task == "binary_classification":
            outputs.insert(1, {"name": "score", "datatype": "FP64", "shape": [-1]})
        return {
            "name": model.name,
            "versions": [model.version],
            "platform": "opsloop-sklearn",
            "inputs": [
                {"name": f.name, "datatype": kinds[f.kind], "shape": [-1]} for f in model.features
            ],
            "outputs": outputs,
        }

    @app.get("/v2/models/{name}")
    async def model_metadata(name: str) -> dict[str, Any]:
        routing = routing_for(name)
        return {**metadata(routing.stable), "versions": served_versions(routing)}

    @app.get("/v2/models/{name}/versions/{version}")
    async def version_metadata(name: str, version: str) -> dict[str, Any]:
        return metadata(served(name, version))

    @app.get("/v2/models/{name}/ready")
    async def model_ready(name: str) -> dict[str, Any]:
        return {"name": name, "ready": served(name) is not None}

    @app.get("/v2/models/{name}/versions/{version}/ready")
    async def version_ready(name: str, version: str) -> dict[str, Any]:
        return {"name": name, "ready": served(name, version) is not None}

    async def infer(request: Request, name: str, version: str | None) -> FastJSONResponse:
        model, ids, request_id, prediction, score = await answer(
            "infer",
            request,
            name,
            version,
            lambda m, body: parse_oip(decode_json(body), m.features, ctx.id_column),
        )
        outputs = [
            {
                "name": "prediction",
                "datatype": oip_datatype(prediction),
                "shape": [len(ids)],
                "data": prediction.tolist(),
            }
        ]
        if score is not None:
            outputs.append(
                {"name": "score", "datatype": "FP64", "shape": [len(ids)], "data": score.tolist()}
            )
        outputs.append(
            {"name": "prediction_id", "datatype": "BYTES", "shape": [len(ids)], "data": ids}
        )
        return FastJSONResponse(
            {
                "model_name": model.name,
                "model_version": model.version,
                "id": request_id,
                "outputs": outputs,
            }
        )

    @app.post("/v2/models/{name}/infer")
    async def infer_latest(request: Request, name: str) -> FastJSONResponse:
        return await infer(request, name, None)

    @app.post("/v2/models/{name}/versions/{version}/infer")
    async def infer_version(request: Request, name: str, version: str) -> FastJSONResponse:
        return await infer(request, name, version)

    def with_request_id(parsed: tuple[ModelInput, list[str]]) -> tuple[ModelInput, list[str], str]:
        return parsed[0], parsed[1], uuid.uuid4().hex

    @app.post("/predict")
    async def predict_records(request: Request) -> FastJSONResponse:
        model, ids, _, prediction, score = await answer(
            "predict",
            request,
            ctx.model_name,
            None,
            lambda m, body: with_request_id(
                parse_records(decode_json(body), m.features, ctx.id_column)
            ),
        )
        scores = [None] * len(ids) if score is None else score.tolist()
        return FastJSONResponse(
            {
                "model_name": model.name,
                "model_version": model.version,
                "predictions": [
                    {"prediction_id": i, "prediction": p, "score": s}
                    for i, p, s in zip(ids, prediction.tolist(), scores, strict=True)
                ],
            }
        )

    @app.post("/invocations")
    async def invocations(request: Request) -> FastJSONResponse:
        """MLflow's scoring protocol, so opsloop is a drop-in for `mlflow models serve`."""
        csv = request.headers.get("content-type", "").startswith("text/csv")

        def parse(m: LoadedModel, body: bytes) -> tuple[ModelInput, list[str], str]:
            if csv:
                return with_request_id(parse_csv(body, m.features, ctx.id_column))
            return with_request_id(parse_invocations(decode_json(body), m.features, ctx.id_column))

        model, _, _, prediction, _ = await answer(
            "invocations", request, ctx.model_name, None, parse
        )
        return FastJSONResponse(
            {"predictions": prediction.tolist()}, headers={"X-Opsloop-Model-Version": model.version}
        )

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return app
