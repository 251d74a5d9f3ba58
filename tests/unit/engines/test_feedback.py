"""`read_feedback` on the memory engine: the window's labelled production rows by event
time, one per id (never a shadow row; the stable answer first, then the newest), without
the ids the caller has, the newest `max_rows` kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from opsloop.engines.memory import MemoryEngine

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
START, END = NOW - timedelta(days=1), NOW


def logged(ids: list[str], *, event_hours_ago: list[float], route: str = "stable", x=None):
    n = len(ids)
    return pd.DataFrame(
        {
            "prediction_id": ids,
            "request_id": [f"req-{route}-{i}" for i in ids],
            "ts": pd.Timestamp(NOW),
            "event_ts": [pd.Timestamp(NOW - timedelta(hours=h)) for h in event_hours_ago],
            "model_version": "1",
            "route": route,
            "prediction": 0,
            "score": 0.5,
            "x1": x if x is not None else [float(i) for i in range(n)],
            "color": "red",
        }
    )


def labels(ids: list[str], values: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"prediction_id": ids, "label": values, "label_ts": pd.Timestamp(NOW)})


def test_labelled_rows_of_the_window_one_per_id() -> None:
    engine = MemoryEngine()
    engine.add_predictions(logged(["a", "b", "c", "old"], event_hours_ago=[1, 2, 3, 48]))
    engine.add_predictions(logged(["a"], event_hours_ago=[1], route="shadow", x=[99.0]))
    engine.add_predictions(logged(["b"], event_hours_ago=[2], route="candidate", x=[77.0]))
    engine.add_predictions(logged(["s"], event_hours_ago=[1], route="shadow"))
    engine.add_labels(labels(["a", "b", "old", "s", "nolog"], [1, 0, 1, 1, 0]))

    got = engine.read_feedback("m", START, END, ["x1", "color", "absent", "score"])
    # c has no label, old is outside the window, s only has a shadow row
    assert got.frame["prediction_id"].tolist() == ["b", "a"]  # event-time order
    assert got.frame.columns.tolist() == ["prediction_id", "event_ts", "label", "x1", "color"]
    assert got.frame["x1"].tolist() == [1.0, 0.0]  # the stable answers, not candidate/shadow
    assert got.frame["label"].tolist() == [0, 1]
    assert (got.labelled, got.duplicates, got.capped) == (2, 0, 0)


def test_ids_the_caller_has_are_counted_and_left_out_then_the_newest_are_kept() -> None:
    engine = MemoryEngine()
    ids = [f"p{i}" for i in range(6)]
    engine.add_predictions(logged(ids, event_hours_ago=[6, 5, 4, 3, 2, 1]))
    engine.add_labels(labels(ids, [1, 0, 1, 0, 1, 0]))

    got = engine.read_feedback("m", START, END, ["x1"], exclude=["p5", "zz"], max_rows=3)
    assert got.frame["prediction_id"].tolist() == ["p2", "p3", "p4"]
    assert (got.labelled, got.duplicates, got.capped) == (6, 1, 2)
    assert len(got.frame) == got.labelled - got.duplicates - got.capped


def test_no_log_or_no_labels_is_empty() -> None:
    engine = MemoryEngine()
    assert engine.read_feedback("m", START, END, ["x1"]).frame.empty
    engine.add_predictions(logged(["a"], event_hours_ago=[1]))
    got = engine.read_feedback("m", START, END, ["x1"])
    assert got.frame.empty and got.labelled == 0
