"""The prediction server in process (TestClient runs the lifespan), on an in-memory store and
real scikit-learn models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsloop.registry.base import LoadedModel
from opsloop.serve import PredictionLogWriter, ServeContext, create_app
from opsloop.store import OpsStore
from serve_fixtures import fitted, wait_for


@pytest.fixture
def store() -> OpsStore:
    return OpsStore("sqlite://")


@pytest.fixture
def client(store: OpsStore, tmp_path: Path) -> Iterator[TestClient]:
    models = {"1": fitted(1), "2": fitted(2)}
    writer = PredictionLogWriter(tmp_path / "log", "m", flush_interval=0.05)
    ctx = ServeContext(
        "m", store, lambda v: models[v], writer, id_column="row_id", reload_interval=0.05
    )
    with TestClient(create_app(ctx)) as c:
        c.writer = writer  # type: ignore[attr-defined]
        c.log_root = tmp_path / "log"  # type: ignore[attr-defined]
        yield c


def test_not_ready_until_deployed_then_hot_swap(client: TestClient, store: OpsStore) -> None:
    r = client.get("/v2/health/ready")
    assert r.status_code == 503 and "opsloop train" in r.json()["error"]
    assert (
        client.post("/predict", json={"records": [{"x": 1.0, "color": "red"}]}).status_code == 503
    )
    assert client.get("/v2/health/live").json() == {"live": True}
    store.record_deployment("m", "1", reason="test")
    wait_for(lambda: client.get("/v2/health/ready").status_code == 200)
    assert client.get("/v2/models/m").json()["versions"] == ["1"]
    store.record_deployment("m", "2", reason="test")
    wait_for(lambda: client.get("/v2/models/m").json()["versions"] == ["2"])
    r = client.post("/predict", json={"records": [{"x": 1.0, "color": "red"}]})
    assert r.json()["model_version"] == "2"


@pytest.fixture
def ready(client: TestClient, store: OpsStore) -> TestClient:
    store.record_deployment("m", "1", reason="test")
    wait_for(lambda: client.get("/v2/health/ready").status_code == 200)
    return client


def test_predict_records_and_ids(ready: TestClient) -> None:
    r = ready.post(
        "/predict",
        json={
            "records": [
                {"x": 0.5, "color": "red", "row_id": "a-1", "extra": 3},
                {"x": -2, "color": None},
                {"x": 1.0, "color": "green"},  # unseen category: the model handles it
            ]
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_name"] == "m" and body["model_version"] == "1"
    preds = body["predictions"]
    assert preds[0]["prediction_id"] == "a-1" and len(preds[1]["prediction_id"]) == 32
    assert all(0.0 <= p["score"] <= 1.0 and p["prediction"] in (0, 1) for p in preds)
    bare = ready.post("/predict", json=[{"x": 0.5, "color": "red"}])
    assert bare.status_code == 200


def test_oip_infer(ready: TestClient) -> None:
    req = {
        "id": "req-7",
        "inputs": [
            {"name": "x", "shape": [2, 1], "datatype": "FP64", "data": [[0.1], [2.0]]},
            {"name": "color", "shape": [2], "datatype": "BYTES", "data": ["red", "blue"]},
            {"name": "row_id", "shape": [2], "datatype": "BYTES", "data": ["k1", "k2"]},
        ],
    }
    r = ready.post("/v2/models/m/infer", json=req)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["id"] == "req-7" and out["model_version"] == "1"
    names = [o["name"] for o in out["outputs"]]
    assert names == ["prediction", "score", "prediction_id"]
    assert out["outputs"][2]["data"] == ["k1", "k2"]
    assert out["outputs"][0]["datatype"] == "INT64" and out["outputs"][0]["shape"] == [2]
    assert ready.post("/v2/models/m/versions/1/infer", json=req).status_code == 200
    meta = ready.get("/v2/models/m").json()
    assert [i["name"] for i in meta["inputs"]] == ["x", "color"]
    assert ready.get("/v2").json()["name"] == "opsloop"
    assert ready.get("/v2/models/m/versions/1/ready").json()["ready"] is True


@pytest.mark.parametrize(
    ("route", "body", "status", "fragment"),
    [
        ("/predict", b"{not json", 400, "not valid JSON"),
        ("/predict", b"", 400, "empty"),
        ("/predict", b'{"records": []}', 422, "at least one record"),
        ("/predict", b'{"records": [1]}', 422, "JSON object"),
        ("/predict", b'{"records": [{"color": "red"}]}', 422, "x"),
        ("/predict", b'{"records": [{"x": "high", "color": "red"}]}', 422, "x"),
        ("/predict", b'{"records": [{"x": null, "color": "red"}]}', 422, "x"),
        ("/predict", b'{"records": [{"x": true, "color": "red"}]}', 422, "x"),
        ("/predict", b'{"records": [{"x": 1e999, "color": "red"}]}', 422, "x"),
        ("/predict", b'{"records": [{"x": NaN, "color": "red"}]}', 422, "x"),
        ("/predict", b'{"records": [{"x": 1, "color": 5}]}', 422, "color"),
        ("/v2/models/m/infer", b'{"inputs": "x"}', 422, "inference request"),
        (
            "/v2/models/m/infer",
            b'{"inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "data": [1]}]}',
            422,
            "invalid inference request",
        ),
        (
            "/v2/models/m/infer",
            b'{"inputs": [{"name": "x", "shape": [1], "datatype": "BYTES", "data": ["a"]}]}',
            422,
            "invalid inference request",
        ),
        (
            "/v2/models/m/infer",
            b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1]}]}',
            422,
            "color",
        ),
        (
            "/v2/models/m/infer",
            b'{"inputs": [{"name": "x", "shape": "1", "datatype": "FP64", "data": [1]}]}',
            422,
            "invalid inference request",
        ),
        # 500s or silently accepted before (found with schemathesis and the OpenAPI schema)
        (
            "/v2/models/m/infer",
            b'{"inputs": [{"name": "x", "shape": [true], "datatype": "FP64", "data": [1]}]}',
            422,
            "x.shape",
        ),
        (
            "/v2/models/m/infer",
            b'{"inputs": [{"name": "x", "shape": [1], "datatype": ["FP64"], "data": [1]}]}',
            422,
            "x.datatype",
        ),
        (
            "/v2/models/m/infer",
            b'{"inputs": [{"name": "x", "shape": [0], "datatype": "FP64", "data": []}]}',
            422,
            "x.shape",
        ),
        (
            "/v2/models/m/infer",
            b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": 1.0}]}',
            422,
            "x.data",
        ),
        (
            "/v2/models/m/infer",
            b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP64"}]}',
            422,
            "x.data",
        ),
        (
            "/v2/models/m/infer",
            b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [[[1.0]]]}, '
            b'{"name": "color", "shape": [1], "datatype": "BYTES", "data": ["red"]}]}',
            422,
            "x",
        ),
        ("/predict", b'{"records": [{"x": 1' + b"0" * 400 + b', "color": "red"}]}', 422, "x"),
        ("/predict", b'{"records": [{"x": 1' + b"0" * 307 + b'1, "color": "red"}]}', 422, "x"),
        ("/v2/models/other/infer", b"{}", 404, "unknown model"),
        ("/v2/models/m/versions/9/infer", b"{}", 404, "serves version 1"),
    ],
)
def test_bad_input_is_4xx_with_details(
    ready: TestClient, route: str, body: bytes, status: int, fragment: str
) -> None:
    r = ready.post(route, content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    payload = r.json()
    assert fragment in payload["error"] or any(fragment in d["field"] for d in payload["details"])
    if status == 422:
        assert payload["details"] and {"field", "expected", "got"} <= set(payload["details"][0])


def test_oversized_body_is_413(ready: TestClient) -> None:
    r = ready.post(
        "/predict",
        content=b" " * (10 * 1024 * 1024 + 1),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413


def test_logged_rows_equal_answered_rows(ready: TestClient) -> None:
    answered = 0
    for i in range(5):
        r = ready.post(
            "/predict",
            json={
                "records": [
                    {"x": float(i), "color": "red", "row_id": f"r{i}-{j}"} for j in range(3)
                ]
            },
        )
        answered += len(r.json()["predictions"])
    ready.writer.flush()  # type: ignore[attr-defined]
    files = list(ready.log_root.glob("model=m/date=*/hour=*/part-*.parquet"))  # type: ignore[attr-defined]
    assert files
    logged = pd.concat([pd.read_parquet(f) for f in files])
    assert len(logged) == answered == 15
    assert {
        "prediction_id",
        "request_id",
        "ts",
        "model_version",
        "route",
        "prediction",
        "score",
        "x",
        "color",
    } <= set(logged.columns)
    assert set(logged["prediction_id"]) == {f"r{i}-{j}" for i in range(5) for j in range(3)}
    assert (logged["model_version"] == "1").all() and (logged["route"] == "stable").all()


def test_metrics_exposed(ready: TestClient) -> None:
    ready.post("/predict", json={"records": [{"x": 1.0, "color": "red"}]})
    ready.post("/predict", content=b"nope")
    text = ready.get("/metrics").text
    assert 'opsloop_requests_total{model_version="1",route="predict",status="200"}' in text
    assert 'status="400"' in text
    assert "opsloop_predictions_total" in text and "opsloop_model_load_seconds" in text
    assert "opsloop_prediction_log_dropped_rows_total" in text
    assert 'opsloop_request_seconds_count{model_version="1",route="predict"} 2.0' in text


def test_failed_load_keeps_old_model(store: OpsStore, tmp_path: Path) -> None:
    good = fitted(1)

    def load(version: str) -> LoadedModel:
        if version == "2":
            raise RuntimeError("artifact store unreachable")
        return good

    ctx = ServeContext("m", store, load, None, reload_interval=0.05)
    store.record_deployment("m", "1", reason="t")
    with TestClient(create_app(ctx)) as c:
        store.record_deployment("m", "2", reason="t")
        holder = c.app.state.holder  # type: ignore[attr-defined]
        wait_for(lambda: holder.last_error is not None)
        r = c.post("/predict", json={"records": [{"x": 1.0, "color": "red"}]})
        assert r.status_code == 200 and r.json()["model_version"] == "1"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=5)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                ["x", "color", "row_id", "records", "inputs", "name", "shape", "datatype", "data"]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    payload=json_values, route=st.sampled_from(["/predict", "/v2/models/m/infer", "/invocations"])
)
def test_no_json_payload_gives_a_5xx(ready: TestClient, payload: object, route: str) -> None:
    r = ready.post(route, json=payload)
    assert r.status_code < 500, r.text


def test_mlflow_invocations_in_every_format(ready: TestClient) -> None:
    rows = [{"x": 0.5, "color": "red"}, {"x": -2.0, "color": "blue"}]
    expected = [
        p["prediction"]
        for p in ready.post("/predict", json={"records": rows}).json()["predictions"]
    ]
    bodies = [
        {"dataframe_split": {"columns": ["x", "color"], "data": [[0.5, "red"], [-2.0, "blue"]]}},
        {"dataframe_records": rows},
        {"instances": rows},
        {"instances": {"x": [0.5, -2.0], "color": ["red", "blue"]}},
        {"inputs": {"x": [0.5, -2.0], "color": ["red", "blue"]}},
        {"inputs": rows, "params": {}},
    ]
    for body in bodies:
        r = ready.post("/invocations", json=body)
        assert r.status_code == 200, (body, r.text)
        assert r.json() == {"predictions": expected}
        assert r.headers["x-opsloop-model-version"] == "1"
    r = ready.post(
        "/invocations",
        content=b"x,color\n0.5,red\n-2.0,blue\n",
        headers={"content-type": "text/csv"},
    )
    assert r.status_code == 200 and r.json() == {"predictions": expected}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"records": [{"x": 1.0, "color": "red"}]}, "exactly one of dataframe_split"),
        ({"dataframe_records": [], "inputs": []}, "exactly one of"),
        ({"dataframe_split": {"columns": ["x", "color"], "data": [[1.0]]}}, "every row needs 2"),
        ({"dataframe_split": {"columns": ["x"]}}, "dataframe_split needs"),
        ({"dataframe_records": [{"x": 1.0}]}, "records lack feature(s) color"),
        ({"inputs": {"x": [1.0, 2.0], "color": ["red"]}}, "same number of values"),
        ({"inputs": {"x": [], "color": []}}, "has no rows"),
        ({"inputs": {"x": ["one"], "color": ["red"]}}, "invalid input for feature(s) x"),
        ({"dataframe_records": 3}, "must be a list"),
    ],
)
def test_bad_invocations_are_422(ready: TestClient, body: dict, fragment: str) -> None:
    r = ready.post("/invocations", json=body)
    assert r.status_code == 422 and fragment in r.json()["error"], r.text
    r = ready.post("/invocations", content=b"x,color\n", headers={"content-type": "text/csv"})
    assert r.status_code == 422


def test_input_the_model_refuses_is_422(store: OpsStore) -> None:
    """An encoder fitted without handle_unknown="ignore" raises on an unseen category:
    that is the caller's input, so a 422 naming the problem, not a 500."""
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    base = fitted(1)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=100), "color": rng.choice(["red", "blue"], 100)})
    strict = make_pipeline(
        ColumnTransformer([("c", OneHotEncoder(), ["color"])], remainder="passthrough"),
        LogisticRegression(),
    ).fit(frame, (frame["x"] > 0).astype(int))
    model = LoadedModel("m", "1", strict, base.features, "binary_classification")
    store.record_deployment("m", "1", reason="t")
    with TestClient(create_app(ServeContext("m", store, lambda v: model, None))) as c:
        ok = c.post("/predict", json={"records": [{"x": 1.0, "color": "red"}]})
        assert ok.status_code == 200
        r = c.post("/predict", json={"records": [{"x": 1.0, "color": "green"}]})
        assert r.status_code == 422 and "cannot score this input" in r.json()["error"]
        assert "unknown categories" in r.json()["details"][0]["got"]
