"""The holdout of a ranking version: the time split at a window's end − `ranking.holdout`,
its users (plus listed users without a relevant item), lists reused across calls, and the
per-user frame the gate slices."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from opsloop.config import RankingConfig
from opsloop.ranking.holdout import cutoff_for, ranking_holdout
from opsloop.ranking.models import PopularityRecommender
from ranking_fixtures import START, synthetic_world

END = datetime(2026, 3, 2, tzinfo=UTC)  # START (2026-01-01, naive UTC) + 60 days
CFG = RankingConfig(user_column="user_id", item_column="item_id", k=5, holdout=timedelta(days=10))


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    return synthetic_world(300, 40, days=60, visits_per_user=10, seed=4)


def test_the_cutoff_has_the_time_columns_kind() -> None:
    naive = pd.Series(pd.to_datetime(["2026-01-01"]))
    aware = naive.dt.tz_localize("UTC")
    assert cutoff_for(naive, END, pd.Timedelta(days=10)) == pd.Timestamp("2026-02-20")
    assert cutoff_for(aware, END, pd.Timedelta(days=10)) == pd.Timestamp("2026-02-20", tz="UTC")


def test_naive_and_utc_times_split_alike(world) -> None:  # type: ignore[no-untyped-def]
    naive = ranking_holdout(world, CFG, END)
    inter = world.interactions.assign(
        visited_at=world.interactions["visited_at"].dt.tz_localize("UTC")
    )
    aware = ranking_holdout(replace(world, interactions=inter), CFG, END)
    assert naive.evaluated == aware.evaluated > 50
    assert np.array_equal(naive.users, aware.users)
    assert np.array_equal(naive.relevant.indices, aware.relevant.indices)
    cutoff = START + pd.Timedelta(days=50)
    assert len(naive.train.interactions) == int((world.interactions["visited_at"] < cutoff).sum())
    assert naive.popularity.sum() == len(naive.train.interactions)


def test_listed_users_join_without_relevant_items(world) -> None:  # type: ignore[no-untyped-def]
    h = ranking_holdout(world, CFG, END)
    model = PopularityRecommender().fit(h.train)
    before = h.per_user(h.recommend(model)[0])
    quiet = np.setdiff1d(world.users["user_id"].to_numpy(), h.users)[:7]
    assert len(quiet) == 7
    more = h.with_users(np.concatenate([quiet, h.users[:3], [-1, -2]]))  # -1, -2: unknown
    assert len(more.users) == len(h.users) + 7 and np.all(np.diff(more.users) > 0)
    assert more.evaluated == h.evaluated
    after = more.per_user(more.recommend(model)[0])
    at = pd.Index(more.users).get_indexer(h.users)
    assert np.allclose(after.ndcg[at], before.ndcg, equal_nan=True)
    added = pd.Index(more.users).get_indexer(quiet)
    assert np.isnan(after.ndcg[added]).all() and (after.length[added] == 5).all()
    frame = more.user_frame()
    assert list(frame["user_id"]) == list(more.users)
    assert set(frame["history"]) <= {"new", "returning"}
    areas = world.users.set_index("user_id")["area"]
    assert list(frame["area"]) == list(areas.loc[more.users])


def test_known_lists_are_reused_for_the_users_they_cover(world) -> None:  # type: ignore[no-untyped-def]
    h = ranking_holdout(world, CFG, END)
    model = PopularityRecommender(segment_column="area").fit(h.train)
    whole, _ = h.recommend(model)
    part, _ = h.recommend(model, h.users[::2])
    again, lost = h.lists_of(model, part)
    assert lost == 0
    assert np.array_equal(again.users, whole.users) and np.array_equal(again.items, whole.items)
