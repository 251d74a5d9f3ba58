"""Input the prediction log cannot store (lone UTF-16 surrogates) and input nested too deeply
are refused at parse time with a 4xx on every prediction route, never answered 200 (which
would block the log) and never a 500 (RecursionError)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from opsloop.serve import PredictionLogWriter, ServeContext, create_app
from opsloop.serve.fastjson import MAX_DEPTH
from opsloop.store import OpsStore
from serve_fixtures import fitted, wait_for


@pytest.fixture
def ready(tmp_path: Path) -> Iterator[TestClient]:
    store = OpsStore("sqlite://")
    model = fitted(1)
    writer = PredictionLogWriter(tmp_path / "log", "m", flush_interval=0.05)
    ctx = ServeContext("m", store, lambda v: model, writer, id_column="row_id")
    store.record_deployment("m", "1", reason="test")
    with TestClient(create_app(ctx)) as c:
        wait_for(lambda: c.get("/v2/health/ready").status_code == 200)
        yield c


SURROGATE = rb'"\ud800"'
BODIES = {
    "/predict": b'{"records": [{"x": 1.0, "color": %s}]}',
    "/invocations": b'{"dataframe_records": [{"x": 1.0, "color": %s}]}',
    "/v2/models/m/infer": (
        b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1.0]},'
        b' {"name": "color", "shape": [1], "datatype": "BYTES", "data": [%s]}]}'
    ),
}


@pytest.mark.parametrize("route", sorted(BODIES))
@pytest.mark.parametrize(
    "value",
    [SURROGATE, rb'"red\udfff"', b'"\xed\xa0\x80"'],  # escaped, low half, raw surrogate bytes
)
def test_a_string_the_log_cannot_store_is_refused(
    ready: TestClient, route: str, value: bytes
) -> None:
    r = ready.post(
        route, content=BODIES[route] % value, headers={"content-type": "application/json"}
    )
    assert r.status_code == 400, r.text
    body = r.json()
    assert "surrogate" in body["error"] or "UTF-8" in body["error"], body


@pytest.mark.parametrize("where", ["id", "key"])
def test_surrogates_anywhere_in_the_body_are_refused(ready: TestClient, where: str) -> None:
    record = (
        b'{"x": 1.0, "color": "red", "row_id": "\\ud800"}'
        if where == "id"
        else b'{"x": 1.0, "color": "red", "\\udbff": 1}'
    )
    r = ready.post("/predict", content=b'{"records": [%s]}' % record)
    assert r.status_code == 400, r.text


def test_good_requests_still_answer_with_escaped_text(ready: TestClient) -> None:
    r = ready.post(
        "/predict", content=rb'{"records": [{"x": 1.0, "color": "r\u00e9d \ud83d\ude00"}]}'
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("route", sorted(BODIES))
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1_000, 1_100, 100_000])
def test_deep_nesting_is_a_400(ready: TestClient, route: str, depth: int) -> None:
    deep = b"[" * depth + b"1" + b"]" * depth
    r = ready.post(route, content=BODIES[route] % deep)
    assert r.status_code == 400, r.text
    assert "nested" in r.json()["error"]


@pytest.mark.parametrize("route", sorted(BODIES))
def test_deep_objects_are_a_400_too(ready: TestClient, route: str) -> None:
    deep = b'{"a": ' * 1_000 + b"1" + b"}" * 1_000
    r = ready.post(route, content=BODIES[route] % deep)
    assert r.status_code == 400, r.text


def test_brackets_inside_strings_are_not_nesting(ready: TestClient) -> None:
    color = b'"' + b"[" * 5_000 + b'"'
    r = ready.post("/predict", content=BODIES["/predict"] % color)
    assert r.status_code == 200, r.text


def test_nesting_within_the_bound_gets_a_short_422(ready: TestClient) -> None:
    deep = b"[" * (MAX_DEPTH - 4) + b"1" + b"]" * (MAX_DEPTH - 4)
    r = ready.post("/predict", content=BODIES["/predict"] % deep)
    assert r.status_code == 422, r.text
    assert all(len(d["got"]) <= 80 for d in r.json()["details"])
