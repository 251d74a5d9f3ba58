"""A tiny real project (plain pandas + scikit-learn user code) for fast tests."""

from __future__ import annotations

TINY_YAML = """\
model: tiny
task: binary_classification
target: label
id_column: row_id
time_column: event_time
code: model.py
gate:
  {{metric: roc_auc, policy: non_inferiority, margin: 0.02, floor: {floor}, approval: {approval}}}
monitor:
  window: 1h
  drift: {{psi_threshold: 0.2, p_value: 0.01, share: 0.3, min_rows: 50}}
  performance: {{metric: roc_auc, floor: 0.75, min_labels: 50}}
retrain: {{on: [drift, performance], training_window: 30d, cooldown: 1h}}
"""

TINY_MODEL = """\
from pathlib import Path

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

DATA = Path(__file__).parent / "data"


def load(window):
    frames = [pd.read_parquet(p) for p in sorted(DATA.glob("*.parquet"))]
    df = pd.concat(frames, ignore_index=True)
    keep = (df["event_time"] >= window.start) & (df["event_time"] < window.end)
    return df[keep].sort_values("event_time").reset_index(drop=True)


def build():
    encode = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["color"])],
                               remainder="passthrough")
    return make_pipeline(encode, LogisticRegression(max_iter=500))
"""


def tiny_frame(n: int, *, drift: float = 0.0, seed: int = 0, prefix: str = "r", days: float = 20.0):
    """x1, x2 numeric, color categorical; drift shifts x1 and flips the role of x2."""
    from datetime import UTC, datetime

    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    x1 = rng.normal(drift * 1.5, 1.0, n)
    x2 = rng.normal(0.0, 1.0, n)
    color = rng.choice(["red", "green", "blue"], n, p=[0.5 - 0.3 * drift, 0.3, 0.2 + 0.3 * drift])
    logit = 1.5 * x1 + (1.0 - 2.5 * drift) * x2 + np.where(color == "red", 0.8, -0.4) - 0.5
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    end = datetime.now(UTC)
    times = end - pd.to_timedelta(np.sort(rng.uniform(0, days * 86400, n))[::-1], unit="s")
    return pd.DataFrame(
        {
            "row_id": [f"{prefix}-{seed}-{i}" for i in range(n)],
            "event_time": pd.DatetimeIndex(times).as_unit("us"),
            "x1": x1,
            "x2": x2,
            "color": color,
            "label": label,
        }
    )


def write_tiny_project(
    root, *, floor: float = 0.6, approval: str = "auto", rows: int = 1500, extra_yaml: str = ""
):
    """`extra_yaml`: more top-level keys (e.g. a `deploy:` section)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "opsloop.yaml").write_text(
        TINY_YAML.format(floor=floor, approval=approval) + extra_yaml
    )
    (root / "model.py").write_text(TINY_MODEL)
    (root / "data").mkdir(exist_ok=True)
    tiny_frame(rows).to_parquet(root / "data" / "history.parquet", index=False)
    return root


def run_cli(*args: str) -> tuple[int, str]:
    """Invoke the `opsloop` CLI in process; (exit code, output)."""
    from typer.testing import CliRunner

    from opsloop.cli import app

    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def prediction_log(p, frame, version: str, *, ts=None):
    """What `opsloop serve` writes to the prediction log when `version` of the tiny model
    answers the rows of `frame` (one request per row, route `stable`) at `ts` (now)."""
    import uuid
    from datetime import UTC, datetime

    import pandas as pd

    model = p.registry.load("tiny", version)
    pred, score = model.predict_frame(frame)
    log = frame[model.feature_names].copy()
    log.insert(0, "prediction_id", frame["row_id"].astype(str))
    log.insert(1, "request_id", [uuid.uuid4().hex for _ in range(len(frame))])
    log.insert(2, "ts", pd.Timestamp(ts or datetime.now(UTC)))
    log.insert(3, "model_version", version)
    log.insert(4, "route", "stable")
    log["prediction"], log["score"] = pred, score
    return log


def add_training_data(root, rows: int = 30, *, seed: int = 1) -> None:
    """New rows in the project's data, ending now: a retrain on them has changed data (one
    on the same data, code and configuration as the champion's is skipped)."""
    tiny_frame(rows, seed=seed, prefix="new", days=1.0).to_parquet(
        root / "data" / f"new-{seed}.parquet", index=False
    )
