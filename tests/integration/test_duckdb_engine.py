"""The DuckDB engine over real partitioned Parquet files in the prediction-log layout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
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


def _historic_log(tmp_path: Path) -> tuple[list[object], datetime, datetime]:
    """Records sent with their event time (`time_column` "when", 2024-03-01) and answered
    now, through the request parser and the log writer; the same rows in both engines."""
    from opsloop.data.features import FeatureSpec
    from opsloop.serve.inputs import parse_records
    from opsloop.serve.logwriter import LoggedRequest, requests_frame

    specs = [FeatureSpec("x", "numeric", "float64")]
    records = [
        {"id": "h1", "x": 1.0, "when": "2024-03-01T08:15:00Z"},
        {"id": "h2", "x": 2.0, "when": 1709284500},  # epoch seconds: 2024-03-01T09:15Z
        {"id": "h3", "x": 3.0, "when": "2024-03-01T10:15:00+01:00"},
    ]
    rows, ids = parse_records({"records": records}, specs, "id", "when")
    answered = datetime.now(UTC)
    request = LoggedRequest(
        rows, ids, "r", answered.timestamp(), "1", "stable", np.ones(3), np.full(3, 0.7)
    )
    writer = PredictionLogWriter(tmp_path / "pred", "m")
    writer.submit(request)
    writer.close()
    memory = MemoryEngine()
    memory.add_predictions(requests_frame([request]))
    return [DuckDBEngine(tmp_path / "pred", tmp_path / "labels"), memory], answered


def test_historic_event_times_fall_in_their_own_window_on_the_event_clock(
    tmp_path: Path,
) -> None:
    engines, answered = _historic_log(tmp_path)
    march = datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 2, tzinfo=UTC)
    today = answered - timedelta(hours=1), answered + timedelta(hours=1)
    want = [
        pd.Timestamp("2024-03-01T08:15:00Z"),
        pd.Timestamp("2024-03-01T09:15:00Z"),
        pd.Timestamp("2024-03-01T09:15:00Z"),
    ]
    for engine in engines:
        by_event = engine.read_window("m", *march, clock="event")  # type: ignore[attr-defined]
        got = by_event.sort_values("prediction_id")
        assert got["prediction_id"].tolist() == ["h1", "h2", "h3"], type(engine)
        assert got["event_ts"].tolist() == want, type(engine)
        assert (got["ts"] > pd.Timestamp(today[0])).all()  # answered now
        assert engine.read_window("m", *today, clock="event").empty  # type: ignore[attr-defined]
        assert len(engine.read_scores("m", *march, clock="event")) == 3  # type: ignore[attr-defined]
        # the default clock is the event clock
        assert len(engine.read_window("m", *march)) == 3  # type: ignore[attr-defined]
        by_answer = engine.read_window("m", *today, clock="answered")  # type: ignore[attr-defined]
        assert sorted(by_answer["prediction_id"]) == ["h1", "h2", "h3"], type(engine)
        assert engine.read_window("m", *march, clock="answered").empty  # type: ignore[attr-defined]


def test_a_windows_profile_is_on_its_clock(tmp_path: Path) -> None:
    from opsloop.core.profile import compute_profile
    from opsloop.data.features import FeatureSpec

    engines, answered = _historic_log(tmp_path)
    reference = compute_profile(
        pd.DataFrame({"x": [1.0, 2.0, 3.0]}), [FeatureSpec("x", "numeric", "float64")]
    )
    march = datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 2, tzinfo=UTC)
    today = answered - timedelta(hours=1), answered + timedelta(hours=1)
    for engine in engines:
        profile = engine.profile_window("m", *march, reference, clock="event")  # type: ignore[attr-defined]
        assert profile.n_rows == 3
        assert profile.newest == datetime(2024, 3, 1, 9, 15, tzinfo=UTC), type(engine)
        scan = engine.scan_window("m", *march, reference, clock="event")  # type: ignore[attr-defined]
        assert scan.profile.newest == datetime(2024, 3, 1, 9, 15, tzinfo=UTC), type(engine)
        answered_profile = engine.profile_window("m", *today, reference, clock="answered")  # type: ignore[attr-defined]
        assert answered_profile.n_rows == 3 and answered_profile.newest is not None
        assert answered_profile.newest > today[0]
    hours = engines[0].profile_hours("m", *march, reference, clock="event")  # type: ignore[attr-defined]
    assert sorted(hours) == [
        datetime(2024, 3, 1, 8, tzinfo=UTC),
        datetime(2024, 3, 1, 9, tzinfo=UTC),
    ]
    assert [hours[h].n_rows for h in sorted(hours)] == [1, 2]


def test_log_files_without_event_ts_are_read_with_the_answer_time(tmp_path: Path) -> None:
    """Files written before `event_ts` existed, alone and beside new ones."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    old = log_rows(["old"], T0)
    old["ts"] = old["ts"].astype("datetime64[us, UTC]")
    directory = tmp_path / "pred" / "model=m" / f"date={T0:%Y-%m-%d}" / f"hour={T0:%H}"
    directory.mkdir(parents=True)
    pq.write_table(pa.Table.from_pandas(old, preserve_index=False), directory / "old.parquet")
    assert "event_ts" not in pq.read_schema(directory / "old.parquet").names
    duck = DuckDBEngine(tmp_path / "pred", tmp_path / "labels")
    memory = MemoryEngine()
    memory.add_predictions(old)
    window = T0 - timedelta(minutes=1), T0 + timedelta(minutes=1)

    for engine in (duck, memory):
        for clock in ("event", "answered"):
            got = engine.read_window("m", *window, clock=clock)  # type: ignore[attr-defined]
            assert got["prediction_id"].tolist() == ["old"], (type(engine), clock)
            assert (got["event_ts"] == got["ts"]).all(), (type(engine), clock)
    writer = PredictionLogWriter(tmp_path / "pred", "m")  # a newer file beside it
    earlier = pd.Timestamp(T0 - timedelta(days=400))
    new = log_rows(["new"], T0).assign(event_ts=earlier)
    writer.submit(new)
    writer.close()
    memory.add_predictions(new)
    for engine in (duck, memory):
        by_event = engine.read_window("m", *window, clock="event")  # type: ignore[attr-defined]
        assert by_event["prediction_id"].tolist() == ["old"], type(engine)
        by_answer = engine.read_window("m", *window, clock="answered")  # type: ignore[attr-defined]
        got = by_answer.sort_values("prediction_id").reset_index(drop=True)
        assert got["prediction_id"].tolist() == ["new", "old"], type(engine)
        assert got["event_ts"].tolist() == [earlier, pd.Timestamp(T0)], type(engine)
        year_before = engine.read_window(  # type: ignore[attr-defined]
            "m", earlier.to_pydatetime(), earlier.to_pydatetime() + timedelta(hours=1)
        )
        assert year_before["prediction_id"].tolist() == ["new"], type(engine)
