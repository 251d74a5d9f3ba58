"""A recommender's window judged against its reference (`monitor_ranking`), on the
restaurants example's world: quiet for the lists the reference was built from, breached
when the lists collapse, miss or stop matching what users choose."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from opsloop.config import MonitorConfig, PerformanceConfig, RankingConfig
from opsloop.core.summaries import MonitorSummary
from opsloop.examples.restaurants import generate
from opsloop.monitor.ranking.reference import RankingReference, ranking_reference
from opsloop.monitor.ranking.window import RankingReport, RankingWindow, monitor_ranking
from opsloop.ranking.data import RankingData, TopK
from opsloop.ranking.popularity import PopularityRecommender

K = 10
RANKING = RankingConfig(
    user_column="user_id",
    item_column="restaurant_id",
    rating_column="rating",
    min_rating=3,
    k=K,
)
MONITOR = MonitorConfig(
    performance=PerformanceConfig(metric="ndcg_at_k", floor=0.03, min_labels=100)
)


class World:
    """3,000 users × 300 restaurants over 120 days, a per-area popularity model fitted at
    day 92. Nothing changes between the reference and the window: both are the 14 days
    from day 92, the reference the visits of half the users (and the model's lists for
    them), the window the other half's visits, with the lists the same model made for
    every user at day 92 (the nightly output, served since before the window)."""

    def __init__(self, seed: int = 4) -> None:
        data = generate(users=3000, restaurants=300, days=120, seed=seed)
        v = data.visits
        start = pd.Timestamp(date(2025, 1, 1), tz="UTC")
        self.window_start = start + pd.Timedelta(days=92)
        self.window_end = self.window_start + pd.Timedelta(days=14)
        t = v["visited_at"]
        self.users, self.items = data.users, data.restaurants
        self.history = v[t < self.window_start]
        train = self.data(self.history)
        self.model = PopularityRecommender(segment_column="area").fit(train)
        period = v[(t >= self.window_start) & (t < self.window_end)]
        half = period["user_id"].str[1:].astype(int) % 2 == 0  # u000042: even ids
        evaluation = period[half]
        self.reference = ranking_reference(
            train,
            self.model.recommend(train, np.unique(evaluation["user_id"]), K),
            k=K,
            visits=evaluation,
        )
        self.top = self.model.recommend(train, self.users["user_id"].to_numpy(), K)
        self.visits = period[~half]

    def data(self, visits: pd.DataFrame) -> RankingData:
        return RankingData(
            visits, self.users, self.items, "user_id", "restaurant_id", "visited_at", "rating"
        )

    def window(self, top: TopK | None = None, keep: float = 1.0) -> RankingWindow:
        top = top or self.top
        rows = lists_rows(top, keep)
        return RankingWindow(
            start=self.window_start.to_pydatetime(),
            end=self.window_end.to_pydatetime(),
            lists=rows,
            visits=pd.DataFrame(
                {
                    "prediction_id": self.visits["user_id"].astype(str),
                    "label": self.visits["restaurant_id"].astype(str),
                    "label_ts": self.visits["visited_at"],
                    "rating": self.visits["rating"].astype(float),
                }
            ),
            users=self.users,
            items=self.items,
            history=self.history,
            list_time="event_ts",  # absent from the nightly output: served since before
            history_time="visited_at",
        )

    def judge(self, top: TopK | None = None, keep: float = 1.0) -> RankingReport:
        window = self.window(top, keep)
        return monitor_ranking(window, self.reference, monitor=MONITOR, ranking=RANKING)


def lists_rows(top: TopK, keep: float = 1.0) -> pd.DataFrame:
    """The nightly output (contract 3) of `top` for the first `keep` share of its users."""
    n = round(len(top.users) * keep)
    ids = top.item_ids()[:n]
    return pd.DataFrame(
        {
            "user_id": np.repeat(top.users[:n], top.k),
            "rank": np.tile(np.arange(1, top.k + 1, dtype=np.int16), n),
            "restaurant_id": ids.ravel(),
            "score": top.scores[:n].ravel(),
            "model": "restaurants",
            "version": "1",
            "run_id": "nightly-1",
        }
    ).dropna(subset=["restaurant_id"])


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def test_the_lists_the_reference_was_made_from_breach_nothing(world: World) -> None:
    report = world.judge()
    assert report.breaches == [], report.to_dict()["ranking"]
    assert not report.drift_detected and not report.performance_degraded
    assert report.n_visits == len(world.visits) and report.n_lists == len(world.top.users)
    assert report.realised.n_lists >= 100 and report.performance_value is not None
    assert report.performance_value > 0.03
    listed = world.top.item_ids()
    expected = len(pd.unique(listed[listed != None])) / len(world.items)  # noqa: E711
    assert report.coverage.value == pytest.approx(expected)
    assert report.fallback.share == 0.0  # every user had a list
    assert {s.name for s in report.scores} == {"score", "score@1", "score@2-5", "score@6-10"}


def test_the_summary_reads_as_a_monitor_summary(world: World) -> None:
    summary = world.judge().to_dict()
    parsed = MonitorSummary.parse(summary)
    assert parsed.performance_metric == "ndcg_at_k"
    assert parsed.drift is not None and parsed.drift.prediction is not None
    assert {f.name for f in parsed.features} >= {"user.area", "item.cuisine", "item.price_level"}
    ranking = summary["ranking"]
    assert set(ranking) >= {"popularity", "recommended", "coverage", "fallback", "realised"}


def test_collapsed_lists_breach_coverage_and_fire_drift(world: World) -> None:
    """Every user gets the same ten restaurants."""
    same = np.tile(world.top.items[:1], (len(world.top.users), 1))
    top = TopK(world.top.users, same, world.top.scores, world.top.catalogue)
    report = world.judge(top)
    assert report.coverage.breach and report.coverage.value == pytest.approx(K / len(world.items))
    assert "coverage" in report.breaches and report.drift_detected


def test_lists_that_miss_what_users_choose_degrade_performance(world: World) -> None:
    """Each user's list: the least visited restaurants."""
    counts = world.history["restaurant_id"].value_counts()
    rare = [r for r in world.items["restaurant_id"] if r not in counts.index][:K]
    rare += list(counts.index[::-1][: K - len(rare)])
    positions = pd.Index(world.top.catalogue).get_indexer(rare)
    items = np.tile(positions, (len(world.top.users), 1))
    top = TopK(world.top.users, items, world.top.scores, world.top.catalogue)
    report = world.judge(top)
    assert report.performance_value is not None and report.performance_value < 0.03
    assert report.performance_degraded and "realised:ndcg_at_k" in report.breaches


def test_users_without_lists_breach_the_fallback_share(world: World) -> None:
    report = world.judge(keep=0.5)
    assert report.fallback.breach and report.fallback.share is not None
    assert 0.3 < report.fallback.share < 0.7  # users listed in no particular order
    assert "fallback_share" in report.breaches
    assert report.fallback.unserved_users == report.fallback.fallback_users  # no fallback list


def test_missing_list_columns_are_a_clear_error(world: World) -> None:
    from opsloop.errors import InvalidInputError

    window = world.window()
    broken = RankingWindow(**{**window.__dict__, "lists": window.lists.drop(columns="rank")})
    with pytest.raises(InvalidInputError, match="lack columns"):
        monitor_ranking(broken, world.reference, monitor=MONITOR, ranking=RANKING)


def test_the_reference_survives_json(world: World) -> None:
    back = RankingReference.from_json(world.reference.to_json())
    a = monitor_ranking(world.window(), back, monitor=MONITOR, ranking=RANKING)
    assert a.to_dict() == world.judge().to_dict()
