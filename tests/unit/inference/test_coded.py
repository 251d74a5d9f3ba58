"""The batch path's dictionary-coded categorical columns (`Coded`: one lookup per distinct
value) give the compiled pipeline exactly the matrix the per-value path gives, and answers
like the model's own `predict_proba` — unseen categories, None and NaN, extreme numbers —
and an encoder that refuses an unknown category refuses it the same way."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

from opsloop.batch.scoring import ArrowScorer
from opsloop.data.features import FeatureSpec
from opsloop.inference import SCORE_TOLERANCE
from opsloop.inference.compiled import Coded, compile_pipeline
from opsloop.registry.base import LoadedModel

FEATURES = [
    FeatureSpec("x", "numeric", "float64", nullable=True),
    FeatureSpec("color", "categorical", "string", nullable=True, categories=("blue", "red")),
    FeatureSpec("size", "categorical", "string", nullable=True, categories=("L", "M", "S")),
]
NAMES = [f.name for f in FEATURES]
ENCODERS = {
    "onehot": lambda: OneHotEncoder(handle_unknown="ignore"),
    "ordinal": lambda: OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
    "impute-onehot": lambda: make_pipeline(
        SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")
    ),
}


def fitted(encoder: Any, n: int = 400) -> Pipeline:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "color": pd.Series(rng.choice(["red", "blue"], n), dtype=object),
            "size": pd.Series(rng.choice(["S", "M", "L"], n), dtype=object),
        }
    )
    y = ((frame["color"] == "red") ^ (frame["size"] == "S") ^ (frame["x"] > 0)).astype(int)
    pre = ColumnTransformer([("cat", encoder, ["color", "size"]), ("num", SimpleImputer(), ["x"])])
    model = Pipeline([("pre", pre), ("lr", LogisticRegression(max_iter=500))])
    return model.fit(frame, y)


def unusual_batch(n: int = 3000) -> pa.RecordBatch:
    """Known and unseen categories, nulls (None in an object column) and extreme numbers,
    in a dictionary-encoded column and in a plain one."""
    rng = np.random.default_rng(2)
    colors = rng.choice(np.array(["red", "blue", "green", None], dtype=object), n)
    sizes = rng.choice(np.array(["S", "M", "L", "XXL", None], dtype=object), n)
    x = rng.normal(size=n) * rng.choice([1.0, 1e9, 1e-12], n)
    x[rng.random(n) < 0.1] = np.nan
    return pa.record_batch(
        {
            "x": pa.array(x),
            "color": pa.array(list(colors), pa.string()).dictionary_encode(),
            "size": pa.array(list(sizes), pa.string()),
        }
    )


@pytest.mark.parametrize("kind", sorted(ENCODERS))
def test_coded_columns_answer_like_the_plain_path_and_the_model(kind: str) -> None:
    estimator = fitted(ENCODERS[kind]())
    model = LoadedModel("m", "1", estimator, FEATURES, "binary_classification")
    compiled = compile_pipeline(estimator, NAMES)
    scorer = ArrowScorer(model, compiled, "test")
    batch = unusual_batch()
    coded = scorer.columns(batch)
    assert isinstance(coded["color"], Coded) and isinstance(coded["size"], Coded)
    dense = {k: v.decode() if isinstance(v, Coded) else v for k, v in coded.items()}
    assert None in set(dense["size"]) and "XXL" in set(dense["size"])

    x_coded = compiled.transform(coded, batch.num_rows)
    x_dense = compiled.transform(dense, batch.num_rows)
    assert np.array_equal(x_coded, x_dense, equal_nan=True)

    label, score = scorer.predict(batch)
    frame = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in dense.items()})
    frame["x"] = frame["x"].astype(float)
    want = estimator.predict_proba(frame[NAMES])[:, 1]
    assert score is not None and np.max(np.abs(score - want)) <= SCORE_TOLERANCE
    assert np.array_equal(label, estimator.classes_[(want >= 0.5).astype(int)])


def test_a_nan_value_in_the_dictionary_is_the_fitted_nan_category() -> None:
    """scikit-learn keeps NaN (not None) as a category of its own when it was fitted."""
    train = pd.DataFrame({"c": pd.Series(["a", np.nan, "b", "a"] * 5, dtype=object)})
    encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(train)
    model = Pipeline([("enc", encoder), ("lr", LogisticRegression())])
    model.fit(train, [0, 1, 0, 1] * 5)
    compiled = compile_pipeline(model, ["c"])
    values = np.array(["b", np.nan, None, "zzz", "a"], dtype=object)
    codes = np.array([0, 1, 2, 3, 4, 1, 1, 0, 3])
    got = compiled.transform({"c": Coded(values, codes)}, len(codes))
    assert np.array_equal(got, compiled.transform({"c": values[codes]}, len(codes)))
    frame = pd.DataFrame({"c": pd.Series(values[codes], dtype=object)})  # None stays None
    assert np.array_equal(got, encoder.transform(frame))


def test_an_encoder_that_refuses_unknowns_refuses_a_coded_one_the_same_way() -> None:
    estimator = fitted(OneHotEncoder(handle_unknown="error"))
    compiled = compile_pipeline(estimator, NAMES)
    values = np.array(["red", "purple"], dtype=object)
    columns: dict[str, Any] = {
        "x": np.zeros(3),
        "color": Coded(values, np.array([0, 1, 0])),
        "size": np.array(["S", "M", "L"], dtype=object),
    }
    with pytest.raises(ValueError, match=r"unknown categories \['purple'\] in column 0"):
        compiled.transform(columns, 3)
