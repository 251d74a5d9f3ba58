"""Open Inference Protocol v2 REST: server and model metadata, health, `/infer`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request

from opsloop.registry.base import LoadedModel
from opsloop.serve.fastjson import FastJSONResponse
from opsloop.serve.inputs import decode_json, oip_datatype, parse_oip
from opsloop.serve.routes.common import body_reader, sticky_key
from opsloop.serve.service import PredictionService, served_versions

_KINDS = {"numeric": "FP64", "categorical": "BYTES", "boolean": "BOOL"}


def metadata(model: LoadedModel) -> dict[str, Any]:
    """OIP model metadata: one input tensor per feature, the outputs `/infer` returns."""
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
            {"name": f.name, "datatype": _KINDS[f.kind], "shape": [-1]} for f in model.features
        ],
        "outputs": outputs,
    }


def add_oip_routes(
    app: FastAPI,
    service: PredictionService,
    *,
    id_column: str | None,
    time_column: str | None = None,
    sticky_header: str,
    server_version: str,
) -> None:
    """Routes added to `app` itself, not an included router: FastAPI matches an included
    router's routes through one more level on every request (the hot path)."""

    @app.get("/v2")
    async def server_metadata() -> dict[str, Any]:
        return {"name": "opsloop", "version": server_version, "extensions": []}

    @app.get("/v2/health/live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def ready() -> dict[str, Any]:
        service.served(service.model_name)
        return {"ready": True, "degraded": service.degraded()}

    @app.get("/v2/models/{name}")
    async def model_metadata(name: str) -> dict[str, Any]:
        routing = service.routing_for(name)
        return {**metadata(routing.stable), "versions": served_versions(routing)}

    @app.get("/v2/models/{name}/versions/{version}")
    async def version_metadata(name: str, version: str) -> dict[str, Any]:
        return metadata(service.served(name, version))

    @app.get("/v2/models/{name}/ready")
    async def model_ready(name: str) -> dict[str, Any]:
        return {"name": name, "ready": service.served(name) is not None}

    @app.get("/v2/models/{name}/versions/{version}/ready")
    async def version_ready(name: str, version: str) -> dict[str, Any]:
        return {"name": name, "ready": service.served(name, version) is not None}

    def parse(m: LoadedModel, body: bytes) -> Any:
        return parse_oip(decode_json(body), m.features, id_column, time_column)

    async def infer(request: Request, name: str, version: str | None) -> FastJSONResponse:
        a = await service.answer(
            "infer",
            parse,
            body_reader(request),
            name=name,
            version=version,
            key=sticky_key(request, sticky_header),
        )
        n = len(a.ids)
        outputs = [
            {
                "name": "prediction",
                "datatype": oip_datatype(a.prediction),
                "shape": [n],
                "data": a.prediction.tolist(),
            }
        ]
        if a.score is not None:
            outputs.append(
                {"name": "score", "datatype": "FP64", "shape": [n], "data": a.score.tolist()}
            )
        outputs.append({"name": "prediction_id", "datatype": "BYTES", "shape": [n], "data": a.ids})
        return FastJSONResponse(
            {
                "model_name": a.model.name,
                "model_version": a.model.version,
                "id": a.request_id,
                "outputs": outputs,
            }
        )

    @app.post("/v2/models/{name}/infer")
    async def infer_latest(request: Request, name: str) -> FastJSONResponse:
        return await infer(request, name, None)

    @app.post("/v2/models/{name}/versions/{version}/infer")
    async def infer_version(request: Request, name: str, version: str) -> FastJSONResponse:
        return await infer(request, name, version)
