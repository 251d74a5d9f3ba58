"""The prediction server's OpenAPI schema, written from the served model's feature specs.

The prediction routes decode their bodies by hand (no pydantic model per request), so FastAPI
cannot see what they take. This module writes it into the schema FastAPI generates: the
request body of `/predict`, OIP v2 `/infer` and MLflow's `/invocations` with each feature's
JSON type and nullability, their 200 answers, and the 4xx error body. `install_openapi`
makes `/openapi.json` (and so `/docs`) follow the served version; before one is deployed
the bodies are described generically.

The schemas say exactly what the request parser checks, no more: a body the schema rejects
gets a 4xx. What JSON Schema cannot say (an OIP tensor's `shape` against its `data`, equal
row counts across inputs or columns) is checked by the parser and answered with a 422.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from opsloop.data.features import FeatureSpec
from opsloop.serve.inputs import NUMBER_LIMIT, NUMERIC_TYPES, OIP_TYPES

if TYPE_CHECKING:
    from fastapi import FastAPI

    from opsloop.registry.base import LoadedModel

JsonSchema = dict[str, Any]
REF = "#/components/schemas/"


class ErrorDetail(BaseModel):
    field: str = Field(
        description="where: a feature (`x`, `x[3]` for row 3), `records`, `inputs[0].shape`, …"
    )
    expected: str = Field(description="what the server takes there")
    got: str = Field(description="what came (a short repr)")


class ErrorBody(BaseModel):
    """A prediction-route error (400, 404, 413, 422, 503): the problem, and one entry per
    field at fault."""

    error: str
    details: list[ErrorDetail]


class ApiError(BaseModel):
    """A management-API error: what went wrong, what was expected, what came and how to fix
    it (unknown models and token problems carry `details` instead)."""

    error: str
    type: str | None = None
    expected: str | None = None
    got: str | None = None
    fix: str | None = None
    details: list[ErrorDetail] = Field(default_factory=list)


_DESCRIPTIONS = {
    400: "the body is empty or not valid JSON (or CSV)",
    401: "missing or wrong bearer token",
    403: "the admin API is disabled (no admin token configured)",
    404: "unknown model or version",
    409: "not valid in the current state",
    413: "the body is too large",
    422: "the request does not fit: one entry per field at fault",
    503: "no version is deployed yet",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for management routes: each code with the `ApiError` body."""
    return {
        code: {"model": ApiError, "description": _DESCRIPTIONS.get(code, "error")} for code in codes
    }


# -- request bodies -------------------------------------------------------------------------

_JSON_TYPES = {"numeric": "number", "categorical": "string", "boolean": "boolean"}
_KIND_DATATYPES = {"numeric": sorted(NUMERIC_TYPES), "categorical": ["BYTES"], "boolean": ["BOOL"]}


def value_schema(spec: FeatureSpec) -> JsonSchema:
    """One value of a feature: its JSON type, `null` too if the feature is nullable."""
    kind = _JSON_TYPES[spec.kind]
    schema: JsonSchema = {"type": [kind, "null"] if spec.nullable else kind}
    text = f"{spec.kind} ({spec.dtype})" + ("; null allowed" if spec.nullable else "")
    if spec.kind == "numeric":
        # finite (JSON has no NaN/Infinity, but 1e999 parses as inf)
        schema["minimum"], schema["maximum"] = -NUMBER_LIMIT, NUMBER_LIMIT
    if spec.kind == "categorical" and spec.categories:
        shown = ", ".join(spec.categories[:20]) + (", …" if len(spec.categories) > 20 else "")
        text += f"; seen in training: {shown} (others are passed to the model as they are)"
        schema["examples"] = list(spec.categories[:5])
    schema["description"] = text
    return schema


def _id_schema(id_column: str) -> JsonSchema:
    return {
        "description": f"`{id_column}`: becomes the row's prediction id (any JSON value, "
        "as a string); absent or null: one is generated"
    }


def record_schema(features: Sequence[FeatureSpec] | None, id_column: str | None) -> JsonSchema:
    """One record: every feature by name; other keys are allowed and ignored."""
    if features is None:
        return {
            "type": "object",
            "additionalProperties": True,
            "description": "feature name → value (no version is served yet)",
        }
    props = {f.name: value_schema(f) for f in features}
    if id_column and id_column not in props:
        props[id_column] = _id_schema(id_column)
    return {
        "type": "object",
        "properties": props,
        "required": [f.name for f in features],
        "additionalProperties": True,
        "description": "one row: every feature by name; other keys are ignored",
    }


def columns_schema(features: Sequence[FeatureSpec] | None, id_column: str | None) -> JsonSchema:
    """Columns by name: a list of values each (or one value for one row), all equally long."""
    text = "feature name → list of values (or one value for one row); every column as long"
    if features is None:
        return {"type": "object", "additionalProperties": True, "description": text}
    props: dict[str, JsonSchema] = {}
    for f in features:
        one = value_schema(f)
        props[f.name] = {"anyOf": [{"type": "array", "minItems": 1, "items": one}, one]}
    if id_column and id_column not in props:
        props[id_column] = _id_schema(id_column)
    return {
        "type": "object",
        "properties": props,
        "required": [f.name for f in features],
        "additionalProperties": True,
        "description": text,
    }


def predict_request() -> JsonSchema:
    records = {"type": "array", "minItems": 1, "items": {"$ref": REF + "Record"}}
    return {
        "oneOf": [
            {
                "type": "object",
                "required": ["records"],
                "properties": {"records": records},
                "description": '`{"records": [...]}`; other keys are ignored',
            },
            records | {"description": "a bare list of records"},
        ]
    }


_SHAPE: JsonSchema = {
    "type": "array",
    "minItems": 1,
    "maxItems": 2,
    "prefixItems": [{"type": "integer", "minimum": 1}, {"const": 1}],
    "description": "[rows] or [rows, 1]; `data` holds `rows` values",
}
_IGNORED: JsonSchema = {"description": "accepted and ignored"}


def _tensor(name: JsonSchema, datatypes: Sequence[str], item: JsonSchema) -> JsonSchema:
    data = {
        "type": "array",
        "minItems": 1,
        "items": {"anyOf": [item, {"type": "array", "items": item}]},
        "description": "row-major values: flat, or one list per row",
    }
    return {
        "type": "object",
        "required": ["name", "shape", "datatype", "data"],
        "properties": {
            "name": name,
            "shape": _SHAPE,
            "datatype": {"enum": list(datatypes)},
            "data": data,
            "parameters": _IGNORED,
        },
    }


def inference_request(features: Sequence[FeatureSpec] | None) -> JsonSchema:
    """OIP v2: one input tensor per feature, named after it, with a datatype of its kind."""
    names = [f.name for f in features or ()]
    other = _tensor(
        {"type": "string"} | ({"not": {"enum": names}} if names else {}), sorted(OIP_TYPES), {}
    )
    other["description"] = "an input that is not a feature (the id column, or ignored)"
    tensors = [
        _tensor({"const": f.name}, _KIND_DATATYPES[f.kind], value_schema(f))
        | {"description": f"feature `{f.name}`"}
        for f in features or ()
    ]
    inputs: JsonSchema = {
        "type": "array",
        "minItems": 1,
        "items": {"anyOf": [*tensors, other]},
        "description": "one tensor per feature, each with as many rows",
    }
    if names:
        inputs["allOf"] = [
            {
                "contains": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"const": n}},
                }
            }
            for n in names
        ]
    return {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {
                "description": "echoed as the answer's `id` (as a string); absent: one is generated"
            },
            "parameters": _IGNORED,
            "inputs": inputs,
            "outputs": {"description": "accepted and ignored: every output is returned"},
        },
    }


def invocations_request(features: Sequence[FeatureSpec] | None) -> JsonSchema:
    """MLflow's scoring protocol: exactly one of the four forms (`params` is ignored)."""
    records = {"type": "array", "minItems": 1, "items": {"$ref": REF + "Record"}}
    either = {"anyOf": [records, {"$ref": REF + "Columns"}]}
    columns: JsonSchema = {"type": "array", "description": "column names, every feature's"}
    if features:
        columns["allOf"] = [{"contains": {"const": f.name}} for f in features]
    split = {
        "type": "object",
        "required": ["columns", "data"],
        "properties": {
            "columns": columns,
            "data": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "array"},
                "description": "rows, each as long as `columns`",
            },
            "index": _IGNORED,
        },
    }
    forms = {
        "dataframe_split": split,
        "dataframe_records": records,
        "instances": either,
        "inputs": either,
    }
    return {
        "oneOf": [
            {
                "type": "object",
                "required": [key],
                "properties": {key: schema, "params": _IGNORED},
                "title": key,
            }
            for key, schema in forms.items()
        ]
    }


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


def score_schema(model: LoadedModel | None) -> JsonSchema:
    probability = {"type": "number", "minimum": 0, "maximum": 1, "description": "P(positive class)"}
    if model is None:
        return {"anyOf": [probability, {"type": "null"}]}
    if model.task == "binary_classification" and hasattr(model.estimator, "predict_proba"):
        return probability
    return {"type": "null", "description": "only binary classifiers score"}


def predict_response(model: LoadedModel | None) -> JsonSchema:
    row = {
        "type": "object",
        "required": ["prediction_id", "prediction", "score"],
        "properties": {
            "prediction_id": {"type": "string"},
            "prediction": {"$ref": REF + "Prediction"},
            "score": score_schema(model),
        },
    }
    return {
        "type": "object",
        "required": ["model_name", "model_version", "predictions"],
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "predictions": {"type": "array", "minItems": 1, "items": row},
        },
    }


def inference_response() -> JsonSchema:
    tensor = {
        "type": "object",
        "required": ["name", "datatype", "shape", "data"],
        "properties": {
            "name": {"enum": ["prediction", "score", "prediction_id"]},
            "datatype": {"enum": sorted(OIP_TYPES)},
            "shape": {"type": "array", "items": {"type": "integer"}},
            "data": {"type": "array"},
        },
    }
    return {
        "type": "object",
        "required": ["model_name", "model_version", "id", "outputs"],
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "outputs": {"type": "array", "minItems": 2, "items": tensor},
        },
    }


def invocations_response() -> JsonSchema:
    return {
        "type": "object",
        "required": ["predictions"],
        "properties": {
            "predictions": {"type": "array", "minItems": 1, "items": {"$ref": REF + "Prediction"}}
        },
    }


def model_metadata() -> JsonSchema:
    tensor = {
        "type": "object",
        "required": ["name", "datatype", "shape"],
        "properties": {
            "name": {"type": "string"},
            "datatype": {"enum": sorted(OIP_TYPES)},
            "shape": {"type": "array", "items": {"type": "integer"}},
        },
    }
    return {
        "type": "object",
        "required": ["name", "versions", "platform", "inputs", "outputs"],
        "properties": {
            "name": {"type": "string"},
            "versions": {"type": "array", "items": {"type": "string"}},
            "platform": {"type": "string"},
            "inputs": {"type": "array", "items": tensor},
            "outputs": {"type": "array", "items": tensor},
        },
    }


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


def _pydantic_components() -> dict[str, JsonSchema]:
    out: dict[str, JsonSchema] = {}
    for model in (ErrorBody, ApiError):
        schema = model.model_json_schema(ref_template=REF + "{model}")
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return out


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
    features = None if model is None else model.features
    served = (
        f"version {model.version} of `{model_name}`"
        if model is not None
        else f"no version of `{model_name}` yet"
    )
    doc["info"]["description"] = (
        f"Serves {served}. The request schemas below are written from the served version's "
        "features and change when another version is deployed."
    )
    components = doc.setdefault("components", {}).setdefault("schemas", {})
    components.update(_pydantic_components())
    components.update(
        {
            "Record": record_schema(features, id_column),
            "Columns": columns_schema(features, id_column),
            "Prediction": prediction_schema(model),
            "PredictRequest": predict_request(),
            "PredictResponse": predict_response(model),
            "InferenceRequest": inference_request(features),
            "InferenceResponse": inference_response(),
            "InvocationsRequest": invocations_request(features),
            "InvocationsResponse": invocations_response(),
            "ModelMetadata": model_metadata(),
        }
    )
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
            responses=_ok({"$ref": REF + "InferenceResponse"}) | _errors(400, 404, 413, 422, 503),
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
    put(
        "/v2/health/ready",
        "get",
        responses=_ok(
            {"type": "object", "properties": {"ready": {"const": True}}, "required": ["ready"]},
            "ready",
        )
        | _errors(503),
    )
    for path in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        put(
            path,
            "get",
            responses=_ok({"$ref": REF + "ModelMetadata"}, "the model's inputs and outputs")
            | _errors(404, 503),
        )
    for path in ("/v2/models/{name}/ready", "/v2/models/{name}/versions/{version}/ready"):
        ready = {
            "type": "object",
            "required": ["name", "ready"],
            "properties": {"name": {"type": "string"}, "ready": {"const": True}},
        }
        put(path, "get", responses=_ok(ready, "ready") | _errors(404, 503))
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
    parse, and the bearer token as a security scheme."""
    components = doc["components"]
    for path, item in doc.get("paths", {}).items():
        body = REF + ("ApiError" if path.startswith("/api/") else "ErrorBody")
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
