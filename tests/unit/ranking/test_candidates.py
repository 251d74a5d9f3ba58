"""`max_candidates`: the most candidates per user the two-stage recommender's second stage
ranks and is fitted on (`ranking._candidates.limit`; opsloop sets it from
`ranking.candidates`)."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from opsloop.errors import ConfigError
from opsloop.ranking._candidates import AREA, CATEGORY, COVISIT, GLOBAL, Candidates, limit
from opsloop.ranking.data import PAD, RankingData
from opsloop.ranking.models import TwoStageRecommender
from opsloop.ranking.split import time_split
from ranking_fixtures import START, restaurant_two_stage, synthetic_world

CUTOFF = START + pd.Timedelta(days=50)


class Counting(TwoStageRecommender):
    """The two-stage recommender, keeping how many candidates of each user its second
    stage scored in the last call."""

    def _score(self, ctx, positions, cand):  # type: ignore[no-untyped-def]
        self.scored_ = np.bincount(cand.row, minlength=len(positions))
        return super()._score(ctx, positions, cand)


@pytest.fixture(scope="module")
def train() -> RankingData:
    world = synthetic_world(800, 200, days=64, visits_per_user=14, seed=5)
    return time_split(world, CUTOFF, pd.Timedelta(days=14)).train


def _counting(**overrides: object) -> Counting:
    params: dict[str, object] = {
        "area_column": "area",
        "category_column": "cuisine",
        "item_date_column": "opening_date",
        "n_threads": 1,
        "max_iter": 20,
        "chunk_users": 10_000,
    }
    params.update(overrides)
    return Counting(**params)  # type: ignore[arg-type]


def test_limit_keeps_each_rows_best_placed_candidates_in_order() -> None:
    # row 0: five candidates, row 1: two (under the cap: untouched)
    cand = Candidates(
        row=np.array([0, 0, 0, 0, 0, 1, 1]),
        item=np.array([3, 5, 7, 8, 9, 1, 2]),
        sources=np.array([AREA, AREA | COVISIT, GLOBAL, CATEGORY, AREA, AREA, GLOBAL]),
        covisit=np.array([0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0]),
        place=np.array([4, 1, 0, 1, 1, 9, 0]),
    )
    kept = limit(cand, 3)
    # place 0 (item 7); of the three at place 1, item 5 (two sources), then the smaller item 8
    assert kept.row.tolist() == [0, 0, 0, 1, 1]
    assert kept.item.tolist() == [5, 7, 8, 1, 2]  # still sorted by row, then item
    assert kept.sources.tolist() == [AREA | COVISIT, GLOBAL, CATEGORY, AREA, GLOBAL]
    assert kept.covisit.tolist() == [0.5, 0.0, 0.0, 0.0, 0.0]
    assert limit(cand, None) is cand and limit(cand, 5) is cand


def test_a_cap_above_what_the_sources_give_changes_nothing(train: RankingData) -> None:
    users = train.users["user_id"].to_numpy()
    free = _counting().fit(train)
    most = free.settings_.most_candidates
    assert most == 30 + 5 + 2 * (15 + 10) + 20 + 20 + 20
    capped = _counting(max_candidates=most).fit(train)
    a, b = free.recommend(train, users, 10), capped.recommend(train, users, 10)
    assert np.array_equal(a.items, b.items) and np.array_equal(a.scores, b.scores)
    assert free.training_ == capped.training_
    assert int(free.scored_.max()) < most  # overlaps: fewer than the sum of the sources


def test_the_cap_bounds_what_the_second_stage_ranks_and_fits_on(train: RankingData) -> None:
    users = train.users["user_id"].to_numpy()
    free = _counting().fit(train)
    top_free = free.recommend(train, users, 10)
    capped = _counting(max_candidates=25).fit(train)
    top = capped.recommend(train, users, 10)
    assert capped.settings_.max_candidates == 25
    assert int(capped.scored_.max()) == 25  # binding: many users had more
    assert (capped.scored_ == 25).mean() > 0.5 and int(free.scored_.max()) > 25
    assert (top.items != PAD).all()  # 25 candidates still fill a list of 10
    assert not np.array_equal(top.items, top_free.items)
    # fitted on the capped candidates too: fewer candidate rows held a positive
    assert capped.training_.candidate_recall < free.training_.candidate_recall
    assert capped.training_.rows < free.training_.rows
    # a user's capped candidates depend on that user only: halves give the same lists
    halves = [capped.recommend(train, part, 10) for part in (users[:300], users[300:])]
    assert np.array_equal(np.concatenate([h.items for h in halves]), top.items)
    assert np.array_equal(np.concatenate([h.scores for h in halves]), top.scores)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "100"])
def test_a_cap_that_is_not_a_positive_integer_is_refused(train: RankingData, bad: object) -> None:
    with pytest.raises(ConfigError, match=r"max_candidates parameter .* positive integer"):
        restaurant_two_stage(max_candidates=bad).fit(train)


def test_a_model_pickled_before_the_cap_existed_loads_uncapped(train: RankingData) -> None:
    model = restaurant_two_stage(max_iter=5).fit(train)
    users = train.users["user_id"].to_numpy()[:100]
    before = model.recommend(train, users, 10)
    # as pickled by an opsloop without `max_candidates`: neither attribute in the state
    del model.__dict__["max_candidates"]
    object.__delattr__(model.settings_, "max_candidates")
    restored = pickle.loads(pickle.dumps(model))
    assert restored.settings_.max_candidates is None
    after = restored.recommend(train, users, 10)
    assert np.array_equal(before.items, after.items)
    assert np.array_equal(before.scores, after.scores)
