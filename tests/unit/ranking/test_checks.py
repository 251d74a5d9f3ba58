"""The validate stage's checks of what a ranking project's load() returns."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from opsloop.config import RankingConfig
from opsloop.errors import UserCodeError
from opsloop.ranking.checks import as_ranking_data, check_ranking_data
from ranking_fixtures import synthetic_world

CFG = RankingConfig(user_column="user_id", item_column="item_id", rating_column="rating")


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    return synthetic_world(80, 12, days=30, visits_per_user=6, seed=1)


def failed(data, **options) -> dict[str, str]:  # type: ignore[no-untyped-def]
    checks = check_ranking_data(
        data, options.pop("cfg", CFG), time_column="visited_at", min_rows=10
    )
    return {c.name: c.detail for c in checks if not c.passed}


def test_load_must_return_ranking_data(world) -> None:  # type: ignore[no-untyped-def]
    assert as_ranking_data(world, "model.py") is world
    with pytest.raises(UserCodeError, match="returned the wrong type") as info:
        as_ranking_data(world.interactions, "model.py")
    assert info.value.got == "DataFrame" and "RankingData(" in (info.value.fix or "")


def test_good_data_passes_every_check(world) -> None:  # type: ignore[no-untyped-def]
    names = [c.name for c in check_ranking_data(world, CFG, time_column="visited_at", min_rows=10)]
    assert names == [
        "columns",
        "min_rows",
        "unique_users",
        "unique_items",
        "event_times",
        "known_items",
        "ratings",
    ]
    assert failed(world) == {}


def test_columns_must_be_the_configured_ones(world) -> None:  # type: ignore[no-untyped-def]
    other = RankingConfig(user_column="user_id", item_column="restaurant_id")
    assert set(failed(world, cfg=other)) == {"columns"}  # the rest needs the columns
    assert (
        "item_column 'item_id' (opsloop.yaml: 'restaurant_id')"
        in failed(world, cfg=other)["columns"]
    )
    no_area = replace(world, items=world.items.drop(columns="item_id"))
    assert "the items table lacks ['item_id']" in failed(no_area)["columns"]


def test_ids_times_and_ratings(world) -> None:  # type: ignore[no-untyped-def]
    twice = replace(world, items=pd.concat([world.items, world.items.head(2)]))
    assert failed(twice) == {"unique_items": "2 repeated item_id value(s) in the items table"}
    text = world.interactions.assign(visited_at=world.interactions["visited_at"].astype(str))
    assert "convert it to date-times" in failed(replace(world, interactions=text))["event_times"]
    stars = world.interactions.assign(rating="5 stars")
    assert set(failed(replace(world, interactions=stars))) == {"ratings"}
    few = replace(world, interactions=world.interactions.head(3))
    assert set(failed(few)) == {"min_rows"}
    unknown = world.interactions.assign(item_id=-1)
    assert set(failed(replace(world, interactions=unknown))) == {"known_items"}
