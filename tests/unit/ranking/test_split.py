from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from opsloop.errors import InvalidInputError
from opsloop.ranking.data import RankingData
from opsloop.ranking.split import time_split

T0 = pd.Timestamp("2026-03-01")


def day(n: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(days=n)


def small(rating: bool = True) -> RankingData:
    # users u1..u4, items a..e (catalogue order e, a, b, c, d); cut-off at day 10
    visits = pd.DataFrame(
        [
            ("u1", "a", day(1), 4.0),
            ("u1", "b", day(2), 2.0),
            ("u2", "a", day(3), 5.0),
            ("u1", "a", day(11), 3.0),  # seen before the cut-off
            ("u1", "c", day(12), 2.0),
            ("u1", "c", day(13), 5.0),  # best gain of u1 on c: 5
            ("u1", "d", day(14), 1.0),
            ("u3", "b", day(10), 4.0),  # exactly at the cut-off: evaluated; u3 is new
            ("u2", "zz", day(12), 5.0),  # an item not in the catalogue
            ("u2", "e", day(17), 5.0),  # at cut-off + horizon: out of the window
            ("u4", "e", day(20), 5.0),
        ],
        columns=["user", "item", "t", "stars"],
    )
    items = pd.DataFrame(
        {
            "item": ["e", "a", "b", "c", "d"],
            "opened": [day(0), day(0), day(0), day(0), day(11)],
        }
    )
    users = pd.DataFrame({"user": ["u1", "u2", "u3", "u4"]})
    return RankingData(
        interactions=visits,
        users=users,
        items=items,
        user_column="user",
        item_column="item",
        time_column="t",
        rating_column="stars" if rating else None,
    )


def rows(split) -> dict[str, dict[str, float]]:  # type: ignore[no-untyped-def]
    rel = split.relevant
    out = {}
    for i, user in enumerate(rel.users):
        sl = slice(rel.indptr[i], rel.indptr[i + 1])
        out[str(user)] = {
            str(split.catalogue[j]): float(g)
            for j, g in zip(rel.indices[sl], rel.gains[sl], strict=True)
        }
    return out


def test_train_holds_the_interactions_before_the_cutoff_and_the_tables_whole() -> None:
    data = small()
    split = time_split(data, day(10), pd.Timedelta(days=7))
    assert (split.train.interactions["t"] < day(10)).all()
    assert len(split.train.interactions) == 3
    assert split.train.items.equals(data.items)
    assert split.train.users.equals(data.users)
    assert list(split.catalogue) == ["e", "a", "b", "c", "d"]


def test_relevant_is_graded_by_the_best_rating_and_leaves_seen_items_out() -> None:
    split = time_split(small(), day(10), pd.Timedelta(days=7))
    assert rows(split) == {"u1": {"c": 5.0, "d": 1.0}, "u3": {"b": 4.0}}
    assert list(split.relevant.users) == ["u1", "u3"]
    assert list(split.cold_start) == [False, True]
    assert split.dropped == 1  # u2's visit to an unknown item
    # CSR indices are catalogue positions, ascending within a user
    assert list(split.relevant.indices) == [3, 4, 2]
    assert list(split.relevant.counts()) == [2, 1]


def test_seen_items_are_kept_when_asked_and_min_rating_filters() -> None:
    split = time_split(small(), day(10), pd.Timedelta(days=7), exclude_seen=False)
    assert rows(split)["u1"] == {"a": 3.0, "c": 5.0, "d": 1.0}
    rated = time_split(small(), day(10), pd.Timedelta(days=7), min_rating=3, exclude_seen=False)
    assert rows(rated) == {"u1": {"a": 3.0, "c": 5.0}, "u3": {"b": 4.0}}


def test_without_a_rating_column_relevance_is_binary() -> None:
    split = time_split(small(rating=False), day(10), pd.Timedelta(days=11))
    assert rows(split) == {
        "u1": {"c": 1.0, "d": 1.0},
        "u2": {"e": 1.0},
        "u3": {"b": 1.0},
        "u4": {"e": 1.0},
    }
    assert list(split.cold_start) == [False, False, True, True]
    with pytest.raises(InvalidInputError, match="min_rating needs a rating column"):
        time_split(small(rating=False), day(10), pd.Timedelta(days=7), min_rating=3)


def test_available_column_drops_items_not_yet_open_from_catalogue_and_relevance() -> None:
    split = time_split(small(), day(10), pd.Timedelta(days=7), available_column="opened")
    assert list(split.catalogue) == ["e", "a", "b", "c"]
    assert rows(split) == {"u1": {"c": 5.0}, "u3": {"b": 4.0}}
    assert split.dropped == 2


def test_numeric_times_split_with_numeric_cutoffs() -> None:
    data = small()
    seconds = (data.interactions["t"] - T0).dt.total_seconds()
    numeric = replace(data, interactions=data.interactions.assign(t=seconds))
    split = time_split(numeric, 10 * 86_400.0, 7 * 86_400.0)
    assert rows(split) == rows(time_split(data, day(10), pd.Timedelta(days=7)))


def test_a_cutoff_of_the_wrong_kind_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="do not compare with the time column"):
        time_split(small(), 10, pd.Timedelta(days=7))


def test_an_empty_window_gives_no_users() -> None:
    split = time_split(small(), day(100), pd.Timedelta(days=7))
    assert len(split.relevant.users) == 0
    assert list(split.relevant.indptr) == [0]
    assert split.cold_start.shape == (0,)
    assert np.array_equal(split.relevant.indices, np.zeros(0, dtype=np.int64))
