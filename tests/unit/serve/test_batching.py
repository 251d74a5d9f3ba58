"""Micro-batching on real scikit-learn models: concurrent requests share predict calls, every
request gets exactly the answer it would get alone, one bad request fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from opsloop.config import BatchingConfig
from opsloop.data.features import FeatureSpec
from opsloop.registry.base import LoadedModel
from opsloop.serve import PredictionLogWriter, ServeContext, create_app
from opsloop.serve.batching import MicroBatcher
from opsloop.serve.predictor import predict_rows
from opsloop.serve.rows import ModelInput
from opsloop.store import OpsStore

NAMES = [f"f{i}" for i in range(5)]
NUMERIC = [FeatureSpec(n, "numeric", "float64", nullable=False) for n in NAMES]


def hgb(seed: int) -> LoadedModel:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.normal(size=(300, 5)), columns=NAMES)
    y = (x["f0"] + x["f1"] * x["f2"] + rng.normal(scale=0.3, size=300) > 0).astype(int)
    est = HistGradientBoostingClassifier(max_iter=20, random_state=seed).fit(x, y)
    return LoadedModel("m", str(seed), est, NUMERIC, "binary_classification")


def rows(n: int, seed: int) -> ModelInput:
    return ModelInput(NUMERIC, n, matrix=np.random.default_rng(seed).normal(size=(n, 5)))


class Counting:
    """The server's real predict function, counting calls and the rows of each."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.models: list[Any] = []

    def __call__(
        self, model: LoadedModel, batch: ModelInput
    ) -> tuple[np.ndarray, np.ndarray | None]:
        self.sizes.append(batch.n)
        self.models.append(model)
        return predict_rows(model, batch, 1)


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 120))  # bounded; nothing here should wait long


async def started(batcher: MicroBatcher) -> MicroBatcher:
    batcher.start()
    return batcher


def test_concurrent_requests_are_coalesced_with_the_same_answers() -> None:
    model, predict = hgb(1), Counting()
    inputs = [rows(1 + i % 3, seed=i) for i in range(40)]

    async def go() -> list[tuple[np.ndarray, np.ndarray | None]]:
        batcher = await started(MicroBatcher(predict, max_batch_size=64, max_wait=0.002))
        try:
            return list(await asyncio.gather(*(batcher.predict(model, r) for r in inputs)))
        finally:
            await batcher.stop()

    results = run(go())
    assert sum(predict.sizes) == sum(r.n for r in inputs) == 79
    assert len(predict.sizes) < len(inputs) // 4  # 40 requests, a handful of predict calls
    assert max(predict.sizes) <= 64
    for got, r in zip(results, inputs, strict=True):
        want = predict_rows(model, r, 1)  # alone, unbatched
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_batches_respect_max_batch_size_and_never_split_a_request() -> None:
    model, predict = hgb(2), Counting()
    inputs = [rows(7, seed=i) for i in range(10)] + [rows(40, seed=99)]

    async def go() -> None:
        batcher = await started(MicroBatcher(predict, max_batch_size=16, max_wait=0.001))
        try:
            await asyncio.gather(*(batcher.predict(model, r) for r in inputs))
        finally:
            await batcher.stop()

    run(go())
    assert 40 in predict.sizes  # the large request went alone, whole
    assert all(size <= 16 for size in predict.sizes if size != 40)
    assert sum(predict.sizes) == 110 and len(predict.sizes) < 11


def test_a_lone_request_does_not_wait_and_a_busy_server_waits_to_fill() -> None:
    model, predict = hgb(3), Counting()

    async def go() -> None:
        # max_wait of an hour: a request that waited for it would time the test out
        batcher = await started(MicroBatcher(predict, max_batch_size=4, max_wait=3600))
        try:
            await batcher.predict(model, rows(1, 0))  # idle server: predicted at once
            await asyncio.gather(*(batcher.predict(model, rows(1, i)) for i in range(4)))
            assert predict.sizes == [1, 4]  # now under concurrent load
            first = [asyncio.ensure_future(batcher.predict(model, rows(1, i))) for i in range(2)]
            for _ in range(20):  # let the batcher run: it must wait for two more rows
                await asyncio.sleep(0)
            assert predict.sizes == [1, 4]
            await asyncio.gather(*first, *(batcher.predict(model, rows(1, i)) for i in range(2)))
            assert predict.sizes == [1, 4, 4]  # the four joined one batch
        finally:
            await batcher.stop()

    run(go())


def test_one_failing_request_does_not_fail_the_others() -> None:
    # A real model that refuses categories it has not seen (OneHotEncoder's default).
    specs = [
        FeatureSpec("x", "numeric", "float64", False),
        FeatureSpec("color", "categorical", "string", False, ("blue", "red")),
    ]
    train = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "color": ["red", "blue", "red", "blue"]})
    est = make_pipeline(
        ColumnTransformer([("c", OneHotEncoder(), ["color"])], remainder="passthrough"),
        LogisticRegression(),
    ).fit(train, [0, 1, 0, 1])
    model = LoadedModel("m", "1", est, specs, "binary_classification")

    def request(color: str) -> ModelInput:
        return ModelInput(
            specs, 1, columns={"x": np.array([1.0]), "color": pd.Series([color], dtype=object)}
        )

    predict = Counting()
    colors = ["red", "blue", "green", "red"]

    async def go() -> list[Any]:
        batcher = await started(MicroBatcher(predict, max_batch_size=64, max_wait=0.001))
        try:
            return list(
                await asyncio.gather(
                    *(batcher.predict(model, request(c)) for c in colors), return_exceptions=True
                )
            )
        finally:
            await batcher.stop()

    results = run(go())
    assert isinstance(results[2], ValueError) and "unknown categor" in str(results[2])
    for i in (0, 1, 3):
        want = model.predict_frame(request(colors[i]).frame())
        np.testing.assert_array_equal(results[i][0], want[0])
    assert predict.sizes[0] == 4  # tried together first, then one by one


def test_requests_for_two_versions_are_never_mixed_in_a_batch() -> None:
    old, new, predict = hgb(4), hgb(5), Counting()
    inputs = [(old if i % 3 else new, rows(2, seed=i)) for i in range(30)]

    async def go() -> list[Any]:
        batcher = await started(MicroBatcher(predict, max_batch_size=64, max_wait=0.002))
        try:
            return list(await asyncio.gather(*(batcher.predict(m, r) for m, r in inputs)))
        finally:
            await batcher.stop()

    results = run(go())
    for (m, r), got in zip(inputs, results, strict=True):
        np.testing.assert_array_equal(got[1], predict_rows(m, r, 1)[1])
    assert len(predict.sizes) < 30 and sum(predict.sizes) == 60


def test_batched_server_answers_and_logs_every_request(tmp_path: Path) -> None:
    model = hgb(6)
    store = OpsStore("sqlite://")
    store.record_deployment("m", "6", reason="test")
    writer = PredictionLogWriter(tmp_path / "log", "m", flush_interval=60)
    ctx = ServeContext(
        "m",
        store,
        lambda v: model,
        writer,
        id_column="row_id",
        batching=BatchingConfig(enabled=True, max_batch_size=32, max_wait="2ms"),
    )  # type: ignore[arg-type]
    app = create_app(ctx)
    matrix = np.random.default_rng(0).normal(size=(48, 5))

    async def go() -> list[httpx.Response]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return list(
                    await asyncio.gather(
                        *(
                            client.post(
                                "/predict",
                                json={
                                    "records": [
                                        {
                                            **dict(zip(NAMES, map(float, row), strict=True)),
                                            "row_id": f"r{i}",
                                        }
                                    ]
                                },
                            )
                            for i, row in enumerate(matrix)
                        )
                    )
                )

    responses = run(go())
    assert [r.status_code for r in responses] == [200] * 48
    want = model.predict_frame(pd.DataFrame(matrix, columns=NAMES))[1]
    assert want is not None
    got = [r.json()["predictions"][0]["score"] for r in responses]
    np.testing.assert_array_equal(got, want)
    batcher = app.state.batcher
    assert batcher.batched_requests == 48 and batcher.calls < 48
    logged = pd.concat(pd.read_parquet(f) for f in (tmp_path / "log").rglob("*.parquet"))
    assert sorted(logged["prediction_id"]) == sorted(f"r{i}" for i in range(48))


@pytest.mark.parametrize("size", [1, 5])
def test_a_stopped_batcher_refuses_clearly(size: int) -> None:
    async def go() -> None:
        batcher = MicroBatcher(Counting(), max_batch_size=size)
        with pytest.raises(RuntimeError, match="not running"):
            await batcher.predict(hgb(7), rows(1, 0))

    run(go())
