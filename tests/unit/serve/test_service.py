"""`PredictionService` without HTTP: what is served, routing (stable, canary, shadow), the
candidate fallback, the prediction log and the counters, called directly."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from opsloop.registry.base import LoadedModel
from opsloop.serve import PredictionLogWriter, PredictionService
from opsloop.serve.errors import RequestError
from opsloop.serve.inputs import decode_json, parse_records
from opsloop.serve.rows import ModelInput
from opsloop.store import OpsStore
from serve_fixtures import fitted

ROW = b'{"records": [{"x": 0.3, "color": "red", "row_id": "r1"}, {"x": -2.0, "color": "blue"}]}'


class Broken:
    classes_ = (0, 1)

    def predict_proba(self, x: Any) -> Any:
        raise RuntimeError("candidate exploded")

    def predict(self, x: Any) -> Any:
        raise RuntimeError("candidate exploded")


def parse(m: LoadedModel, body: bytes) -> tuple[ModelInput, list[str], str]:
    rows, ids = parse_records(decode_json(body), m.features, "row_id")
    return rows, ids, "req-1"


def run(
    store: OpsStore,
    models: dict[str, LoadedModel],
    scenario: Callable[[PredictionService], Awaitable[Any]],
    writer: PredictionLogWriter | None = None,
) -> Any:
    async def main() -> Any:
        service = PredictionService("m", store, models.__getitem__, log_writer=writer)
        service.start()
        try:
            return await scenario(service)
        finally:
            await service.stop()

    return asyncio.run(main())


def start_rollout(store: OpsStore, strategy: str, share: float) -> None:
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


def requests(service: PredictionService) -> dict[tuple[str, ...], float]:
    """The request counter by (route, status, version)."""
    samples = service.metrics.requests.collect()[0].samples
    return {
        (s.labels["route"], s.labels["status"], s.labels["model_version"]): s.value
        for s in samples
        if s.name.endswith("_total")
    }


@pytest.fixture
def store() -> OpsStore:
    return OpsStore("sqlite://")


def test_nothing_deployed_is_a_503_counted_and_the_body_is_not_read(store: OpsStore) -> None:
    reads: list[int] = []

    async def body() -> bytes:
        reads.append(1)
        return ROW

    async def scenario(service: PredictionService) -> tuple[RequestError, dict[Any, float]]:
        with pytest.raises(RequestError) as info:
            await service.answer("predict", parse, body)
        return info.value, requests(service)

    error, counted = run(store, {"1": fitted(1)}, scenario)
    assert error.status == 503 and "no version of 'm' is deployed yet" in error.message
    assert error.to_dict()["type"] == "RequestError"
    assert counted == {("predict", "503", "none"): 1.0}
    assert reads == []


def test_stable_answers_each_row_and_logs_it(store: OpsStore, tmp_path: Path) -> None:
    store.record_deployment("m", "1", reason="t")
    writer = PredictionLogWriter(tmp_path / "log", "m", flush_interval=60)

    async def scenario(service: PredictionService) -> Any:
        answer = await service.answer("predict", parse, ROW)
        return answer, requests(service), service.stats.drain()

    answer, counted, stats = run(store, {"1": fitted(1)}, scenario, writer)
    assert answer.model.version == "1" and answer.request_id == "req-1"
    assert answer.ids[0] == "r1" and len(answer.ids) == 2
    assert answer.prediction.shape == (2,) and answer.score is not None
    assert np.all((answer.score >= 0) & (answer.score <= 1))
    assert answer.score[0] > answer.score[1]  # x=0.3/red is likelier positive than x=-2/blue
    assert counted == {("predict", "200", "1"): 1.0}
    assert [(s.version, s.route, s.requests, s.errors) for s in stats] == [("1", "stable", 1, 0)]
    logged = pd.concat(pd.read_parquet(f) for f in (tmp_path / "log").rglob("*.parquet"))
    assert sorted(logged["prediction_id"]) == sorted(answer.ids)
    assert set(logged["model_version"]) == {"1"}


def test_unknown_model_and_version_are_404s_naming_what_is_served(store: OpsStore) -> None:
    store.record_deployment("m", "1", reason="t")

    async def scenario(service: PredictionService) -> list[RequestError]:
        errors = []
        for name, version in (("other", None), ("m", "9")):
            with pytest.raises(RequestError) as info:
                await service.answer("infer", parse, ROW, name=name, version=version)
            errors.append(info.value)
        return errors

    unknown, missing = run(store, {"1": fitted(1)}, scenario)
    assert unknown.status == 404 and "this server serves 'm'" in unknown.message
    assert missing.status == 404 and "serves version 1" in missing.message


def test_a_full_canary_answers_with_the_candidate_unless_a_version_is_asked(
    store: OpsStore,
) -> None:
    store.record_deployment("m", "1", reason="t")
    start_rollout(store, "canary", 100)

    async def scenario(service: PredictionService) -> list[str]:
        routed = await service.answer("predict", parse, ROW, key="k")
        pinned = await service.answer("infer", parse, ROW, name="m", version="1")
        return [routed.model.version, pinned.model.version]

    assert run(store, {"1": fitted(1), "2": fitted(2)}, scenario) == ["2", "1"]


def test_a_failing_candidate_falls_back_to_stable_and_counts_against_it(
    store: OpsStore,
) -> None:
    store.record_deployment("m", "1", reason="t")
    start_rollout(store, "canary", 100)
    broken = LoadedModel("m", "2", Broken(), fitted(1).features, "binary_classification")

    async def scenario(service: PredictionService) -> Any:
        answer = await service.answer("predict", parse, ROW, key="k")
        return answer.model.version, service.stats.drain()

    version, stats = run(store, {"1": fitted(1), "2": broken}, scenario)
    assert version == "1"
    by_route = {(s.version, s.route): (s.requests, s.errors) for s in stats}
    assert by_route == {("2", "candidate"): (1, 1), ("1", "stable"): (1, 0)}


def test_a_shadow_answers_after_the_caller_and_is_never_returned(store: OpsStore) -> None:
    store.record_deployment("m", "1", reason="t")
    start_rollout(store, "shadow", 100)

    async def scenario(service: PredictionService) -> Any:
        answer = await service.answer("predict", parse, ROW, key="k")
        await asyncio.wait(list(service.shadows), timeout=30)
        return answer.model.version, service.stats.drain()

    version, stats = run(store, {"1": fitted(1), "2": fitted(2)}, scenario)
    assert version == "1"
    by_route = {(s.version, s.route): (s.requests, s.errors) for s in stats}
    assert by_route == {("1", "stable"): (1, 0), ("2", "shadow"): (1, 0)}


def test_a_bad_body_is_a_422_counted_against_the_version(store: OpsStore) -> None:
    store.record_deployment("m", "1", reason="t")

    async def scenario(service: PredictionService) -> Any:
        with pytest.raises(RequestError) as info:
            await service.answer("predict", parse, b'{"records": [{"x": "high", "color": "red"}]}')
        return info.value, requests(service)

    error, counted = run(store, {"1": fitted(1)}, scenario)
    assert error.status == 422 and [d["field"] for d in error.details] == ["x"]
    body = error.body()
    assert list(body) == ["error", "type", "expected", "got", "fix", "details"]
    # one field at fault: its expected/got are the error's too
    assert (body["expected"], body["got"]) == ("a number within ±1e308", "'high'")
    assert counted == {("predict", "422", "1"): 1.0}
