"""The DuckDB engine over real partitioned Parquet files in the prediction-log layout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from opsloop.engines.duckdb import DuckDBEngine
from opsloop.engines.labels import ingest_labels
from opsloop.engines.memory import MemoryEngine
from opsloop.serve import PredictionLogWriter

T0 = datetime(2026, 2, 28, 23, 10, tzinfo=UTC)


def log_rows(ids: list[str], ts: datetime, version: str = "1") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "prediction_id": ids,
            "request_id": "r",
            "ts": pd.Timestamp(ts),
            "model_version": version,
            "route": "stable",
            "prediction": 1,
            "score": 0.6,
            "x": [float(i) for i in range(len(ids))],
        }
    )


@pytest.fixture
def engines(tmp_path: Path) -> list[object]:
    """The same predictions and labels in DuckDB (real files) and the memory engine."""
    writer = PredictionLogWriter(tmp_path / "pred", "m")
    memory = MemoryEngine()
    batches = [
        log_rows(["a", "b"], T0),
        log_rows(["c"], T0 + timedelta(hours=1)),
        log_rows(["d"], T0 + timedelta(days=2), version="2"),
    ]
    for batch in batches:
        writer.submit(batch)
        memory.add_predictions(batch)
    writer.close()
    writer2 = PredictionLogWriter(tmp_path / "pred", "other")
    writer2.submit(log_rows(["zz"], T0))
    writer2.close()
    labels = tmp_path / "labels"
    first = pd.DataFrame({"id": ["a", "c"], "y": [1, 0]})
    ingest_labels(first, labels, id_column="id", target="y")
    second = pd.DataFrame({"id": ["a"], "y": [0]})  # a correction: newest wins
    ingest_labels(second, labels, id_column="id", target="y")
    for f in (first, second):
        memory.add_labels(
            f.rename(columns={"id": "prediction_id", "y": "label"}).assign(
                label_ts=pd.Timestamp(datetime.now(UTC))
            )
        )
    user = tmp_path / "warehouse"
    user.mkdir()
    pd.DataFrame({"cust": ["b"], "churned": [1]}).to_parquet(user / "l.parquet")
    duck = DuckDBEngine(
        tmp_path / "pred",
        labels,
        extra_labels_glob=str(user / "*.parquet"),
        id_column="cust",
        target="churned",
    )
    memory.add_labels(
        pd.DataFrame(
            {"prediction_id": ["b"], "label": [1], "label_ts": pd.Timestamp("1970-01-01", tz="UTC")}
        )
    )
    return [duck, memory]


def test_window_filter_and_label_join(engines: list[object]) -> None:
    for engine in engines:
        window = engine.read_window(
            "m",
            T0 - timedelta(minutes=1),  # type: ignore[attr-defined]
            T0 + timedelta(hours=2),
        )
        got = window.sort_values("prediction_id")
        assert got["prediction_id"].tolist() == ["a", "b", "c"], type(engine)
        assert got["label"].tolist() == [0, 1, 0], type(engine)
        assert str(got["ts"].dt.tz) == "UTC"
        later = engine.read_window(
            "m",
            T0 + timedelta(days=1),  # type: ignore[attr-defined]
            T0 + timedelta(days=3),
        )
        assert later["prediction_id"].tolist() == ["d"] and later["label"].isna().all()
        assert later["model_version"].tolist() == ["2"]


def test_empty_and_missing_directories(tmp_path: Path) -> None:
    engine = DuckDBEngine(tmp_path / "nothing", tmp_path / "no-labels")
    empty = engine.read_window("m", T0, T0 + timedelta(hours=1))
    assert empty.empty and "label" in empty.columns and "prediction_id" in empty.columns
    assert engine.count_labels() == 0


def test_count_labels(engines: list[object]) -> None:
    assert engines[0].count_labels() == 3  # type: ignore[attr-defined]


def test_read_scores_is_the_windows_score_column(engines: list[object]) -> None:
    for engine in engines:
        start, end = T0 - timedelta(hours=1), T0 + timedelta(days=3)
        scores = engine.read_scores("m", start, end, version="1")  # type: ignore[attr-defined]
        window = engine.read_window("m", start, end, version="1")  # type: ignore[attr-defined]
        assert scores.dtype == float and list(scores) == list(window["score"]) == [0.6] * 3
        assert len(engine.read_scores("m", start, end)) == 4  # type: ignore[attr-defined]
    duck = engines[0]
    assert len(duck.read_scores("none", T0, T0 + timedelta(days=3))) == 0  # type: ignore[attr-defined]


def test_count_logged_counts_ids_with_a_logged_prediction_of_the_model(
    engines: list[object], tmp_path: Path
) -> None:
    duck = engines[0]
    assert isinstance(duck, DuckDBEngine)
    assert duck.count_logged("m", ["a", "d", "zz", "nope"]) == 2  # "zz" is another model's
    assert duck.count_logged("m", ["a", "a"]) == 1
    assert duck.count_logged("m", []) == 0
    # the memory engine keeps no model names
    assert engines[1].count_logged("m", ["a", "d", "nope"]) == 2  # type: ignore[attr-defined]
    nothing = DuckDBEngine(tmp_path / "nothing", tmp_path / "no-labels")
    assert nothing.count_logged("m", ["a"]) == 0
