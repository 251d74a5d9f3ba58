"""Open Inference Protocol v2 REST: server and model metadata, health, `/infer` — with JSON
tensors or the binary tensor data extension (serve/oipbinary.py), as Triton's client sends."""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from starlette.responses import Response

from opsloop.registry.base import LoadedModel
from opsloop.serve import fastjson, oipbinary
from opsloop.serve.fastjson import FastJSONResponse
from opsloop.serve.inputs import (
    decode_json,
    oip_datatype,
    output_names,
    parse_oip,
    prediction_datatype,
)
from opsloop.serve.routes.common import body_reader, sticky_key
from opsloop.serve.rows import ModelInput
from opsloop.serve.service import PredictionService, served_versions

_KINDS = {"numeric": "FP64", "categorical": "BYTES", "boolean": "BOOL"}


def metadata(model: LoadedModel) -> dict[str, Any]:
    """OIP model metadata: one input tensor per feature, the outputs `/infer` returns."""
    types = {"prediction": prediction_datatype(model), "score": "FP64", "prediction_id": "BYTES"}
    outputs = [
        {"name": name, "datatype": types[name], "shape": [-1]} for name in output_names(model)
    ]
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
        return {"name": "opsloop", "version": server_version, "extensions": [oipbinary.EXTENSION]}

    @app.get("/v2/health/live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def ready() -> dict[str, bool]:
        service.served(service.model_name)
        return {"ready": True}

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

    async def infer(request: Request, name: str, version: str | None) -> Response:
        header_length = request.headers.get(oipbinary.HEADER)
        encoding = request.headers.get("content-encoding")
        asked: list[oipbinary.Requested] = []  # what the request's outputs ask for

        def parse(m: LoadedModel, body: bytes) -> tuple[ModelInput, list[str], str]:
            body = oipbinary.inflate(body, encoding)
            if header_length is None:
                payload = decode_json(body)
            else:
                head, binary = oipbinary.split(body, header_length)
                payload = decode_json(head)
                oipbinary.attach(payload, binary)
            asked[:] = [oipbinary.requested_outputs(payload, output_names(m))]
            return parse_oip(payload, m.features, id_column, time_column)

        a = await service.answer(
            "infer",
            parse,
            body_reader(request),
            name=name,
            version=version,
            key=sticky_key(request, sticky_header),
        )
        n = len(a.ids)
        tensors: dict[str, tuple[str, Any]] = {
            "prediction": (oip_datatype(a.prediction), a.prediction),
            "prediction_id": ("BYTES", a.ids),
        }
        if a.score is not None:
            tensors["score"] = ("FP64", a.score)
        names = output_names(a.model)
        want = asked[0] if asked else oipbinary.Requested(names, (False,) * len(names))
        outputs, chunks = [], []
        for out, binary in zip(want.names, want.binary, strict=True):
            if out not in tensors:  # the request was parsed for another version's outputs
                continue
            datatype, values = tensors[out]
            tensor: dict[str, Any] = {"name": out, "datatype": datatype, "shape": [n]}
            if binary:
                raw = oipbinary.encode(datatype, values)
                tensor["parameters"] = {"binary_data_size": len(raw)}
                chunks.append(raw)
            else:
                tensor["data"] = values.tolist() if isinstance(values, np.ndarray) else values
            outputs.append(tensor)
        content = {
            "model_name": a.model.name,
            "model_version": a.model.version,
            "id": a.request_id,
            "outputs": outputs,
        }
        if not chunks:
            return FastJSONResponse(content)
        head = fastjson.dumps(content)
        return Response(
            b"".join([head, *chunks]),
            media_type="application/octet-stream",
            headers={oipbinary.HEADER: str(len(head))},
        )

    @app.post("/v2/models/{name}/infer")
    async def infer_latest(request: Request, name: str) -> Response:
        return await infer(request, name, None)

    @app.post("/v2/models/{name}/versions/{version}/infer")
    async def infer_version(request: Request, name: str, version: str) -> Response:
        return await infer(request, name, version)
