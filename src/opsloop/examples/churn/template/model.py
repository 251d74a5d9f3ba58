"""The project's code: how to load data for a time window, and how to build the model.

opsloop calls load(window) for training and retraining (window.start / window.end are
UTC datetimes; return the rows with start <= event_time < end) and build() for a fresh,
unfitted estimator. Nothing here depends on opsloop.
"""

from pathlib import Path

import pandas as pd
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

DATA = Path(__file__).parent / "data"
TIME = "event_time"


def load(window) -> pd.DataFrame:
    files = sorted(DATA.glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"no Parquet files in {DATA}")
    frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    times = pd.to_datetime(frame[TIME], utc=True)
    keep = (times >= pd.Timestamp(window.start)) & (times < pd.Timestamp(window.end))
    return frame[keep].sort_values(TIME, kind="stable").reset_index(drop=True)


def build() -> Pipeline:
    encode = ColumnTransformer(
        [
            (
                "categories",
                OneHotEncoder(handle_unknown="ignore"),
                make_column_selector(dtype_include=["object", "string", "category"]),
            )
        ],
        remainder="passthrough",
    )
    model = HistGradientBoostingClassifier(
        max_iter=150,
        learning_rate=0.08,
        max_leaf_nodes=15,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=0,
    )
    return Pipeline([("encode", encode), ("model", model)])
