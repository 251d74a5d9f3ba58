"""The fast request path gives the answers of the reference path (`predict_frame` on a
DataFrame), on real scikit-learn models, without warnings; the prediction log built off the
request path keeps its documented layout."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from opsloop.data.features import FeatureSpec
from opsloop.inference.hgb import binned
from opsloop.registry.base import LoadedModel
from opsloop.serve import PredictionLogWriter, PredictionService, ServeContext, create_app
from opsloop.serve.inputs import RequestError, parse_invocations, parse_oip, parse_records
from opsloop.serve.logwriter import LoggedRequest
from opsloop.serve.predictor import limit_native_threads, predict_rows, predictor_for
from opsloop.serve.rows import NO_EVENT_TIME, ModelInput
from opsloop.store import OpsStore

NAMES = [f"f{i}" for i in range(6)]
NUMERIC = [FeatureSpec(n, "numeric", "float64", nullable=(n == "f5")) for n in NAMES]


def training(seed: int = 0, n: int = 400) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.normal(size=(n, len(NAMES))), columns=NAMES)
    x.loc[rng.random(n) < 0.1, "f5"] = np.nan  # f5 is nullable: the model saw NaN
    y = x["f0"] - x["f1"] + 0.5 * x["f2"].fillna(0) + rng.normal(scale=0.5, size=n) > 0
    return x, y.astype(int).to_numpy()


@pytest.fixture(scope="module")
def hgb() -> LoadedModel:
    x, y = training()
    est = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(x, y)
    return LoadedModel("m", "1", est, NUMERIC, "binary_classification")


@pytest.fixture(scope="module")
def pipeline() -> LoadedModel:
    x, y = training()
    est = make_pipeline(StandardScaler(), LogisticRegression()).fit(x.fillna(0), y)
    return LoadedModel("m", "2", est, NUMERIC, "binary_classification")


def random_rows(n: int, seed: int = 1, nulls: bool = False) -> list[dict[str, float | None]]:
    rng = np.random.default_rng(seed)
    rows: list[dict[str, float | None]] = [
        {k: float(v) for k, v in zip(NAMES, r, strict=True)} for r in rng.normal(size=(n, 6))
    ]
    if nulls:
        rows[0]["f5"] = None
    rows[-1]["f3"] = 2  # an int is a number too
    return rows


def reference(
    model: LoadedModel, rows: list[dict[str, float | None]]
) -> tuple[np.ndarray, np.ndarray | None]:
    frame = pd.DataFrame(
        [{k: np.nan if v is None else float(v) for k, v in r.items()} for r in rows]
    )
    return model.predict_frame(frame)


def test_numeric_rows_become_one_matrix_in_feature_order() -> None:
    rows = random_rows(3)
    shuffled = [dict(reversed(list(r.items()))) for r in rows]  # key order does not matter
    parsed, ids = parse_records({"records": shuffled}, NUMERIC, None)
    assert parsed.matrix is not None and parsed.matrix.shape == (3, 6)
    assert parsed.matrix.flags.c_contiguous and len(ids) == 3
    np.testing.assert_array_equal(parsed.matrix, [[float(r[n]) for n in NAMES] for r in rows])
    oip = {
        "inputs": [
            {"name": n, "shape": [3, 1], "datatype": "FP64", "data": [[r[n]] for r in rows]}
            for n in reversed(NAMES)
        ]
    }
    np.testing.assert_array_equal(parse_oip(oip, NUMERIC, None)[0].matrix, parsed.matrix)
    split = {
        "dataframe_split": {
            "columns": ["id", *reversed(NAMES)],
            "data": [[f"k{i}", *(r[n] for n in reversed(NAMES))] for i, r in enumerate(rows)],
        }
    }
    got, split_ids = parse_invocations(split, NUMERIC, "id")
    np.testing.assert_array_equal(got.matrix, parsed.matrix)
    assert split_ids == ["k0", "k1", "k2"]


@pytest.mark.parametrize("bad", [True, "1.5", [1.0], {"v": 1}, float("nan"), float("inf"), 10**400])
def test_values_the_fast_check_refuses_still_get_field_errors(bad: object) -> None:
    rows = random_rows(2)
    rows[1]["f2"] = bad  # type: ignore[assignment]
    with pytest.raises(RequestError) as info:
        parse_records({"records": rows}, NUMERIC, None)
    assert info.value.status == 422 and info.value.details[0]["field"] == "f2[1]"


def test_nulls_take_the_per_value_path_and_still_give_a_matrix() -> None:
    rows = random_rows(2, nulls=True)
    parsed, _ = parse_records({"records": rows}, NUMERIC, None)
    assert parsed.matrix is not None and np.isnan(parsed.matrix[0, 5])
    rows[0]["f1"] = None  # f1 is not nullable
    with pytest.raises(RequestError, match="f1"):
        parse_records({"records": rows}, NUMERIC, None)


def test_mixed_features_keep_columns() -> None:
    specs = [*NUMERIC[:2], FeatureSpec("c", "categorical", "string", True, ("a", "b"))]
    parsed, _ = parse_records({"records": [{"f0": 1.0, "f1": 2, "c": "a"}]}, specs, None)
    assert parsed.matrix is None and parsed.columns is not None
    assert list(parsed.frame().columns) == ["f0", "f1", "c"]


def predict_quietly(model: LoadedModel, rows: ModelInput) -> tuple[np.ndarray, np.ndarray | None]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = predict_rows(model, rows, 1)
    assert not caught, [str(w.message) for w in caught]
    return result


@pytest.mark.parametrize("nulls", [False, True])
def test_plain_estimator_takes_the_matrix_with_identical_answers(
    hgb: LoadedModel, nulls: bool
) -> None:
    rows = random_rows(40, seed=3, nulls=nulls)
    parsed, _ = parse_records({"records": rows}, NUMERIC, None)
    assert predictor_for(hgb).takes_arrays
    assert binned(predictor_for(hgb).array_estimator)  # walked on its bins (inference/hgb.py)
    prediction, score = predict_quietly(hgb, parsed)
    want, want_score = reference(hgb, rows)
    np.testing.assert_array_equal(prediction, want)
    assert score is not None and want_score is not None
    np.testing.assert_array_equal(score, want_score)  # bit for bit


def test_pipeline_gets_a_frame_with_identical_answers(pipeline: LoadedModel) -> None:
    rows = random_rows(20, seed=4)
    parsed, _ = parse_records({"records": rows}, NUMERIC, None)
    assert not predictor_for(pipeline).takes_arrays  # its steps check names themselves
    prediction, score = predict_quietly(pipeline, parsed)
    want, want_score = reference(pipeline, rows)
    np.testing.assert_array_equal(prediction, want)
    # the same numbers in another memory layout: BLAS may round the last bit differently
    np.testing.assert_allclose(score, want_score, rtol=1e-12)  # type: ignore[arg-type]


def test_estimators_that_did_not_record_these_names_get_frames() -> None:
    x, y = training()
    on_arrays = HistGradientBoostingRegressor(max_iter=10).fit(x.to_numpy(), y)
    other_names = HistGradientBoostingRegressor(max_iter=10).fit(
        x.set_axis([f"g{i}" for i in range(6)], axis=1), y
    )
    for est in (on_arrays, other_names):
        assert not predictor_for(LoadedModel("m", "3", est, NUMERIC, "regression")).takes_arrays


class NamesMatter(ClassifierMixin, BaseEstimator):
    """A real estimator that reads a column by name, so it cannot take a bare array."""

    def fit(self, x: pd.DataFrame, y: np.ndarray) -> NamesMatter:
        self.feature_names_in_ = np.asarray(x.columns, dtype=object)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        p = 1 / (1 + np.exp(-x["f0"].to_numpy()))
        return np.column_stack([1 - p, p])

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(x)[:, 1] >= 0.5).astype(int)


def test_the_probe_keeps_frames_for_estimators_that_need_them() -> None:
    x, y = training()
    model = LoadedModel("m", "4", NamesMatter().fit(x, y), NUMERIC, "binary_classification")
    assert not predictor_for(model).takes_arrays
    rows = random_rows(3)
    parsed, _ = parse_records({"records": rows}, NUMERIC, None)
    np.testing.assert_array_equal(
        predict_quietly(model, parsed)[1],  # type: ignore[arg-type]
        reference(model, rows)[1],
    )  # type: ignore[arg-type]


def test_native_threads_are_limited_per_predicting_thread() -> None:
    from threadpoolctl import threadpool_info

    def openmp_threads() -> set[int]:
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp"}

    seen: dict[int, set[int]] = {}

    def run(limit: int) -> None:
        limit_native_threads(limit)
        seen[limit] = openmp_threads()

    for limit in (1, 3):
        t = threading.Thread(target=run, args=(limit,))
        t.start()
        t.join()
    assert seen == {1: {1}, 3: {3}}  # OpenMP's limit is per thread: each kept its own


@pytest.fixture
def log_client(hgb: LoadedModel, tmp_path: Path) -> Iterator[TestClient]:
    store = OpsStore("sqlite://")
    store.record_deployment("m", "1", reason="test")
    writer = PredictionLogWriter(tmp_path / "log", "m", flush_interval=60)
    ctx = ServeContext("m", store, lambda v: hgb, writer, id_column="row_id")
    with TestClient(create_app(ctx)) as c:
        c.writer = writer  # type: ignore[attr-defined]
        yield c


def test_every_route_gives_the_reference_answers_and_logs_them(
    log_client: TestClient, hgb: LoadedModel, tmp_path: Path
) -> None:
    rows = random_rows(7, seed=9, nulls=True)
    want, want_score = reference(hgb, rows)
    assert want_score is not None
    r = log_client.post("/predict", json={"records": rows})
    assert [p["prediction"] for p in r.json()["predictions"]] == want.tolist()
    assert [p["score"] for p in r.json()["predictions"]] == want_score.tolist()
    oip = {
        "id": "req-1",
        "inputs": [
            {"name": n, "shape": [7], "datatype": "FP64", "data": [r[n] for r in rows]}
            for n in NAMES
        ],
    }
    out = log_client.post("/v2/models/m/infer", json=oip).json()["outputs"]
    assert out[0]["data"] == want.tolist() and out[1]["data"] == want_score.tolist()
    split = {"dataframe_split": {"columns": NAMES, "data": [[r[n] for n in NAMES] for r in rows]}}
    r = log_client.post("/invocations", json=split)
    assert r.json() == {"predictions": want.tolist()}
    log_client.writer.flush()  # type: ignore[attr-defined]
    files = sorted((tmp_path / "log").glob("model=m/date=*/hour=*/*.parquet"))
    schema = pq.read_schema(files[0])
    assert schema.names == [
        "prediction_id",
        "request_id",
        "ts",
        "event_ts",
        "model_version",
        "route",
        *NAMES,
        "prediction",
        "score",
    ]
    assert str(schema.field("ts").type) == "timestamp[us, tz=UTC]"
    assert str(schema.field("event_ts").type) == "timestamp[us, tz=UTC]"
    logged = pd.concat(pd.read_parquet(f) for f in files)
    assert len(logged) == 21 and set(logged["request_id"]) >= {"req-1"}
    assert logged["prediction"].tolist() == want.tolist() * 3
    np.testing.assert_array_equal(logged["score"], np.tile(want_score, 3))
    assert np.isnan(logged["f5"].iloc[0])  # the null was logged as a missing value


def test_writer_builds_one_frame_per_run_of_like_requests(tmp_path: Path) -> None:
    specs = [*NUMERIC[:2], FeatureSpec("c", "categorical", "string", True, ("a",))]

    def request(version: str, n: int, rid: str, mixed: bool = False) -> LoggedRequest:
        if mixed:
            rows = ModelInput(
                specs,
                n,
                columns={
                    "f0": np.arange(n, dtype=float),
                    "f1": np.ones(n),
                    "c": pd.Series(["a"] * n, dtype=object),
                },
            )
        else:
            rows = ModelInput(NUMERIC[:2], n, matrix=np.arange(2 * n, dtype=float).reshape(n, 2))
        return LoggedRequest(
            rows,
            [f"{rid}-{i}" for i in range(n)],
            rid,
            1_772_000_000.5,
            version,
            "stable",
            np.arange(n),
            None if mixed else np.full(n, 0.25),
        )

    writer = PredictionLogWriter(tmp_path, "m", flush_interval=60)
    for item in (
        request("1", 2, "a"),
        request("1", 1, "b"),
        request("2", 3, "c", mixed=True),
        request("1", 1, "d"),
    ):
        assert writer.submit(item)
    assert writer.queued_rows == 7
    writer.close()
    logged = pd.concat(pd.read_parquet(f) for f in sorted(tmp_path.rglob("*.parquet")))
    logged = logged.sort_values("prediction_id").reset_index(drop=True)
    assert logged["prediction_id"].tolist() == ["a-0", "a-1", "b-0", "c-0", "c-1", "c-2", "d-0"]
    assert logged["model_version"].tolist() == ["1", "1", "1", "2", "2", "2", "1"]
    assert logged["f0"].tolist() == [0.0, 2.0, 0.0, 0.0, 1.0, 2.0, 0.0]
    assert logged["c"].isna().tolist() == [True] * 3 + [False] * 3 + [True]
    assert logged["score"].isna().tolist() == [False] * 3 + [True] * 3 + [False]
    assert (logged["ts"] == pd.Timestamp(1_772_000_000.5, unit="s", tz="UTC")).all()


@pytest.fixture
def event_client(hgb: LoadedModel, tmp_path: Path) -> Iterator[TestClient]:
    store = OpsStore("sqlite://")
    store.record_deployment("m", "1", reason="test")
    writer = PredictionLogWriter(tmp_path / "log", "m", flush_interval=60)
    ctx = ServeContext("m", store, lambda v: hgb, writer, id_column="row_id", time_column="when")
    with TestClient(create_app(ctx)) as c:
        c.writer = writer  # type: ignore[attr-defined]
        yield c


def _logged(tmp_path: Path) -> pd.DataFrame:
    files = sorted((tmp_path / "log").glob("model=m/date=*/hour=*/*.parquet"))
    return pd.concat(pd.read_parquet(f) for f in files).set_index("prediction_id")


def test_the_log_records_each_records_event_time(event_client: TestClient, tmp_path: Path) -> None:
    rows = random_rows(3, seed=4)
    records = [
        {**rows[0], "row_id": "a", "when": "2024-03-01T08:15:00Z"},
        {**rows[1], "row_id": "b", "when": None},  # no event time: the answer time
        {**rows[2], "row_id": "c"},
    ]
    assert event_client.post("/predict", json={"records": records}).status_code == 200
    oip = {
        "inputs": [
            *({"name": n, "shape": [1], "datatype": "FP64", "data": [rows[0][n]]} for n in NAMES),
            {"name": "row_id", "shape": [1], "datatype": "BYTES", "data": ["d"]},
            {"name": "when", "shape": [1], "datatype": "FP64", "data": [1709284500.25]},
        ]
    }
    assert event_client.post("/v2/models/m/infer", json=oip).status_code == 200
    split = {
        "dataframe_split": {
            "columns": [*NAMES, "row_id", "when"],
            "data": [[*(rows[1][n] for n in NAMES), "e", "2024-03-01T12:00:00+02:00"]],
        }
    }
    assert event_client.post("/invocations", json=split).status_code == 200
    csv = ",".join([*NAMES, "row_id", "when"]) + "\n"
    csv += ",".join([*(str(rows[2][n]) for n in NAMES), "f", "2024-03-01 23:59:59.5"]) + "\n"
    r = event_client.post("/invocations", content=csv, headers={"content-type": "text/csv"})
    assert r.status_code == 200
    event_client.writer.flush()  # type: ignore[attr-defined]
    logged = _logged(tmp_path)
    assert str(logged["event_ts"].dt.tz) == "UTC"
    assert logged.loc["a", "event_ts"] == pd.Timestamp("2024-03-01T08:15:00Z")
    assert logged.loc["d", "event_ts"] == pd.Timestamp("2024-03-01T09:15:00.25Z")
    assert logged.loc["e", "event_ts"] == pd.Timestamp("2024-03-01T10:00:00Z")
    assert logged.loc["f", "event_ts"] == pd.Timestamp("2024-03-01T23:59:59.5Z")  # naive: UTC
    for answered_only in ("b", "c"):
        assert logged.loc[answered_only, "event_ts"] == logged.loc[answered_only, "ts"]
    assert (logged["ts"] > pd.Timestamp("2026-01-01", tz="UTC")).all()  # answered now
    assert "when" not in logged.columns  # the time is event_ts, not a feature column


@pytest.mark.parametrize("bad", ["yesterday", "2024-13-01", True, [2024], float("nan")])
def test_a_bad_event_time_is_a_422_naming_the_field(
    event_client: TestClient, tmp_path: Path, bad: object
) -> None:
    import json

    rows = random_rows(2, seed=5)
    records = [{**rows[0], "when": "2024-03-01"}, {**rows[1], "when": bad}]
    body = json.dumps({"records": records})  # NaN as JSON's NaN literal
    r = event_client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422
    detail = r.json()["details"][0]
    assert detail["field"] == "when[1]" and "ISO-8601" in detail["expected"]
    assert "when" in r.json()["error"]
    event_client.writer.flush()  # type: ignore[attr-defined]
    assert not list((tmp_path / "log").glob("**/*.parquet"))  # nothing logged


def test_event_times_ride_along_with_the_rows() -> None:
    rows, _ = parse_records(
        {
            "records": [
                {**random_rows(1)[0], "t": 0},
                {**random_rows(1)[0], "t": "1970-01-01T00:00:01Z"},
            ]
        },
        NUMERIC,
        None,
        "t",
    )
    assert rows.event_us is not None and rows.event_us.tolist() == [0, 1_000_000]
    joined = ModelInput.concat(
        [rows, parse_records({"records": random_rows(1)}, NUMERIC, None, "t")[0]]
    )
    assert joined.event_us is not None and joined.event_us[:2].tolist() == [0, 1_000_000]
    assert joined.event_us[2] == NO_EVENT_TIME
    none, _ = parse_records({"records": random_rows(2)}, NUMERIC, None, "t")
    assert none.event_us is None  # no record had one: nothing to carry


def test_the_load_time_probe_runs_under_the_same_native_thread_cap(hgb: LoadedModel) -> None:
    """The loading thread predicts too (the probe rows at load): capped like the predict
    thread, so an OpenMP team cannot stall the start on busy cores."""
    from threadpoolctl import threadpool_info

    store = OpsStore("sqlite://")
    store.record_deployment("m", "1", reason="test")
    service = PredictionService("m", store, lambda v: hgb, model_threads=1)
    seen: list[set[int]] = []

    def load() -> None:
        limit_native_threads(3)  # what the thread ran with before
        service.holder.refresh()
        seen.append({i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp"})

    t = threading.Thread(target=load)
    t.start()
    t.join()
    assert service.holder.routing is not None
    assert seen == [{1}]
