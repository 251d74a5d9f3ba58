"""Relevant items and popularity from an interactions frame; TopK moved to another catalogue."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from opsloop.errors import DataValidationError
from opsloop.ranking.data import PAD, TopK
from opsloop.ranking.relevance import popularity_counts, relevant_from_interactions

CATALOGUE = np.array(["r1", "r2", "r3", "r4"])
USERS = np.array([30, 10, 20])


def visits() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user": [10, 10, 10, 20, 99, 30, 30, 20, 10],
            "item": ["r2", "r2", "r4", "r1", "r1", "zz", "r3", "r3", "r1"],
            "rating": [2.0, 5.0, 1.0, 3.0, 4.0, 4.0, np.nan, 0.0, 4.0],
        }
    )


def test_relevant_rows_follow_the_users_order_and_keep_the_best_gain() -> None:
    built = relevant_from_interactions(
        visits(),
        user_column="user",
        item_column="item",
        catalogue=CATALOGUE,
        users=USERS,
        gain_column="rating",
    )
    r = built.relevant
    assert r.users.tolist() == [30, 10, 20]
    rows = [
        dict(
            zip(
                CATALOGUE[r.indices[r.indptr[i] : r.indptr[i + 1]]].tolist(),
                r.gains[r.indptr[i] : r.indptr[i + 1]].tolist(),
                strict=True,
            )
        )
        for i in range(3)
    ]
    # user 30: r3 has no rating (dropped), zz is not in the catalogue; user 10: r2 twice
    assert rows == [{}, {"r1": 4.0, "r2": 5.0, "r4": 1.0}, {"r1": 3.0}]
    assert (built.rows, built.unknown_items, built.unknown_users, built.invalid_gains) == (
        9,
        1,
        1,
        2,
    )


def test_binary_relevance_without_a_gain_column() -> None:
    built = relevant_from_interactions(
        visits(), user_column="user", item_column="item", catalogue=CATALOGUE, users=USERS
    )
    assert built.relevant.counts().tolist() == [1, 3, 2]
    assert set(built.relevant.gains.tolist()) == {1.0}
    assert built.invalid_gains == 0


def test_bad_inputs_fail_in_one_clear_line() -> None:
    with pytest.raises(DataValidationError, match="catalogue holds repeated ids"):
        relevant_from_interactions(
            visits(),
            user_column="user",
            item_column="item",
            catalogue=np.array(["r1", "r1"]),
            users=USERS,
        )
    with pytest.raises(DataValidationError, match="lack the item column 'restaurant'"):
        relevant_from_interactions(
            visits(), user_column="user", item_column="restaurant", catalogue=CATALOGUE, users=USERS
        )


def test_popularity_counts_in_catalogue_order() -> None:
    counts = popularity_counts(visits(), item_column="item", catalogue=CATALOGUE)
    assert counts.tolist() == [3.0, 2.0, 2.0, 1.0]


def test_topk_reindex_moves_positions_and_pads_lost_items() -> None:
    t = TopK(
        np.array(["a", "b"]),
        np.array([[2, 0, PAD], [1, 3, 2]]),
        np.array([[0.9, 0.5, np.nan], [0.8, 0.7, 0.1]]),
        CATALOGUE,
    )
    moved, lost = t.reindex(np.array(["r3", "r1", "r5", "r4"]))  # r2 gone
    assert lost == 1
    assert moved.items.tolist() == [[0, 1, PAD], [PAD, 3, 0]]
    assert moved.item_ids().tolist() == [["r3", "r1", None], [None, "r4", "r3"]]
    assert np.isnan(moved.scores[1, 0]) and moved.scores[1, 1] == 0.7
