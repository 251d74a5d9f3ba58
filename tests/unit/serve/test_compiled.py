"""The compiled inference path answers like the model's own DataFrame path for every
supported step and estimator type — unseen categories, missing values and extreme numbers
included — and a model it cannot compile is served by the plain path with the reason."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import (
    KBinsDiscretizer,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
)

from opsloop.data.features import FeatureSpec
from opsloop.inference import SCORE_TOLERANCE
from opsloop.registry.base import InferenceVerdict, LoadedModel
from opsloop.serve import ServeContext, create_app
from opsloop.serve.predictor import UNSEEN, Predictor, predict_rows, probe_input
from opsloop.serve.rows import ModelInput
from opsloop.store import OpsStore
from serve_fixtures import wait_for

FEATURES = [
    FeatureSpec("a", "numeric", "float64", nullable=True),
    FeatureSpec("b", "numeric", "float64", nullable=False),
    FeatureSpec("color", "categorical", "string", nullable=True, categories=("blue", "red")),
    FeatureSpec("size", "categorical", "string", nullable=False, categories=("L", "M", "S")),
]
NUMS, CATS = ["a", "b"], ["color", "size"]


def data(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n) * 10,
            "color": pd.Series(rng.choice(["red", "blue"], n), dtype=object),
            "size": pd.Series(rng.choice(["S", "M", "L"], n), dtype=object),
        }
    )
    x.loc[rng.random(n) < 0.1, "a"] = np.nan
    latent = x["a"].fillna(0) + 0.1 * x["b"] + (x["color"] == "red") - (x["size"] == "S")
    binary = (latent + rng.normal(scale=0.5, size=n) > 0.3).astype(int).to_numpy()
    multi = np.digitize(latent + rng.normal(scale=0.3, size=n), [-0.5, 0.5])
    return x, binary, np.asarray(multi), latent.to_numpy()


def encoders(kind: str) -> Any:
    if kind == "onehot":
        return OneHotEncoder(handle_unknown="ignore")
    if kind == "onehot-dense":
        return OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    if kind == "ordinal":
        return OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    return make_pipeline(
        SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")
    )


def preprocess(cat: str, num: str, remainder: str = "drop") -> ColumnTransformer:
    numeric: Any = {
        "passthrough": "passthrough",
        "scale": make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
        "impute": SimpleImputer(strategy="mean"),
    }[num]
    parts = [("cat", encoders(cat), CATS)]
    if remainder == "drop":
        parts.append(("num", numeric, NUMS))
    return ColumnTransformer(parts, remainder=remainder)


def loaded(est: Any, task: str, version: str = "1") -> LoadedModel:
    return LoadedModel("m", version, est, FEATURES, task)


def same(model: LoadedModel, rows: ModelInput) -> None:
    predictor = Predictor(model)
    assert predictor.path == "compiled", predictor.reason
    want = model.predict_frame(rows.frame())
    got = predict_rows(model, rows, 1)
    assert np.array_equal(want[0], got[0])
    if want[1] is None:
        assert got[1] is None
    else:
        assert got[1] is not None and np.max(np.abs(want[1] - got[1])) <= SCORE_TOLERANCE


def unusual_rows(model: LoadedModel) -> ModelInput:
    probe = probe_input(model)
    columns = dict(probe.columns or {})
    assert UNSEEN in set(columns["color"]) and None in set(columns["color"])
    assert np.isnan(columns["a"]).any() and (np.abs(columns["b"]) >= 1e9).any()
    return probe


ESTIMATORS: dict[str, tuple[str, Callable[[], Any]]] = {
    "binary-hgb": ("binary_classification", lambda: HistGradientBoostingClassifier(max_iter=20)),
    "binary-logistic": ("binary_classification", lambda: LogisticRegression(max_iter=500)),
    "multiclass-hgb": (
        "multiclass_classification",
        lambda: HistGradientBoostingClassifier(max_iter=20),
    ),
    "regression-hgb": ("regression", lambda: HistGradientBoostingRegressor(max_iter=20)),
    "regression-linear": ("regression", LinearRegression),
}


@pytest.mark.parametrize("estimator", sorted(ESTIMATORS))
@pytest.mark.parametrize(
    ("cat", "num"),
    [
        ("onehot", "passthrough"),
        ("onehot-dense", "scale"),
        ("ordinal", "impute"),
        ("impute-onehot", "scale"),
    ],
)
def test_compiled_answers_like_the_model(estimator: str, cat: str, num: str) -> None:
    task, make = ESTIMATORS[estimator]
    x, binary, multi, latent = data()
    y = {"binary_classification": binary, "multiclass_classification": multi}.get(task, latent)
    final = make()
    if num == "passthrough" and not estimator.endswith("hgb"):
        num = "impute"  # linear models do not take NaN
    est = Pipeline([("prep", preprocess(cat, num)), ("model", final)]).fit(x, y)
    model = loaded(est, task)
    same(model, unusual_rows(model))


def test_remainder_passthrough_and_a_scaler_after_the_column_transformer() -> None:
    x, binary, _, _ = data()
    ct = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), CATS)],
        remainder=SimpleImputer(strategy="median"),
    )
    est = make_pipeline(ct, StandardScaler(), LogisticRegression(max_iter=500)).fit(x, binary)
    model = loaded(est, "binary_classification")
    same(model, unusual_rows(model))


def test_the_churn_example_pipeline_is_compiled() -> None:
    from sklearn.compose import make_column_selector

    x, binary, _, _ = data()
    ct = ColumnTransformer(
        [
            (
                "categories",
                OneHotEncoder(handle_unknown="ignore"),
                make_column_selector(dtype_include=["object", "string", "category"]),
            )
        ],
        remainder="passthrough",
    )
    est = Pipeline([("encode", ct), ("model", HistGradientBoostingClassifier(max_iter=20))])
    model = loaded(est.fit(x, binary), "binary_classification")
    same(model, unusual_rows(model))
    one = ModelInput(
        FEATURES, 1, columns={k: v[:1] for k, v in (unusual_rows(model).columns or {}).items()}
    )
    same(model, one)


def test_an_unknown_category_the_model_refuses_is_refused_the_same_way() -> None:
    x, binary, _, _ = data()
    strict = ColumnTransformer([("cat", OneHotEncoder(), CATS), ("num", SimpleImputer(), NUMS)])
    model = loaded(
        make_pipeline(strict, LogisticRegression()).fit(x, binary), "binary_classification"
    )
    predictor = Predictor(model)
    assert predictor.path == "compiled", predictor.reason  # verified on the known rows
    bad = ModelInput(
        FEATURES,
        1,
        columns={
            "a": np.array([0.0]),
            "b": np.array([1.0]),
            "color": np.array(["purple"], dtype=object),
            "size": np.array(["S"], dtype=object),
        },
    )
    with pytest.raises(ValueError, match="unknown categor"):
        model.predict_frame(bad.frame())
    with pytest.raises(ValueError, match="unknown categor"):
        predict_rows(model, bad, 1)


def test_an_unsupported_step_falls_back_with_the_reason() -> None:
    x, binary, _, _ = data()
    ct = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), CATS),
            ("num", KBinsDiscretizer(n_bins=3, quantile_method="averaged_inverted_cdf"), ["b"]),
        ]
    )
    model = loaded(make_pipeline(ct, LogisticRegression()).fit(x, binary), "binary_classification")
    predictor = Predictor(model)
    assert predictor.path == "frame" and "KBinsDiscretizer" in predictor.reason
    rows = unusual_rows(model)
    want, got = model.predict_frame(rows.frame()), predict_rows(model, rows, 1)
    assert np.array_equal(want[0], got[0])


def test_a_plain_estimator_is_not_a_pipeline() -> None:
    x, binary, _, _ = data()
    est = HistGradientBoostingClassifier(max_iter=5).fit(x[NUMS].fillna(0).to_numpy(), binary)
    predictor = Predictor(loaded(est, "binary_classification"))
    assert predictor.path == "frame" and "not a Pipeline" in predictor.reason


def test_hot_swap_between_compiled_and_plain_versions() -> None:
    x, binary, _, _ = data()
    compiled = make_pipeline(preprocess("onehot", "impute"), LogisticRegression(max_iter=500)).fit(
        x, binary
    )
    ct = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), CATS),
            ("num", KBinsDiscretizer(n_bins=3, quantile_method="averaged_inverted_cdf"), ["b"]),
        ]
    )
    plain = make_pipeline(ct, LogisticRegression()).fit(x, binary)
    models = {
        "1": loaded(compiled, "binary_classification", "1"),
        "2": loaded(plain, "binary_classification", "2"),
    }
    store = OpsStore("sqlite://")
    ctx = ServeContext("m", store, lambda v: models[v], None, reload_interval=0.05)
    record = {"a": None, "b": 3.0, "color": "green", "size": "M"}
    texts: dict[str, str] = {}
    with TestClient(create_app(ctx)) as client:
        for version in ("1", "2", "1"):
            store.record_deployment("m", version, reason="test")
            wait_for(lambda v=version: client.get("/v2/models/m").json().get("versions") == [v])
            r = client.post("/predict", json={"records": [record]})
            assert r.status_code == 200 and r.json()["model_version"] == version
            frame = pd.DataFrame([record]).astype({"a": float, "color": object, "size": object})
            want = models[version].predict_frame(frame)
            assert abs(r.json()["predictions"][0]["score"] - float(want[1][0])) <= 1e-9
            texts[version] = client.get("/metrics").text
    assert (
        'opsloop_inference_path{model_version="1",path="compiled",reason="",registered="unchecked"}'
        " 1.0"
    ) in texts["1"]
    assert 'model_version="2",path="frame"' in texts["2"] and "KBinsDiscretizer" in texts["2"]


def kbins_pipeline(x: pd.DataFrame, y: np.ndarray) -> Any:
    ct = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), CATS),
            ("num", KBinsDiscretizer(n_bins=3, quantile_method="averaged_inverted_cdf"), ["b"]),
        ]
    )
    return make_pipeline(ct, LogisticRegression()).fit(x, y)


def test_a_version_registered_plain_is_never_compiled() -> None:
    x, binary, _, _ = data()
    est = make_pipeline(preprocess("onehot", "impute"), LogisticRegression(max_iter=500))
    est.fit(x, binary)
    assert Predictor(loaded(est, "binary_classification")).path == "compiled"  # it could be
    model = loaded(est, "binary_classification")
    model.registered_inference = InferenceVerdict("plain", "scores differ on the holdout")
    predictor = Predictor(model)
    assert (predictor.path, predictor.compiled, predictor.registered) == ("frame", None, "plain")
    assert predictor.reason == "plain at registration: scores differ on the holdout"
    rows = unusual_rows(model)
    want, got = model.predict_frame(rows.frame()), predict_rows(model, rows, 1)
    assert np.array_equal(want[0], got[0]) and np.array_equal(want[1], got[1])  # bit for bit


def test_a_compiled_verdict_is_verified_again_at_load() -> None:
    x, binary, _, _ = data()
    est = make_pipeline(preprocess("onehot", "impute"), LogisticRegression(max_iter=500))
    model = loaded(est.fit(x, binary), "binary_classification")
    model.registered_inference = InferenceVerdict("compiled", "verified on 60 holdout rows")
    predictor = Predictor(model)
    assert (predictor.path, predictor.registered) == ("compiled", "compiled")
    assert predictor.reason.startswith("verified on") and "probe rows" in predictor.reason
    # a verdict that no longer holds at load (here: a step the compiler does not know)
    other = loaded(kbins_pipeline(x, binary), "binary_classification", "2")
    other.registered_inference = InferenceVerdict("compiled", "verified")
    fallback = Predictor(other)
    assert fallback.path == "frame" and "KBinsDiscretizer" in fallback.reason


def test_hot_swap_honours_each_versions_registration_verdict(tmp_path: Path) -> None:
    """Through the server's model cache and the ops store's `registered` events: version 2
    could be compiled but was registered plain, so it is served plain; /metrics and the
    status view's replicas say which path each version took."""
    from opsloop.modelcache import ModelCache

    x, binary, _, _ = data()
    est = make_pipeline(preprocess("onehot", "impute"), LogisticRegression(max_iter=500))
    fitted = {"1": est.fit(x, binary), "2": est, "3": kbins_pipeline(x, binary)}
    verdicts = {
        "1": {"path": "compiled", "reason": "verified on 60 holdout rows"},
        "2": {"path": "plain", "reason": "scores differ on the holdout"},
        "3": None,  # registered before the check existed
    }
    store = OpsStore("sqlite://")
    for version, verdict in verdicts.items():
        evidence: dict[str, Any] = {"run_id": f"run{version}"}
        if verdict is not None:
            evidence["inference"] = verdict
        store.add_event("registered", "m", version=version, evidence=evidence)
    cache = ModelCache(
        tmp_path / "models",
        "m",
        store,
        lambda v, _reg: loaded(fitted[v], "binary_classification", v),
        key_file=tmp_path / "cache.key",
    )
    ctx = ServeContext("m", store, cache.load, None, reload_interval=0.05)
    record = {"a": None, "b": 3.0, "color": "green", "size": "M"}
    texts: dict[str, str] = {}
    paths: dict[str, str | None] = {}  # what `opsloop status` shows for the replica
    with TestClient(create_app(ctx)) as client:
        for version in ("1", "2", "3", "1", "2"):
            store.record_deployment("m", version, reason="test")
            wait_for(lambda v=version: client.get("/v2/models/m").json().get("versions") == [v])
            r = client.post("/predict", json={"records": [record]})
            assert r.status_code == 200 and r.json()["model_version"] == version
            frame = pd.DataFrame([record]).astype({"a": float, "color": object, "size": object})
            want = fitted[version].predict_proba(frame)[0, 1]
            assert abs(r.json()["predictions"][0]["score"] - float(want)) <= SCORE_TOLERANCE
            texts[version] = client.get("/metrics").text
            wait_for(lambda v=version: [s.version for s in replicas(store)] == [v])
            paths[version] = replicas(store)[0].path
    assert 'model_version="1",path="compiled",reason="",registered="compiled"' in texts["1"]
    assert (
        'model_version="2",path="frame",reason="plain at registration: scores differ on the '
        'holdout",registered="plain"'
    ) in texts["2"]
    assert 'model_version="3",path="frame"' in texts["3"] and 'registered="unchecked"' in texts["3"]
    loads = store.list_events("m", kinds=["server_loaded"])
    assert [(e.version, e.evidence["path"]) for e in loads] == [
        ("1", "compiled"),
        ("2", "frame"),
        ("3", "frame"),
    ]  # a version swapped back to within the rollback window is not loaded again
    assert paths == {"1": "compiled", "2": "frame", "3": "frame"}


def replicas(store: OpsStore) -> list[Any]:
    from opsloop.services.views import serving_views

    return serving_views(store, "m", None, datetime.now(UTC))[0]
