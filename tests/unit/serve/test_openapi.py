"""The OpenAPI schema written from the served model: per-feature types and nullability, the
schema following a deploy, and the schema and the server agreeing on real bodies (a body the
schema accepts is answered, one it rejects is a 4xx, every error fits the error schema)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from opsloop.data.features import FeatureSpec
from opsloop.registry.base import LoadedModel
from opsloop.serve import ServeContext, create_app
from opsloop.serve.inputs import NUMERIC_TYPES
from opsloop.serve.openapi import inference_request, record_schema
from opsloop.store import OpsStore
from serve_fixtures import wait_for

FEATURES = [
    FeatureSpec("a", "numeric", "float64", nullable=False),
    FeatureSpec("b", "numeric", "int64", nullable=True),
    FeatureSpec("color", "categorical", "string", nullable=True, categories=("blue", "red")),
    FeatureSpec("flag", "boolean", "bool", nullable=False),
]


def fitted(version: str) -> LoadedModel:
    """A real pipeline over FEATURES: b and color may be null (b is imputed)."""
    rng = np.random.default_rng(int(version))
    n = 300
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "color": rng.choice(["red", "blue"], n),
            "flag": rng.random(n) < 0.5,
        }
    )
    y = (frame["a"] + frame["b"] + (frame["color"] == "red") > 0.5).astype(int)
    frame.loc[::10, "b"] = np.nan
    encode = ColumnTransformer(
        [
            ("num", SimpleImputer(), ["a", "b"]),
            ("c", OneHotEncoder(handle_unknown="ignore"), ["color"]),
            ("flag", "passthrough", ["flag"]),
        ]
    )
    est = make_pipeline(encode, LogisticRegression()).fit(frame, y)
    return LoadedModel("m", version, est, FEATURES, "binary_classification")


@pytest.fixture
def store() -> OpsStore:
    return OpsStore("sqlite://")


@pytest.fixture
def client(store: OpsStore) -> Iterator[TestClient]:
    models = {"1": fitted("1"), "2": fitted("2")}
    ctx = ServeContext(
        "m", store, lambda v: models[v], None, id_column="row_id", reload_interval=0.05
    )
    with TestClient(create_app(ctx)) as c:
        yield c


@pytest.fixture
def ready(client: TestClient, store: OpsStore) -> TestClient:
    store.record_deployment("m", "1", reason="test")
    wait_for(lambda: client.get("/v2/health/ready").status_code == 200)
    return client


def validator(doc: dict[str, Any], component: str) -> Any:
    """A JSON Schema 2020-12 validator for one component of the OpenAPI document."""
    return jsonschema_rs.validator_for(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": f"#/components/schemas/{component}",
            "components": doc["components"],
        }
    )


def test_record_schema_gives_each_feature_its_json_type_and_nullability() -> None:
    schema = record_schema(FEATURES, "row_id")
    props = schema["properties"]
    assert schema["required"] == ["a", "b", "color", "flag"]
    assert props["a"]["type"] == "number"
    assert props["b"]["anyOf"] == [
        {"type": "number", "minimum": -1e308, "maximum": 1e308},
        {"type": "null"},
    ]
    assert props["color"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert props["flag"]["type"] == "boolean"
    assert props["a"]["maximum"] == 1e308 and props["a"]["minimum"] == -1e308
    assert props["color"]["examples"] == ["blue", "red"]
    assert "row_id" in props and "row_id" not in schema["required"]
    assert schema["additionalProperties"] is True
    assert "required" not in record_schema(None, None)  # no version served yet
    record = jsonschema_rs.validator_for(schema)
    assert record.is_valid({"a": 1, "b": None, "color": None, "flag": True, "other": "x"})
    assert not record.is_valid({"a": None, "b": 1, "color": "red", "flag": True})
    assert not record.is_valid({"a": 1e309, "b": 1, "color": "red", "flag": True})
    assert not record.is_valid({"a": 1, "b": 1, "color": "red", "flag": 1})


def test_inference_request_names_each_feature_with_the_datatypes_of_its_kind() -> None:
    schema = inference_request(FEATURES)

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        ref = node.get("$ref")
        return node if ref is None else schema["$defs"][ref.rsplit("/", 1)[-1]]

    tensors = {
        t["properties"]["name"].get("const"): t
        for t in map(resolve, schema["properties"]["inputs"]["items"]["anyOf"])
    }
    assert tensors["a"]["properties"]["datatype"]["enum"] == sorted(NUMERIC_TYPES)
    assert tensors["color"]["properties"]["datatype"]["const"] == "BYTES"
    assert tensors["flag"]["properties"]["datatype"]["const"] == "BOOL"
    other = tensors[None]["properties"]["name"]
    assert other["not"]["enum"] == ["a", "b", "color", "flag"]
    every = [
        c["contains"]["properties"]["name"]["const"]
        for c in schema["properties"]["inputs"]["allOf"]
    ]
    assert every == ["a", "b", "color", "flag"]


def test_the_schema_follows_the_served_version(client: TestClient, store: OpsStore) -> None:
    doc = client.get("/openapi.json").json()
    assert "no version of `m` yet" in doc["info"]["description"]
    assert "required" not in doc["components"]["schemas"]["Record"]
    infer = doc["paths"]["/v2/models/{name}/versions/{version}/infer"]["post"]
    assert {"400", "404", "413", "422", "503"} <= set(infer["responses"])
    assert client.get("/docs").status_code == 200

    store.record_deployment("m", "1", reason="test")
    wait_for(lambda: client.get("/v2/health/ready").status_code == 200)
    doc = client.get("/openapi.json").json()
    assert "version 1 of `m`" in doc["info"]["description"]
    assert doc["components"]["schemas"]["Record"]["required"] == ["a", "b", "color", "flag"]
    assert doc["components"]["schemas"]["Prediction"] == {"type": "integer", "enum": [0, 1]}
    params = {
        p["name"]: p["schema"]
        for p in doc["paths"]["/v2/models/{name}/versions/{version}/infer"]["post"]["parameters"]
    }
    assert params["name"]["enum"] == ["m"] and params["version"]["enum"] == ["1"]
    app = client.app
    assert app.openapi() is app.openapi()  # type: ignore[attr-defined]  # cached

    store.record_deployment("m", "2", reason="test")
    wait_for(lambda: client.get("/v2/models/m").json()["versions"] == ["2"])
    doc = client.get("/openapi.json").json()
    params = {
        p["name"]: p["schema"]
        for p in doc["paths"]["/v2/models/{name}/versions/{version}/infer"]["post"]["parameters"]
    }
    assert params["version"]["enum"] == ["2"]


ROW = {"a": 0.5, "b": -1, "color": "red", "flag": True}
OIP = {
    "inputs": [
        {"name": "a", "shape": [2], "datatype": "FP64", "data": [0.5, 1.0]},
        {"name": "b", "shape": [2, 1], "datatype": "INT64", "data": [[1], [2]]},
        {"name": "color", "shape": [2], "datatype": "BYTES", "data": ["red", None]},
        {"name": "flag", "shape": [2], "datatype": "BOOL", "data": [True, False]},
        {"name": "row_id", "shape": [2], "datatype": "BYTES", "data": ["k1", "k2"]},
    ]
}


def _with(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**body, **changes}


@pytest.mark.parametrize(
    ("route", "component", "body", "valid"),
    [
        ("/predict", "PredictRequest", {"records": [ROW, _with(ROW, color=None, row_id=7)]}, True),
        ("/predict", "PredictRequest", [ROW], True),
        ("/predict", "PredictRequest", {"records": [ROW], "extra": 1}, True),
        ("/predict", "PredictRequest", {"records": [_with(ROW, b=None)]}, True),
        ("/predict", "PredictRequest", {"records": []}, False),
        ("/predict", "PredictRequest", {"records": [_with(ROW, a=None)]}, False),
        ("/predict", "PredictRequest", {"records": [_with(ROW, a=3 * 10**308)]}, False),
        ("/predict", "PredictRequest", {"records": [_with(ROW, flag=1)]}, False),
        ("/predict", "PredictRequest", {"records": [_with(ROW, color=3)]}, False),
        ("/predict", "PredictRequest", {"rows": [ROW]}, False),
        ("/v2/models/m/infer", "InferenceRequest", OIP, True),
        ("/v2/models/m/infer", "InferenceRequest", _with(OIP, id=5, parameters={"x": 1}), True),
        ("/v2/models/m/infer", "InferenceRequest", {"inputs": OIP["inputs"][1:]}, False),
        (
            "/v2/models/m/infer",
            "InferenceRequest",
            {"inputs": [_with(OIP["inputs"][0], datatype="BYTES"), *OIP["inputs"][1:]]},
            False,
        ),
        (
            "/v2/models/m/infer",
            "InferenceRequest",
            {"inputs": [_with(OIP["inputs"][0], shape=[2, 2]), *OIP["inputs"][1:]]},
            False,
        ),
        (
            "/v2/models/m/infer",
            "InferenceRequest",
            {"inputs": [_with(OIP["inputs"][3], data=[1, 0]), *OIP["inputs"][:3]]},
            False,
        ),
        (
            "/invocations",
            "InvocationsRequest",
            {"dataframe_split": {"columns": list(ROW), "data": [list(ROW.values())]}},
            True,
        ),
        ("/invocations", "InvocationsRequest", {"dataframe_records": [ROW], "params": {}}, True),
        ("/invocations", "InvocationsRequest", {"instances": [ROW]}, True),
        ("/invocations", "InvocationsRequest", {"inputs": {k: [v] for k, v in ROW.items()}}, True),
        ("/invocations", "InvocationsRequest", {"inputs": ROW}, True),  # one value per column
        ("/invocations", "InvocationsRequest", {"instances": [ROW], "inputs": [ROW]}, False),
        ("/invocations", "InvocationsRequest", {"records": [ROW]}, False),
        (
            "/invocations",
            "InvocationsRequest",
            {"dataframe_split": {"columns": ["a"], "data": [[1.0]]}},
            False,
        ),
        ("/invocations", "InvocationsRequest", {"dataframe_records": {"a": [1.0]}}, False),
    ],
)
def test_schema_and_server_agree_on_bodies(
    ready: TestClient, route: str, component: str, body: Any, valid: bool
) -> None:
    doc = ready.get("/openapi.json").json()
    assert validator(doc, component).is_valid(body) is valid
    r = ready.post(route, json=body)
    if valid:
        assert r.status_code == 200, r.text
        name = {
            "PredictRequest": "PredictResponse",
            "InferenceRequest": "InferenceResponse",
            "InvocationsRequest": "InvocationsResponse",
        }[component]
        validator(doc, name).validate(r.json())
    else:
        assert 400 <= r.status_code < 500, r.text
        validator(doc, "ErrorBody").validate(r.json())


def test_a_row_the_model_cannot_score_is_a_422_naming_it(ready: TestClient) -> None:
    rows = [ROW, _with(ROW, a=1e308, b=-1e308)]  # inf − inf inside the model: NaN
    r = ready.post("/predict", json={"records": rows})
    assert r.status_code == 422, r.text
    body = r.json()
    assert "no finite answer for row(s) 1" in body["error"]
    assert body["details"][0]["field"] == "score[1]"
    doc = ready.get("/openapi.json").json()
    validator(doc, "ErrorBody").validate(body)
    assert ready.post("/predict", json={"records": [ROW]}).status_code == 200


def test_every_error_fits_the_error_schema(client: TestClient, store: OpsStore) -> None:
    doc = client.get("/openapi.json").json()
    errors = validator(doc, "ErrorBody")
    not_yet = client.post("/predict", json={"records": [ROW]})
    assert not_yet.status_code == 503
    errors.validate(not_yet.json())
    store.record_deployment("m", "1", reason="test")
    wait_for(lambda: client.get("/v2/health/ready").status_code == 200)
    answers = [
        client.post("/predict", content=b"{nope", headers={"content-type": "application/json"}),
        client.post("/predict", json={"records": [_with(ROW, a="high")]}),
        client.post("/v2/models/other/infer", json=OIP),
        client.post("/v2/models/m/versions/9/infer", json=OIP),
        client.post("/invocations", content=b"a,b\n", headers={"content-type": "text/csv"}),
        client.get("/no/such/route"),
        client.put("/predict", json={}),
    ]
    assert [a.status_code for a in answers] == [400, 422, 404, 404, 422, 404, 405]
    for answer in answers:
        errors.validate(answer.json())
    invalid = answers[1].json()
    assert invalid["details"] == [
        {"field": "a", "expected": "a number within ±1e308", "got": "'high'"}
    ]


def test_the_documented_bodies_are_the_pydantic_models_over_the_features(
    ready: TestClient,
) -> None:
    from typing import get_args

    from opsloop.serve.inputs import OIP_TYPES
    from opsloop.serve.schemas import OipDatatype, record_model

    doc = ready.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    served = fitted("1")
    assert schemas["Record"] == record_schema(served.features, "row_id")
    assert set(record_model(served.features, "row_id").model_fields) == {
        "f0",
        "f1",
        "f2",
        "f3",
        "row_id_",
    }
    assert set(get_args(OipDatatype)) == OIP_TYPES
    assert schemas["ApiError"]["$ref"] == "#/components/schemas/ErrorBody"
    assert set(schemas["ErrorBody"]["required"]) == {
        "error",
        "type",
        "expected",
        "got",
        "fix",
        "details",
    }
    predict = doc["paths"]["/predict"]["post"]["responses"]
    assert predict["500"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorBody")
