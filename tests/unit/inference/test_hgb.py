"""A HistGradientBoosting model scored on its own bins answers exactly as on raw rows
(inference/hgb.py): at every bin threshold, one ulp either side of it, ±inf, NaN and far
outside the training range, for binary, multiclass and regression models with missing
values seen in training or not."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from opsloop.inference.compiled import compile_pipeline
from opsloop.inference.hgb import binned, binned_view

N_FEATURES = 4


def _training(seed: int, *, with_nans: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3_000, N_FEATURES))
    x[:, 1] = np.round(x[:, 1] * 3)  # a few distinct values: thresholds between them
    x[:, 2] = rng.integers(0, 5, size=len(x))  # five values: fewer bins than max_bins
    if with_nans:
        x[rng.random(len(x)) < 0.1, 0] = np.nan
        x[rng.random(len(x)) < 0.05, 3] = np.nan
    y = x[:, 1] + np.nan_to_num(x[:, 0]) * 2 + rng.normal(scale=0.5, size=len(x))
    return x, y


def _edges(est: object) -> np.ndarray:
    """Rows that put every feature at each of its bin thresholds, one ulp below and above
    it, NaN, ±inf and ±1e300 (the other features drawn from the thresholds too)."""
    thresholds = est._bin_mapper.bin_thresholds_  # type: ignore[attr-defined]
    values = []
    for t in thresholds:
        v = np.concatenate(
            [t, np.nextafter(t, -np.inf), np.nextafter(t, np.inf), [np.nan, np.inf, -np.inf]]
        )
        values.append(np.concatenate([v, [1e300, -1e300, 0.0, -0.0]]))
    n = max(len(v) for v in values)
    rng = np.random.default_rng(0)
    rows = np.empty((n * N_FEATURES, N_FEATURES))
    for j in range(N_FEATURES):
        for k in range(N_FEATURES):
            own = values[k][np.arange(n) % len(values[k])]
            rows[j * n : (j + 1) * n, k] = own if k == j else rng.choice(values[k], n)
    return rows


def _models() -> list[object]:
    x, y = _training(1, with_nans=True)
    x2, y2 = _training(2, with_nans=False)
    return [
        HistGradientBoostingClassifier(max_iter=40, random_state=0).fit(x, y > 0),
        HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(
            x2, np.digitize(y2, [-1, 1])
        ),
        HistGradientBoostingRegressor(max_iter=40, random_state=0).fit(x, y),
        HistGradientBoostingRegressor(max_iter=30, max_bins=16, random_state=0).fit(x2, y2),
    ]


@pytest.mark.parametrize("model", _models(), ids=["binary", "multiclass", "regression", "16bins"])
def test_the_binned_walk_answers_exactly_as_the_raw_one(model: object) -> None:
    view = binned_view(model)
    assert view is not None and binned(view)
    rows = _edges(model)
    assert np.array_equal(view._raw_predict(rows), model._raw_predict(rows))  # type: ignore[attr-defined]
    assert np.array_equal(view.predict(rows), model.predict(rows))  # type: ignore[attr-defined]
    if hasattr(model, "predict_proba"):
        assert np.array_equal(view.predict_proba(rows), model.predict_proba(rows))  # type: ignore[attr-defined]
    # the original is untouched: its own class method still walks the raw rows
    assert not binned(model)
    assert "_raw_predict" not in vars(model)


def test_the_view_is_picklable_and_checks_the_width() -> None:
    model = _models()[0]
    view = binned_view(model)
    again = pickle.loads(pickle.dumps(view))
    rows = _edges(model)
    assert np.array_equal(again.predict_proba(rows), model.predict_proba(rows))  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="expecting 4 features"):
        view.predict(rows[:, :3])  # type: ignore[union-attr]


def test_native_categorical_features_and_other_estimators_keep_their_own_walk() -> None:
    x, y = _training(3, with_nans=False)
    categorical = HistGradientBoostingClassifier(
        max_iter=10, categorical_features=[2], random_state=0
    ).fit(x, y > 0)
    assert binned_view(categorical) is None  # an unseen category: missing raw, a bin binned
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y > 0)
    assert binned_view(forest) is None


def test_a_compiled_pipeline_scores_its_gradient_boosting_on_bins() -> None:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        {
            "colour": rng.choice(["red", "green", "blue"], 2_000),
            "size": rng.normal(size=2_000),
        }
    )
    y = (frame["size"] + (frame["colour"] == "red")) > 0.5
    pipeline = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [("cat", OneHotEncoder(handle_unknown="ignore"), ["colour"])],
                    remainder="passthrough",
                ),
            ),
            ("model", HistGradientBoostingClassifier(max_iter=20, random_state=0)),
        ]
    ).fit(frame, y)
    compiled = compile_pipeline(pipeline, ["colour", "size"])
    assert binned(compiled.estimator)
    assert compiled.description.endswith("(scored on its bins)")
    columns = {"colour": frame["colour"].to_numpy(object), "size": frame["size"].to_numpy()}
    x = compiled.transform(columns, len(frame))
    assert np.array_equal(compiled.estimator.predict_proba(x), pipeline.predict_proba(frame))
