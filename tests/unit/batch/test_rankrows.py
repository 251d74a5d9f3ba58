"""A chunk's top-k lists as output and log rows (`opsloop.batch.rankrows`): one row per
(user, rank) in the lists' order, padding left out, the types of contract 3, and the
fallback list with a null user of the input's type."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest

from opsloop.batch.rankrows import RankRows, flatten
from opsloop.ranking.data import PAD, TopK

ROWS = RankRows("m", "3", "run-1", "user", "item")


def _top() -> TopK:
    catalogue = np.array(["a", "b", "c", "d"], dtype=object)
    items = np.array([[2, 0, 1], [3, PAD, PAD], [PAD, PAD, PAD]])
    scores = np.where(items == PAD, np.nan, np.array([[0.9, 0.5, 0.1], [0.7, 0, 0], [0, 0, 0]]))
    return TopK(np.array([10, 20, 30]), items, scores, catalogue)


def test_flatten_keeps_each_users_ranks_in_order_without_the_padding() -> None:
    ranked = flatten(pa.array([10, 20, 30], pa.int32()), _top())
    assert ranked.rows == 4
    assert ranked.users.to_pylist() == [10, 10, 10, 20]
    assert ranked.users.type == pa.int32()  # the input's type, whatever the TopK holds
    assert ranked.rank.to_pylist() == [1, 2, 3, 1] and ranked.rank.type == pa.int16()
    assert ranked.items.to_pylist() == ["c", "a", "b", "d"]
    assert ranked.scores.to_pylist() == [0.9, 0.5, 0.1, 0.7]


def test_output_log_and_fallback_tables() -> None:
    ranked = flatten(pa.array([10, 20, 30], pa.int64()), _top())
    out = ROWS.output(ranked)
    assert out.column_names == ["user", "rank", "item", "score", "model", "version", "run_id"]
    assert out.column("version").to_pylist() == ["3"] * 4
    answered = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    log = ROWS.log(ranked, answered)
    assert log.column("prediction_id").to_pylist() == ["10", "10", "10", "20"]
    assert log.column("request_id").to_pylist() == ["batch-run-1"] * 4
    assert log.column("ts").type == pa.timestamp("us", tz="UTC")
    assert log.column("ts").to_pylist() == [answered] * 4 == log.column("event_ts").to_pylist()
    assert log.column("prediction").to_pylist() == out.column("item").to_pylist()
    assert set(log.column("route").to_pylist()) == {"batch"}

    fallback = ROWS.fallback(_top(), pa.string())
    assert fallback.schema.field("user").type == pa.string()
    assert fallback.column("user").null_count == 3
    assert fallback.column("item").to_pylist() == ["c", "a", "b"]  # the first list


def test_flatten_refuses_ids_that_do_not_match_the_lists() -> None:
    with pytest.raises(ValueError, match="2 user ids for 3 lists"):
        flatten(pa.array([1, 2]), _top())
