"""The prediction server's OpenAPI schema, written from the served model's feature specs.

The prediction routes decode their bodies by hand (no pydantic model per request), so FastAPI
cannot see what they take. This module writes it into the schema FastAPI generates, from the
pydantic models of serve/schemas.py built over the served version's features: the request
body of `/predict`, OIP v2 `/infer` and MLflow's `/invocations` with each feature's JSON
type and nullability, their 200 answers, and the one error body of every route.
`install_openapi` makes `/openapi.json` (and so `/docs`) follow the served version; before
one is deployed the bodies are described generically.

The schemas say exactly what the request parser checks, no more: a body the schema rejects
gets a 4xx. What JSON Schema cannot say (an OIP tensor's `shape` against its `data`, equal
row counts across inputs or columns) is checked by the parser and answered with a 422.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from opsloop.data.features import FeatureSpec
from opsloop.serve.inputs import output_names
from opsloop.serve.schemas import (
    ErrorBody,
    InferenceResponse,
    ModelMetadata,
    ModelReady,
    Ready,
    columns_model,
    inference_request_model,
    invocations_request_model,
    invocations_response_model,
    predict_request_model,
    predict_response_model,
    prediction_model,
    record_model,
)

if TYPE_CHECKING:
    from fastapi import FastAPI

    from opsloop.registry.base import LoadedModel

JsonSchema = dict[str, Any]
REF = "#/components/schemas/"

_DESCRIPTIONS = {
    400: "the body is empty or not valid JSON (or CSV)",
    401: "missing or wrong bearer token",
    403: "the admin API is disabled (no admin token configured), or the model registry "
    "refused this user",
    404: "unknown model or version",
    409: "not valid in the current state",
    413: "the body is too large",
    415: "the body's Content-Encoding is not gzip, deflate or none",
    422: "the request does not fit: one entry per field at fault",
    500: "an unexpected failure inside the server",
    503: "no version is deployed yet, or the model registry cannot be reached",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for management routes: each code with the one `ErrorBody`."""
    return {
        code: {"model": ErrorBody, "description": _DESCRIPTIONS.get(code, "error")}
        for code in codes
    }


def _untitled(node: Any) -> Any:
    """`node` without pydantic's generated `title`s (noise in a schema for people)."""
    if isinstance(node, list):
        return [_untitled(n) for n in node]
    if not isinstance(node, dict):
        return node
    return {
        key: {k: _untitled(v) for k, v in value.items()}
        if key == "properties"
        else _untitled(value)
        for key, value in node.items()
        if not (key == "title" and isinstance(value, str))
    }


def schemas_of(*models: type[BaseModel]) -> dict[str, JsonSchema]:
    """The JSON Schemas of `models` and of every model they use, by name, refs between
    them as OpenAPI component refs."""
    _, doc = models_json_schema([(m, "validation") for m in models], ref_template=REF + "{model}")
    return {name: _untitled(schema) for name, schema in doc.get("$defs", {}).items()}


def _one(model: type[BaseModel]) -> JsonSchema:
    """The schema of one model, its sub-models inlined (for tests and quick looks)."""
    schema: JsonSchema = model.model_json_schema()
    defs = schema.pop("$defs", {})
    out: JsonSchema = _untitled({**schema, "$defs": defs} if defs else schema)
    return out


def record_schema(features: Sequence[FeatureSpec] | None, id_column: str | None) -> JsonSchema:
    """One record: every feature by name; other keys are allowed and ignored."""
    return _one(record_model(features, id_column))


def inference_request(features: Sequence[FeatureSpec] | None) -> JsonSchema:
    """OIP v2: one input tensor per feature, named after it, with a datatype of its kind."""
    return _one(inference_request_model(features))


# -- answers --------------------------------------------------------------------------------


def prediction_schema(model: LoadedModel | None) -> JsonSchema:
    """One prediction: a class label (one of the classes) or a number for regression."""
    if model is None:
        return {"type": ["number", "string", "boolean"]}
    classes = getattr(model.estimator, "classes_", None) if model.task != "regression" else None
    if classes is None:
        return {"type": "number"}
    import numpy as np

    values = np.asarray(classes).tolist()
    kinds = {
        "boolean"
        if isinstance(v, bool)
        else "integer"
        if isinstance(v, int)
        else "number"
        if isinstance(v, float)
        else "string"
        for v in values
    }
    return {"type": sorted(kinds)[0] if len(kinds) == 1 else sorted(kinds), "enum": values}


def _scores(model: LoadedModel | None) -> Literal["binary", "none", "unknown"]:
    if model is None:
        return "unknown"
    if model.task == "binary_classification" and hasattr(model.estimator, "predict_proba"):
        return "binary"
    return "none"


def components(
    model: LoadedModel | None, model_name: str, id_column: str | None
) -> dict[str, JsonSchema]:
    """Every body of the prediction routes (and the error body), from the pydantic models
    of serve/schemas.py built over `model`'s features (None: no version served yet)."""
    features = None if model is None else model.features
    record = record_model(features, id_column)
    columns = columns_model(features, id_column)
    prediction = prediction_model(prediction_schema(model))
    out = schemas_of(
        ErrorBody,
        record,
        columns,
        prediction,
        predict_request_model(record),
        predict_response_model(prediction, _scores(model)),
        inference_request_model(features, None if model is None else output_names(model)),
        InferenceResponse,
        invocations_request_model(features, record, columns),
        invocations_response_model(prediction),
        ModelMetadata,
        Ready,
        ModelReady,
    )
    # the management API's error body had its own name: kept, as the same shape
    out["ApiError"] = {"$ref": REF + "ErrorBody", "description": "the same as ErrorBody"}
    return out


# -- the whole document ---------------------------------------------------------------------


def _json(schema: JsonSchema) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _errors(*codes: int) -> dict[str, Any]:
    return {
        str(c): {"description": _DESCRIPTIONS[c], "content": _json({"$ref": REF + "ErrorBody"})}
        for c in codes
    }


def _ok(
    schema: JsonSchema, description: str = "the predictions", headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description, "content": _json(schema)}
    if headers:
        out["headers"] = headers
    return {"200": out}


def _binary_too(ok: dict[str, Any]) -> dict[str, Any]:
    """/infer's 200 is JSON, or JSON then binary tensors when binary outputs are asked."""
    ok["200"]["content"]["application/octet-stream"] = {
        "schema": {"type": "string", "format": "binary"}
    }
    ok["200"]["headers"] = {
        "Inference-Header-Content-Length": {
            "description": "with binary outputs: the length of the JSON before them",
            "schema": {"type": "string"},
        }
    }
    return ok


_BODY_DOC = {
    "/predict": 'Records (`{"records": [...]}` or a bare list), one per row, each with '
    "every feature.",
    "infer": "An Open Inference Protocol v2 request: one input tensor per feature.",
    "/invocations": "MLflow's scoring protocol: exactly one of `dataframe_split`, "
    "`dataframe_records`, `instances` or `inputs` (JSON), or a CSV table.",
}


def build_openapi(
    base: dict[str, Any], model: LoadedModel | None, model_name: str, id_column: str | None
) -> dict[str, Any]:
    """FastAPI's schema `base` (not modified) with the prediction routes written in for
    `model` (None: no version is served yet)."""
    doc = copy.deepcopy(base)
    served = (
        f"version {model.version} of `{model_name}`"
        if model is not None
        else f"no version of `{model_name}` yet"
    )
    doc["info"]["description"] = (
        f"Serves {served}. The request schemas below are written from the served version's "
        "features and change when another version is deployed."
    )
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(components(model, model_name, id_column))
    paths: dict[str, Any] = doc.get("paths", {})
    version_enum = None if model is None else [model.version]

    def put(path: str, method: str, **fields: Any) -> None:
        """Write `fields` into the operation; its `name` (and `version`) path parameters
        take only the served model (and version): others are a 404."""
        operation = paths.get(path, {}).get(method)
        if operation is None:  # a route that is not there (any more): nothing to write
            return
        for param in operation.get("parameters", []):
            if param.get("in") == "path" and param["name"] == "name":
                param["schema"] = {"type": "string", "enum": [model_name]}
            elif param.get("in") == "path" and param["name"] == "version":
                param["schema"] = {"type": "string"} | (
                    {"enum": version_enum} if version_enum else {}
                )
        operation.update(fields)

    def body(ref: str, doc_key: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "required": True,
            "description": _BODY_DOC[doc_key],
            "content": _json({"$ref": REF + ref}) | (extra or {}),
        }

    put(
        "/predict",
        "post",
        requestBody=body("PredictRequest", "/predict"),
        responses=_ok({"$ref": REF + "PredictResponse"}) | _errors(400, 413, 422, 503),
    )
    for path in ("/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer"):
        put(
            path,
            "post",
            requestBody=body("InferenceRequest", "infer"),
            responses=_binary_too(_ok({"$ref": REF + "InferenceResponse"}))
            | _errors(400, 404, 413, 415, 422, 503),
        )
    csv = {
        "text/csv": {
            "schema": {
                "type": "string",
                "description": "a header row naming the features, then one line per row",
            }
        }
    }
    version_header = {
        "X-Opsloop-Model-Version": {
            "description": "the version that answered",
            "schema": {"type": "string"},
        }
    }
    put(
        "/invocations",
        "post",
        requestBody=body("InvocationsRequest", "/invocations", csv),
        responses=_ok({"$ref": REF + "InvocationsResponse"}, headers=version_header)
        | _errors(400, 413, 422, 503),
    )
    put("/v2/health/ready", "get", responses=_ok({"$ref": REF + "Ready"}, "ready") | _errors(503))
    for path in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        put(
            path,
            "get",
            responses=_ok({"$ref": REF + "ModelMetadata"}, "the model's inputs and outputs")
            | _errors(404, 503),
        )
    for path in ("/v2/models/{name}/ready", "/v2/models/{name}/versions/{version}/ready"):
        put(path, "get", responses=_ok({"$ref": REF + "ModelReady"}, "ready") | _errors(404, 503))
    put(
        "/metrics",
        "get",
        responses={
            "200": {
                "description": "Prometheus text format",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
    )
    _document_the_rest(doc)
    return doc


def _document_the_rest(doc: dict[str, Any]) -> None:
    """Routes with pydantic-declared inputs (the management API under `/api`): FastAPI's
    validation 422 in the server's error shape (see `handlers`), a 400 for a body it cannot
    parse, and the bearer token as a security scheme; every route: the 500 body."""
    components = doc["components"]
    body = REF + "ErrorBody"
    for item in doc.get("paths", {}).values():
        for operation in item.values():
            params = operation.get("parameters", [])
            auth = [
                p
                for p in params
                if p.get("in") == "header" and p.get("name", "").lower() == "authorization"
            ]
            if auth:
                operation["parameters"] = [p for p in params if p not in auth]
                operation["security"] = [{"bearer": []}]
                components.setdefault("securitySchemes", {})["bearer"] = {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the server's admin token (OPSLOOP_ADMIN_TOKEN)",
                }
            responses = operation.get("responses", {})
            if "HTTPValidationError" in json.dumps(responses.get("422", {})):
                responses["422"] = {
                    "description": _DESCRIPTIONS[422],
                    "content": _json({"$ref": body}),
                }
            if "requestBody" in operation:
                responses.setdefault(
                    "400", {"description": _DESCRIPTIONS[400], "content": _json({"$ref": body})}
                )
            if responses:  # the one error body, on a failure nobody planned for too
                responses.setdefault(
                    "500", {"description": _DESCRIPTIONS[500], "content": _json({"$ref": body})}
                )
    if "HTTPValidationError" not in json.dumps(doc.get("paths", {})):
        components["schemas"].pop("HTTPValidationError", None)
        components["schemas"].pop("ValidationError", None)


def install_openapi(
    app: FastAPI, served: Callable[[], LoadedModel | None], model_name: str, id_column: str | None
) -> None:
    """Make `app.openapi()` (so `/openapi.json` and `/docs`) describe the served version.

    FastAPI's own schema is kept (it caches it per route table); the written one is cached
    per (FastAPI schema, served version), so a deploy shows up on the next fetch."""
    generate = app.openapi
    cached: tuple[dict[str, Any] | None, str | None, dict[str, Any]] | None = None

    def openapi() -> dict[str, Any]:
        nonlocal cached
        base = generate()
        model = served()
        version = None if model is None else model.version
        if cached is None or cached[0] is not base or cached[1] != version:
            cached = (base, version, build_openapi(base, model, model_name, id_column))
        return cached[2]

    app.openapi = openapi  # type: ignore[method-assign]
