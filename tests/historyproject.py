"""A small real project whose history lies in the past (2022) and whose concept changes
mid-way: for backtests (`opsloop backtest`, `Project.backtest`)."""

from __future__ import annotations

from datetime import UTC, datetime

HISTORY_YAML = """\
model: shop
task: binary_classification
target: label
id_column: row_id
time_column: event_time
code: model.py
gate: {metric: roc_auc, policy: non_inferiority, margin: 0.02, floor: 0.55, approval: manual}
monitor:
  window: 1d
  drift: {psi_threshold: 0.2, p_value: 0.01, share: 0.3, min_rows: 50}
  performance: {metric: roc_auc, floor: 0.75, min_labels: 50}
retrain: {on: [drift, performance], training_window: 28d, cooldown: 1h}
"""

HISTORY_MODEL = """\
from pathlib import Path

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

DATA = Path(__file__).parent / "data" / "history.parquet"


def load(window):
    df = pd.read_parquet(DATA)
    keep = (df["event_time"] >= window.start) & (df["event_time"] < window.end)
    return df[keep].sort_values("event_time").reset_index(drop=True)


def build():
    encode = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["color"])],
                               remainder="passthrough")
    return make_pipeline(encode, LogisticRegression(max_iter=500))
"""

START = datetime(2022, 1, 1, tzinfo=UTC)
CHANGE = datetime(2022, 3, 1, tzinfo=UTC)
END = datetime(2022, 6, 1, tzinfo=UTC)


def history_frame(per_day: int = 60, *, seed: int = 0, start=START, change=CHANGE, end=END):
    """x1, x2 numeric, color categorical, one row every 1/per_day day from `start` to
    `end`; from `change` on x1 shifts up and x2's effect on the label reverses."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    n = int((end - start).total_seconds() / 86400 * per_day)
    step = (end - start) / n
    times = pd.DatetimeIndex([start + i * step for i in range(n)]).as_unit("us")
    after = np.asarray(times >= pd.Timestamp(change))
    x1 = rng.normal(np.where(after, 1.2, 0.0), 1.0)
    x2 = rng.normal(0.0, 1.0, n)
    color = rng.choice(["red", "green", "blue"], n, p=[0.5, 0.3, 0.2])
    logit = 1.2 * x1 * np.where(after, 0.3, 1.0) + np.where(after, -2.0, 1.5) * x2 - 0.3
    logit = logit + np.where(color == "red", 0.5, -0.3)
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame(
        {
            "row_id": [f"h-{i}" for i in range(n)],
            "event_time": times,
            "x1": x1,
            "x2": x2,
            "color": color,
            "label": label,
        }
    )


def write_history_project(root, *, per_day: int = 60, extra_yaml: str = ""):
    root.mkdir(parents=True, exist_ok=True)
    (root / "opsloop.yaml").write_text(HISTORY_YAML + extra_yaml)
    (root / "model.py").write_text(HISTORY_MODEL)
    (root / "data").mkdir(exist_ok=True)
    history_frame(per_day).to_parquet(root / "data" / "history.parquet", index=False)
    return root
