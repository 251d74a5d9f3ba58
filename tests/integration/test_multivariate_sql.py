"""The window's mean PCA reconstruction error computed in DuckDB over real Parquet files (the
prediction log) equals the NumPy computation of the same rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from opsloop.core.transform import frame_error
from opsloop.data.features import FeatureSpec
from opsloop.engines.duckdb import DuckDBEngine
from opsloop.engines.memory import MemoryEngine
from opsloop.engines.multivariate_sql import run_error
from opsloop.monitor.multivariate import fit_transform
from opsloop.serve import PredictionLogWriter

SPECS = [
    FeatureSpec("x", "numeric", "float64"),
    FeatureSpec("y", "numeric", "float64"),
    FeatureSpec("i", "numeric", "int64"),
    FeatureSpec("c", "categorical", "string"),
    FeatureSpec("b", "boolean", "bool"),
]
T0 = datetime(2026, 3, 1, 22, 30, tzinfo=UTC)


def data(n: int, seed: int, rho: float = 0.7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(5, 2, n)
    y = rho * (x - 5) / 2 + np.sqrt(1 - rho**2) * rng.normal(0, 1, n)
    x[rng.random(n) < 0.05] = np.nan
    c = rng.choice(["a", "b", "c", "it's", "new"], n, p=[0.4, 0.3, 0.2, 0.05, 0.05])
    c = pd.Series(c, dtype=object)
    c[rng.random(n) < 0.03] = None
    return pd.DataFrame(
        {"x": x, "y": y, "i": rng.integers(-3, 40, n), "c": c, "b": rng.random(n) < 0.3}
    )


TRANSFORM = fit_transform(data(3000, 0).assign(c=lambda d: d["c"].replace("new", "a")), SPECS)


def test_duckdb_equals_numpy_on_real_parquet(tmp_path: Path) -> None:
    assert TRANSFORM is not None
    frame = data(20_000, 1, rho=-0.2)
    frame.loc[:5, "x"] = [np.inf, -np.inf, 1e12, np.nan, 0.0, 3.0]  # non-finite → imputed
    path = tmp_path / "w.parquet"
    frame.to_parquet(path)
    with duckdb.connect() as con:
        n, value = run_error(con, TRANSFORM, f"read_parquet('{path}')")
        assert run_error(con, TRANSFORM, f"(SELECT * FROM read_parquet('{path}') WHERE false)") == (
            0,
            None,
        )
        # a feature column the relation lacks is imputed on every row, as in NumPy
        n2, v2 = run_error(con, TRANSFORM, f"(SELECT * EXCLUDE (y) FROM read_parquet('{path}'))")
    expected = frame_error(frame, TRANSFORM)
    assert n == expected[0] and value == pytest.approx(expected[1], rel=1e-9)
    assert (n2, v2) == (
        n,
        pytest.approx(frame_error(frame.drop(columns=["y"]), TRANSFORM)[1], rel=1e-9),
    )


def test_engines_agree_on_a_prediction_log_window(tmp_path: Path) -> None:
    assert TRANSFORM is not None
    writer = PredictionLogWriter(tmp_path / "pred", "m")
    memory = MemoryEngine()
    for h in range(3):
        part = data(800, 10 + h, rho=0.7 - 0.5 * h)
        part = part.assign(
            prediction_id=[f"{h}-{k}" for k in range(len(part))],
            request_id="r",
            ts=pd.Timestamp(T0 + timedelta(hours=h)),
            model_version="1" if h != 1 else "2",
            route="stable",
            prediction=1,
            score=0.5,
        )
        part.loc[:49, "route"] = "shadow"
        writer.submit(part)
        memory.add_predictions(part)
    writer.close()
    duck = DuckDBEngine(tmp_path / "pred", tmp_path / "labels")
    start, end = T0 - timedelta(minutes=1), T0 + timedelta(hours=3)
    n, value = duck.reconstruction_error("m", start, end, TRANSFORM, version="1")
    expected = memory.reconstruction_error("m", start, end, TRANSFORM, version="1")
    assert n == expected[0] == 2 * 750
    assert value == pytest.approx(expected[1], rel=1e-9)
    assert duck.reconstruction_error(
        "m", T0 + timedelta(days=3), T0 + timedelta(days=4), TRANSFORM
    ) == (0, None)
    assert DuckDBEngine(tmp_path / "none", tmp_path / "labels").reconstruction_error(
        "m", start, end, TRANSFORM
    ) == (0, None)
