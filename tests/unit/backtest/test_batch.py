"""Batch scoring: each version loaded once, batches equal to one call, the log layout."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from opsloop.batch import BatchScorer, write_log
from opsloop.errors import InvalidInputError


@pytest.fixture
def trained(memory_project):
    outcome = memory_project.train()
    return memory_project, outcome.version


def _frame():
    from tinyproject import tiny_frame

    return tiny_frame(250, seed=5, prefix="b")


def test_scores_in_batches_with_each_version_loaded_once(trained):
    p, version = trained
    loads: list[str] = []

    def load(v):
        loads.append(v)
        return p.registry.load("tiny", v)

    frame = _frame()
    whole = BatchScorer(load, id_column="row_id", time_column="event_time", batch_size=10_000)
    small = BatchScorer(load, id_column="row_id", time_column="event_time", batch_size=7)
    answered = datetime(2022, 5, 1, tzinfo=UTC)
    a = whole.score(frame, version, answered=answered)
    b = small.score(frame, version, answered=answered)
    small.score(frame.head(3), version, answered=answered)
    assert loads == [version, version] and small.loads == 1
    assert a.n == b.n == 250
    np.testing.assert_array_equal(a.rows["prediction"], b.rows["prediction"])
    np.testing.assert_allclose(a.rows["score"], b.rows["score"])
    rows = b.rows
    assert list(rows.columns[:6]) == [
        "prediction_id",
        "request_id",
        "ts",
        "event_ts",
        "model_version",
        "route",
    ]
    assert (rows["prediction_id"] == frame["row_id"]).all()
    assert (rows["route"] == "batch").all() and (rows["model_version"] == version).all()
    assert (pd.to_datetime(rows["event_ts"], utc=True) == frame["event_time"]).all()
    assert (rows["ts"] == pd.Timestamp(answered)).all()


def test_written_rows_are_read_by_the_engine(trained, tmp_path):
    from opsloop.engines.duckdb import DuckDBEngine

    p, version = trained
    scorer = BatchScorer(
        lambda v: p.registry.load("tiny", v), id_column="row_id", time_column="event_time"
    )
    frame = _frame()
    scored = scorer.score(frame, version, answered=datetime(2022, 5, 1, tzinfo=UTC))
    assert write_log(tmp_path / "log", "tiny", scored.rows) == 250
    engine = DuckDBEngine(tmp_path / "log", tmp_path / "labels")
    assert engine.count_logged("tiny", frame["row_id"].tolist()) == 250


def test_missing_columns_are_named(trained):
    p, version = trained
    scorer = BatchScorer(
        lambda v: p.registry.load("tiny", v), id_column="row_id", time_column="event_time"
    )
    with pytest.raises(InvalidInputError, match=r"lack the column\(s\) \['row_id', 'x2'\]"):
        scorer.score(_frame().drop(columns=["row_id", "x2"]), version, answered=datetime.now(UTC))
    with pytest.raises(InvalidInputError, match="batch size"):
        BatchScorer(
            lambda v: p.registry.load("tiny", v), id_column="row_id", time_column=None, batch_size=0
        )
