"""MLflow's scoring protocol (`POST /invocations`), so opsloop is a drop-in for
`mlflow models serve`: JSON (`dataframe_split`, `dataframe_records`, `instances`, `inputs`)
or CSV in, `{"predictions": [...]}` out."""

from __future__ import annotations

from fastapi import FastAPI, Request

from opsloop.registry.base import LoadedModel
from opsloop.serve.fastjson import FastJSONResponse
from opsloop.serve.inputs import decode_json, parse_csv, parse_invocations
from opsloop.serve.routes.common import body_reader, sticky_key, with_request_id
from opsloop.serve.rows import ModelInput
from opsloop.serve.service import PredictionService


def add_scoring_routes(
    app: FastAPI,
    service: PredictionService,
    *,
    id_column: str | None,
    time_column: str | None = None,
    sticky_header: str,
) -> None:
    """Routes added to `app` itself, not an included router: FastAPI matches an included
    router's routes through one more level on every request (the hot path)."""

    def parse_json(m: LoadedModel, body: bytes) -> tuple[ModelInput, list[str], str]:
        return with_request_id(
            parse_invocations(decode_json(body), m.features, id_column, time_column)
        )

    def parse_table(m: LoadedModel, body: bytes) -> tuple[ModelInput, list[str], str]:
        return with_request_id(parse_csv(body, m.features, id_column, time_column))

    @app.post("/invocations")
    async def invocations(request: Request) -> FastJSONResponse:
        """MLflow's scoring protocol, so opsloop is a drop-in for `mlflow models serve`."""
        csv = request.headers.get("content-type", "").startswith("text/csv")
        a = await service.answer(
            "invocations",
            parse_table if csv else parse_json,
            body_reader(request),
            key=sticky_key(request, sticky_header),
        )
        return FastJSONResponse(
            {"predictions": a.prediction.tolist()},
            headers={"X-Opsloop-Model-Version": a.model.version},
        )
