from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from opsloop.errors import ConfigError, InvalidInputError
from opsloop.ranking.data import RankingData
from opsloop.ranking.models import PopularityRecommender

T0 = pd.Timestamp("2026-05-01")


@pytest.fixture
def data() -> RankingData:
    visits = [
        ("u3", "a", 35), ("u3", "a", 36), ("u3", "a", 37),
        ("u1", "b", 20), ("u2", "b", 21),
        ("u1", "c", 1), ("u2", "c", 2), ("u3", "c", 3), ("u3", "c", 4),
        ("u2", "d", 40),
    ]  # fmt: skip
    frame = pd.DataFrame(visits, columns=["user", "item", "day"])
    frame["t"] = T0 + pd.to_timedelta(frame.pop("day"), unit="D")
    return RankingData(
        interactions=frame,
        users=pd.DataFrame({"user": ["u1", "u2", "u3"], "area": ["x", "x", "y"]}),
        items=pd.DataFrame({"item": ["a", "b", "c", "d"]}),
        user_column="user",
        item_column="item",
        time_column="t",
    )


def ids(model: PopularityRecommender, data: RankingData, users: list[str], **kw: bool) -> list:
    top = model.fit(data).recommend(data, np.array(users), 4, **kw)
    return top.item_ids().tolist()


def test_global_popularity_counts_the_recent_window_then_all_time(data: RankingData) -> None:
    # last 30 days before the newest visit: a 3, b 2, d 1, c 0 (c: 4 older visits)
    model = PopularityRecommender(recent_days=30)
    assert ids(model, data, ["u1", "nobody"], exclude_seen=False) == [["a", "b", "d", "c"]] * 2
    assert ids(PopularityRecommender(recent_days=50), data, ["nobody"]) == [["c", "a", "b", "d"]]


def test_area_popularity_ranks_within_the_users_area_and_falls_back(data: RankingData) -> None:
    model = PopularityRecommender(segment_column="area")
    got = ids(model, data, ["u1", "u3", "stranger"], exclude_seen=False)
    assert got == [["b", "d", "c", "a"], ["a", "c", "b", "d"], ["a", "b", "d", "c"]]


def test_seen_items_are_skipped_and_the_list_padded(data: RankingData) -> None:
    model = PopularityRecommender(segment_column="area")
    top = model.fit(data).recommend(data, np.array(["u1", "u3"]), 4)
    assert top.item_ids().tolist() == [["d", "a", None, None], ["b", "d", None, None]]
    assert np.isnan(top.scores[:, 2:]).all() and (np.diff(top.scores[:, :2]) <= 0).all()


def test_settings_are_checked(data: RankingData) -> None:
    with pytest.raises(ConfigError, match="recent_days"):
        PopularityRecommender(recent_days=0).fit(data)
    with pytest.raises(InvalidInputError, match=r"users table lacks column\(s\) \['region'\]"):
        PopularityRecommender(segment_column="region").fit(data)
