"""`read_labels`: the stored label rows themselves (a recommender's visits), by `label_ts`,
with every column the files hold — the same on the memory engine and on DuckDB over label
files (one with a `rating` column, one without)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from opsloop.engines.duckdb import DuckDBEngine
from opsloop.engines.memory import MemoryEngine

T = datetime(2025, 6, 1, tzinfo=UTC)
H = timedelta(hours=1)

RATED = pd.DataFrame(
    {
        "prediction_id": ["u1", "u2", "u1"],
        "label": ["r9", "r3", "r4"],
        "label_ts": pd.to_datetime([T + 2 * H, T + H, T + 30 * H], utc=True),
        "rating": [5.0, 2.0, 4.0],
    }
)
PLAIN = pd.DataFrame(
    {
        "prediction_id": ["u3"],
        "label": ["r1"],
        "label_ts": pd.to_datetime([T + 3 * H], utc=True),
    }
)


def memory(_: Path) -> MemoryEngine:
    engine = MemoryEngine()
    engine.add_labels(RATED)
    engine.add_labels(PLAIN)
    return engine


def duckdb(tmp: Path) -> DuckDBEngine:
    labels = tmp / "labels"
    labels.mkdir()
    RATED.to_parquet(labels / "part-a.parquet", index=False)
    PLAIN.to_parquet(labels / "part-b.parquet", index=False)
    return DuckDBEngine(tmp / "predictions", labels)


@pytest.mark.parametrize("make", [memory, duckdb])
def test_the_windows_label_rows_in_time_order_with_every_column(make, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    got = make(tmp_path).read_labels(T, T + 24 * H)
    assert got["prediction_id"].tolist() == ["u2", "u1", "u3"]
    assert got["label"].tolist() == ["r3", "r9", "r1"]
    assert got["label_ts"].tolist() == [pd.Timestamp(T + h * H) for h in (1, 2, 3)]
    assert str(got["label_ts"].dt.tz) == "UTC"
    assert got["rating"].tolist()[:2] == [2.0, 5.0] and pd.isna(got["rating"].iloc[2])


@pytest.mark.parametrize("make", [memory, duckdb])
def test_no_label_rows(make, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert make(tmp_path).read_labels(T - 48 * H, T).empty
    assert MemoryEngine().read_labels(T, T + H).empty
    assert DuckDBEngine(tmp_path / "p", tmp_path / "none").read_labels(T, T + H).empty
