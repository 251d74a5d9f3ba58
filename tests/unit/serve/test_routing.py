"""Traffic routing in the server during rollouts (in process, in-memory store, real
scikit-learn models): canary shares with sticky assignment, shadow mirrors that are logged
and never returned, a failing candidate that costs callers nothing, serving statistics in
the ops store, and the blue-green rollback window."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from opsloop.registry.base import LoadedModel
from opsloop.serve import PredictionLogWriter, ServeContext, create_app
from opsloop.serve.state import assignment_bucket
from opsloop.store import OpsStore
from opsloop.store.records import utcnow
from serve_fixtures import fitted, wait_for


class Broken:
    """An estimator whose every prediction fails (a bad candidate)."""

    classes_ = (0, 1)

    def predict_proba(self, x: Any) -> Any:
        raise RuntimeError("candidate exploded")

    def predict(self, x: Any) -> Any:
        raise RuntimeError("candidate exploded")


@pytest.fixture
def store() -> OpsStore:
    return OpsStore("sqlite://")


def make_client(
    store: OpsStore,
    tmp_path: Path,
    models: dict[str, LoadedModel],
    loads: list[str] | None = None,
    **kw: Any,
) -> TestClient:
    def load(version: str) -> LoadedModel:
        if loads is not None:
            loads.append(version)
        return models[version]

    writer = PredictionLogWriter(tmp_path / "log", "m", flush_interval=0.05)
    ctx = ServeContext("m", store, load, writer, id_column="row_id", reload_interval=0.05, **kw)
    client = TestClient(create_app(ctx))
    client.writer = writer  # type: ignore[attr-defined]
    return client


@pytest.fixture
def client(store: OpsStore, tmp_path: Path) -> Iterator[TestClient]:
    store.record_deployment("m", "1", reason="t")
    with make_client(store, tmp_path, {"1": fitted(1), "2": fitted(2)}) as c:
        wait_for(lambda: c.get("/v2/health/ready").status_code == 200)
        yield c


def rollout(store: OpsStore, strategy: str, share: float) -> None:
    store.start_rollout(
        "m",
        strategy=strategy,
        stable_version="1",
        candidate_version="2",
        steps=[share] if strategy == "shadow" else [share, 100],
        share=share,
        settings={},
        actor="t",
        reason="t",
    )


def predict(c: TestClient, row_id: str, **headers: str) -> str:
    r = c.post(
        "/predict",
        json={"records": [{"x": 0.3, "color": "red", "row_id": row_id}]},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    return str(r.json()["model_version"])


def logged(c: TestClient) -> pd.DataFrame:
    c.writer.flush()  # type: ignore[attr-defined]
    files = sorted((c.writer.root).glob("model=m/*/*/*.parquet"))  # type: ignore[attr-defined]
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def test_assignment_is_stable_and_proportional() -> None:
    assert assignment_bucket("user-42") == assignment_bucket("user-42")  # no hash salt
    buckets = [assignment_bucket(f"k{i}") for i in range(20_000)]
    share = sum(b < 2_500 for b in buckets) / len(buckets)
    assert abs(share - 0.25) < 4 * math.sqrt(0.25 * 0.75 / len(buckets))


def test_canary_splits_traffic_sticky_by_key(client: TestClient, store: OpsStore) -> None:
    rollout(store, "canary", 30)
    wait_for(lambda: client.get("/v2/models/m").json()["versions"] == ["1", "2"])
    n = 400
    versions = Counter(predict(client, f"id-{i}") for i in range(n))
    expected = sum(assignment_bucket(f"id-{i}") < 3000 for i in range(n))
    assert versions["2"] == expected and versions["1"] == n - expected  # exactly as hashed
    sticky = {predict(client, f"new-{i}", **{"X-Request-Id": "user-7"}) for i in range(20)}
    assert len(sticky) == 1
    # the candidate version can also be called explicitly
    assert (
        client.post(
            "/v2/models/m/versions/2/infer",
            json={
                "inputs": [
                    {"name": "x", "shape": [1], "datatype": "FP64", "data": [0.1]},
                    {"name": "color", "shape": [1], "datatype": "BYTES", "data": ["red"]},
                ]
            },
        ).json()["model_version"]
        == "2"
    )
    rows = logged(client)
    assert set(rows.groupby("model_version")["route"].unique().map(tuple)) == {
        ("stable",),
        ("candidate",),
    }
    # statistics reach the ops store for the rollout analysis
    wait_for(lambda: ("2", "candidate") in store.sum_serve_stats("m", rows["ts"].min()))
    stats = store.sum_serve_stats("m", rows["ts"].min())
    assert stats[("2", "candidate")].requests >= expected


def test_shadow_is_logged_never_returned(client: TestClient, store: OpsStore) -> None:
    rollout(store, "shadow", 100)
    wait_for(lambda: client.get("/v2/models/m").json()["versions"] == ["1", "2"])
    answered = {predict(client, f"s-{i}") for i in range(50)}
    assert answered == {"1"}
    wait_for(lambda: (logged(client)["route"] == "shadow").sum() == 50)
    rows = logged(client)
    shadow, stable = rows[rows["route"] == "shadow"], rows[rows["route"] == "stable"]
    assert set(shadow["model_version"]) == {"2"} and set(stable["model_version"]) == {"1"}
    assert sorted(shadow["prediction_id"]) == sorted(stable["prediction_id"])


def test_failing_candidate_costs_callers_nothing(store: OpsStore, tmp_path: Path) -> None:
    store.record_deployment("m", "1", reason="t")
    broken = LoadedModel("m", "2", Broken(), fitted(1).features, "binary_classification")
    since = utcnow()
    with make_client(store, tmp_path, {"1": fitted(1), "2": broken}) as c:
        rollout(store, "canary", 100)
        wait_for(lambda: c.get("/v2/models/m").json()["versions"] == ["1", "2"])
        assert {predict(c, f"b-{i}") for i in range(30)} == {"1"}
    stats = store.sum_serve_stats("m", since)  # flushed at shutdown at the latest
    assert stats[("2", "candidate")].errors == 30
    assert stats[("1", "stable")].errors == 0


def test_blue_green_keeps_the_previous_version_loaded(store: OpsStore, tmp_path: Path) -> None:
    store.record_deployment("m", "1", reason="t")
    loads: list[str] = []
    with make_client(
        store, tmp_path, {"1": fitted(1), "2": fitted(2)}, loads, rollback_window=600
    ) as c:
        store.record_deployment("m", "2", reason="switch")
        wait_for(lambda: c.get("/v2/models/m").json()["versions"] == ["2"])
        store.record_deployment("m", "1", reason="rollback", event_kind="rolled_back")
        wait_for(lambda: c.get("/v2/models/m").json()["versions"] == ["1"])
    assert loads == ["1", "2"]  # the rollback needed no load

    loads.clear()
    with make_client(
        store, tmp_path, {"1": fitted(1), "2": fitted(2)}, loads, rollback_window=0
    ) as c:
        store.record_deployment("m", "2", reason="switch")
        wait_for(lambda: c.get("/v2/models/m").json()["versions"] == ["2"])
        wait_for(lambda: "1" not in c.app.state.holder._loaded)  # type: ignore[attr-defined]
        store.record_deployment("m", "1", reason="rollback", event_kind="rolled_back")
        wait_for(lambda: c.get("/v2/models/m").json()["versions"] == ["1"])
    assert loads == ["1", "2", "1"]
