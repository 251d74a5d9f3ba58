"""opsloop's own routes: `POST /predict` (records in, one prediction per row out) and the
Prometheus `GET /metrics`."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from opsloop.registry.base import LoadedModel
from opsloop.serve.fastjson import FastJSONResponse
from opsloop.serve.inputs import decode_json, parse_records
from opsloop.serve.routes.common import body_reader, sticky_key, with_request_id
from opsloop.serve.rows import ModelInput
from opsloop.serve.service import PredictionService


def add_native_routes(
    app: FastAPI,
    service: PredictionService,
    *,
    id_column: str | None,
    time_column: str | None = None,
    sticky_header: str,
) -> None:
    """Routes added to `app` itself, not an included router: FastAPI matches an included
    router's routes through one more level on every request (the hot path)."""

    def parse(m: LoadedModel, body: bytes) -> tuple[ModelInput, list[str], str]:
        return with_request_id(parse_records(decode_json(body), m.features, id_column, time_column))

    @app.post("/predict")
    async def predict_records(request: Request) -> FastJSONResponse:
        a = await service.answer(
            "predict", parse, body_reader(request), key=sticky_key(request, sticky_header)
        )
        scores = [None] * len(a.ids) if a.score is None else a.score.tolist()
        return FastJSONResponse(
            {
                "model_name": a.model.name,
                "model_version": a.model.version,
                "predictions": [
                    {"prediction_id": i, "prediction": p, "score": s}
                    for i, p, s in zip(a.ids, a.prediction.tolist(), scores, strict=True)
                ],
            }
        )

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(service.metrics.render(), media_type=CONTENT_TYPE_LATEST)
