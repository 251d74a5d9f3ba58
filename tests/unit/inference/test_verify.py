"""The registration check of the compiled path on the holdout: compiled when it answers like
the model (holdout rows with missing values and categories included), plain with the reason
otherwise — an unsupported step, a plan that answers differently, an empty holdout."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import KBinsDiscretizer, OneHotEncoder, StandardScaler

from opsloop.data.features import FeatureSpec
from opsloop.inference import SCORE_TOLERANCE, check_on_holdout, verify
from opsloop.registry.base import LoadedModel

FEATURES = [
    FeatureSpec("a", "numeric", "float64", nullable=True),
    FeatureSpec("color", "categorical", "string", nullable=True, categories=("blue", "red")),
]


def frame(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "color": pd.Series(
                rng.choice(["red", "blue"], n), dtype="str"
            ),  # pandas 3 default: missing is NaN
        }
    )
    x.loc[rng.random(n) < 0.1, "a"] = np.nan
    x.loc[rng.random(n) < 0.1, "color"] = np.nan
    red = (x["color"] == "red").fillna(False).to_numpy(dtype=float)
    y = ((x["a"].fillna(0).to_numpy() + red) > 0.5).astype(int)
    return x, y


def pipeline(numeric: Any, estimator: Any) -> Any:
    return make_pipeline(
        ColumnTransformer(
            [
                ("num", numeric, ["a"]),
                (
                    "cat",
                    make_pipeline(
                        SimpleImputer(strategy="most_frequent"),
                        OneHotEncoder(handle_unknown="ignore"),
                    ),
                    ["color"],
                ),
            ]
        ),
        estimator,
    )


def fitted(est: Any, task: str = "binary_classification") -> tuple[LoadedModel, pd.DataFrame]:
    train, y = frame(400)
    holdout, _ = frame(150, seed=1)
    target = y if task != "regression" else y + train["a"].fillna(0).to_numpy()
    est.fit(train, target)
    return LoadedModel("m", "candidate", est, FEATURES, task), holdout


@pytest.mark.parametrize(
    ("est", "task"),
    [
        (
            lambda: pipeline(
                make_pipeline(SimpleImputer(), StandardScaler()), LogisticRegression()
            ),
            "binary_classification",
        ),
        (
            lambda: pipeline(SimpleImputer(), HistGradientBoostingClassifier(max_iter=10)),
            "binary_classification",
        ),
        (
            lambda: pipeline(SimpleImputer(), HistGradientBoostingRegressor(max_iter=10)),
            "regression",
        ),
    ],
)
def test_a_supported_pipeline_is_compiled_after_the_holdout_check(est: Any, task: str) -> None:
    model, holdout = fitted(est(), task)
    assert holdout["a"].isna().any() and holdout["color"].isna().any()
    check = check_on_holdout(model, holdout)
    assert check.path == "compiled", check.reason
    assert "150 holdout rows" in check.reason and check.rows > len(holdout)
    if task != "regression":
        assert check.max_score_diff is not None and check.max_score_diff <= SCORE_TOLERANCE
    assert check.tags() == {
        "opsloop.inference_path": "compiled",
        "opsloop.inference_reason": check.reason,
    }
    assert check.to_dict()["tolerance"] == SCORE_TOLERANCE


def test_an_unsupported_step_is_plain_with_the_reason() -> None:
    binned = KBinsDiscretizer(n_bins=3, encode="ordinal", quantile_method="averaged_inverted_cdf")
    model, holdout = fitted(pipeline(make_pipeline(SimpleImputer(), binned), LogisticRegression()))
    check = check_on_holdout(model, holdout)
    assert check.path == "plain" and "KBinsDiscretizer" in check.reason
    assert check.tags()["opsloop.inference_path"] == "plain"


def test_a_plan_that_answers_differently_on_the_holdout_is_plain(monkeypatch) -> None:
    model, holdout = fitted(pipeline(SimpleImputer(), LogisticRegression()))
    other, _ = fitted(pipeline(SimpleImputer(), LogisticRegression(C=1e-4)))
    real = verify.compile_pipeline

    def wrong(estimator: Any, names: Any) -> Any:  # the plan of another fit: other scores
        from dataclasses import replace

        return replace(real(estimator, names), estimator=other.estimator.steps[-1][1])

    monkeypatch.setattr(verify, "compile_pipeline", wrong)
    check = check_on_holdout(model, holdout)
    assert check.path == "plain" and check.reason.endswith("on the holdout")
    assert "differ" in check.reason
    assert check.rows == len(holdout)


def test_an_empty_holdout_verifies_nothing() -> None:
    model, holdout = fitted(pipeline(SimpleImputer(), LogisticRegression()))
    check = check_on_holdout(model, holdout.iloc[:0])
    assert check.path == "plain" and "holdout is empty" in check.reason


def test_a_plain_estimator_is_not_compiled() -> None:
    train, y = frame(100)
    est = LogisticRegression().fit(train[["a"]].fillna(0), y)
    model = LoadedModel("m", "candidate", est, FEATURES[:1], "binary_classification")
    check = check_on_holdout(model, train[["a"]].fillna(0))
    assert check.path == "plain" and "not a Pipeline" in check.reason
