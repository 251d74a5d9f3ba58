"""The recommender's reference: what it keeps of the training split, and its JSON."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from opsloop.errors import InvalidInputError
from opsloop.monitor.ranking.reference import (
    RankBand,
    RankingReference,
    rank_bands,
    ranking_reference,
    table_features,
)
from opsloop.ranking.data import PAD, RankingData, TopK

T = pd.Timestamp("2025-06-01", tz="UTC")


def tiny() -> tuple[RankingData, TopK]:
    users = pd.DataFrame(
        {
            "user_id": [1, 2, 3],
            "area": ["north", "south", "north"],
            "signup_date": [T - pd.Timedelta(days=d) for d in (10, 20, 30)],
        }
    )
    items = pd.DataFrame(
        {"item_id": [10, 11, 12, 13], "cuisine": ["thai", "thai", "french", "korean"]}
    )
    visits = pd.DataFrame(
        {
            "user_id": [1, 1, 2, 9],  # 9: not in the users table
            "item_id": [10, 12, 10, 13],
            "visited_at": [T - pd.Timedelta(days=1)] * 3 + [T],
        }
    )
    data = RankingData(visits, users, items, "user_id", "item_id", "visited_at")
    top = TopK(
        np.asarray([1, 2]),
        np.asarray([[0, 1, 2], [1, PAD, PAD]]),
        np.asarray([[0.9, 0.5, 0.1], [0.7, np.nan, np.nan]]),
        items["item_id"].to_numpy(),
    )
    return data, top


def test_bands_split_the_top_from_the_tail() -> None:
    assert rank_bands(1) == [RankBand(1, 1)]
    assert [b.name for b in rank_bands(3)] == ["score@1", "score@2-3"]
    assert [b.name for b in rank_bands(10)] == ["score@1", "score@2-5", "score@6-10"]


def test_what_the_reference_keeps() -> None:
    data, top = tiny()
    ref = ranking_reference(data, top, k=3, ndcg=0.12)
    # users once each (user 9 unknown: its columns null), items once per visit
    assert ref.users.n_rows == 3 and ref.items.n_rows == 4
    assert ref.users.features["user.area"].null_count == 1
    assert ref.items.features["item.cuisine"].counts[:3] == [2, 1, 1]  # thai, french, korean
    assert set(ref.users.features) == {"user.area", "user.signup_date"}
    assert ref.visit_counts == {"10": 2, "12": 1, "13": 1}
    assert ref.list_counts == {"10": 1, "11": 2, "12": 1}
    assert ref.coverage == 3 / 4 and ref.catalogue_size == 4 and ref.n_users == 2
    assert ref.scores.features["score"].non_null == 4
    assert ref.scores.features["score@1"].non_null == 2
    assert ref.scores.features["score@2-3"].non_null == 2
    assert ref.ndcg == 0.12


def test_dates_are_ages_at_the_periods_end() -> None:
    data, _ = tiny()
    frame = table_features(data.users, "user_id", "user.", as_of=T)
    assert frame["user.signup_date"].tolist() == [10.0, 20.0, 30.0]
    assert "user.user_id" not in frame.columns


def test_json_round_trip_and_a_wrong_format() -> None:
    data, top = tiny()
    ref = ranking_reference(data, top, k=3)
    back = RankingReference.from_json(ref.to_json())
    assert back.to_json() == ref.to_json()
    with pytest.raises(InvalidInputError, match="not in a format"):
        RankingReference.from_json('{"format": 99}')


def test_a_k_beyond_the_lists_is_refused() -> None:
    data, top = tiny()
    with pytest.raises(InvalidInputError, match="k must be within"):
        ranking_reference(data, top, k=4)
