"""Which list each visit had been served (by event time), the fallback share and the
realised metrics: hand-computed on tiny frames, and equal to `opsloop.ranking.metrics` on
the same lists and visits."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from opsloop.monitor.ranking.frames import normalise_history, normalise_lists, normalise_visits
from opsloop.monitor.ranking.served import (
    fallback_share,
    join_visits,
    list_table,
    realised_metrics,
)
from opsloop.ranking.data import TopK
from opsloop.ranking.metrics import ranking_metrics
from opsloop.ranking.relevance import relevant_from_interactions

T0 = datetime(2025, 6, 1, tzinfo=UTC)
H = timedelta(hours=1)


def lists_frame(rows: list[tuple[str | None, str, datetime, list[str]]]) -> pd.DataFrame:
    """Contract-4 rows: (user or None for the fallback, run, time, items best first)."""
    out = []
    for user, run, time, items in rows:
        for rank, item in enumerate(items, start=1):
            out.append(
                {
                    "prediction_id": user,
                    "user_id": user,
                    "rank": rank,
                    "item_id": item,
                    "score": 1.0 / rank,
                    "run_id": run,
                    "event_ts": time,
                }
            )
    return pd.DataFrame(out)


def visits_frame(rows: list[tuple[str, str, datetime, float]]) -> pd.DataFrame:
    """Contract-5 rows: (user, item, time, rating)."""
    return pd.DataFrame(rows, columns=["prediction_id", "label", "label_ts", "rating"])


LISTS = lists_frame(
    [
        ("a", "r1", T0, ["i1", "i2", "i3"]),
        ("b", "r1", T0, ["i2", "i4", "i5"]),
        (None, "r1", T0, ["i1", "i2", "i9"]),  # the fallback list
        ("a", "r2", T0 + 12 * H, ["i3", "i1", "i2"]),
    ]
)
VISITS = visits_frame(
    [
        ("a", "i2", T0 + H, 5.0),  # a's r1 list: i2 at rank 2
        ("a", "i3", T0 + 13 * H, 4.0),  # a's r2 list: i3 at rank 1
        ("b", "i9", T0 + 2 * H, 5.0),  # b's list lacks i9
        ("c", "i1", T0 + 3 * H, 2.0),  # no list of c's own: the fallback; rated below 3
        ("d", "i9", T0 - H, 5.0),  # before any list: served nothing
    ]
)


def joined(lists: pd.DataFrame = LISTS, visits: pd.DataFrame = VISITS):
    rows = normalise_lists(lists, "user_id", "item_id", "event_ts")
    table = list_table(rows, T0, T0 + 24 * H)
    return rows, join_visits(normalise_visits(visits), table)


def test_each_visit_gets_the_newest_list_before_it() -> None:
    _, j = joined()
    v = j.visits.sort_values(["user", "time"]).reset_index(drop=True)
    lists = j.lists.set_index("list")
    got = [
        (u, None if n < 0 else lists.loc[n, "user"], None if n < 0 else lists.loc[n, "time"])
        for u, n in zip(v["user"], v["list"], strict=True)
    ]
    assert got[0][1:] == ("a", pd.Timestamp(T0))
    assert got[1][1:] == ("a", pd.Timestamp(T0 + 12 * H))
    assert got[2][1:] == ("b", pd.Timestamp(T0))
    assert got[3][1] is None or pd.isna(got[3][1])  # c: the fallback list (no user)
    assert got[4] == ("d", None, None)  # d: nothing
    assert v["own"].tolist() == [True, True, True, False, False]
    assert v["fallback"].tolist() == [False, False, False, True, False]
    assert j.lists["served"].all()  # all four lists were served in [T0, T0 + 24 h)


def test_a_list_replaced_before_the_window_was_not_served_in_it() -> None:
    rows = normalise_lists(LISTS, "user_id", "item_id", "event_ts")
    table = list_table(rows, T0 + 13 * H, T0 + 24 * H).set_index(["user", "time"])
    assert not table.loc[("a", pd.Timestamp(T0)), "served"]  # replaced at T0 + 12 h
    assert table.loc[("a", pd.Timestamp(T0 + 12 * H)), "served"]
    assert table.loc[("b", pd.Timestamp(T0)), "served"]


def test_fallback_share_counts_users_without_their_own_list() -> None:
    _, j = joined()
    f = fallback_share(j, threshold=0.4, min_users=1)
    assert (f.users, f.fallback_users, f.unserved_users) == (4, 2, 1)
    assert f.share == 0.5 and f.breach and f.judged
    quiet = fallback_share(j, threshold=0.5, min_users=1)
    assert not quiet.breach  # 0.5 is not above 0.5
    small = fallback_share(j, threshold=0.4, min_users=5)
    assert not small.judged and not small.breach


def test_realised_metrics_by_hand() -> None:
    rows, j = joined()
    r = realised_metrics(j, rows, k=3, min_rating=3, graded=False, exclude_seen=False)
    ndcg_a1 = (1 / math.log2(3)) / 1.0  # i2 at rank 2, one relevant item
    assert r.n_lists == 3 and r.own_lists == 3  # a/r1, a/r2, b/r1 (c's visit rated 2)
    assert r.metrics["ndcg_at_k"] == pytest.approx((ndcg_a1 + 1.0 + 0.0) / 3)
    assert r.metrics["precision_at_k"] == pytest.approx((1 / 3 + 1 / 3 + 0) / 3)
    assert r.metrics["recall_at_k"] == pytest.approx((1 + 1 + 0) / 3)
    assert r.metrics["map_at_k"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert r.fallback == {}  # the fallback list had no relevant visit
    assert (r.below_rating, r.seen, r.unserved) == (1, 0, 1)


def test_graded_relevance_and_the_fallback_lists_own_metrics() -> None:
    rows, j = joined()
    r = realised_metrics(j, rows, k=3, min_rating=None, graded=True, exclude_seen=False)
    # c's visit (rating 2) now counts, against the fallback list: i1 at rank 1
    assert r.fallback == {
        "ndcg_at_k": 1.0,
        "precision_at_k": pytest.approx(1 / 3),
        "recall_at_k": 1.0,
        "map_at_k": 1.0,
    }
    assert r.n_lists == 4 and r.own_lists == 3


def test_exclude_seen_drops_visits_to_items_seen_before_the_list() -> None:
    history = pd.DataFrame(
        {"user_id": ["a"], "item_id": ["i3"], "visited_at": [T0 - 24 * H]}
    )  # a had been to i3 before both of a's lists
    rows, j = joined()
    past = normalise_history(history, "user_id", "item_id", "visited_at")
    r = realised_metrics(j, rows, k=3, min_rating=3, graded=False, exclude_seen=True, history=past)
    assert r.seen == 1 and r.n_lists == 2  # a/r2 loses its only relevant visit
    assert r.metrics["ndcg_at_k"] == pytest.approx(((1 / math.log2(3)) + 0.0) / 2)


def test_an_item_visited_in_the_window_before_the_list_began_is_seen() -> None:
    visits = visits_frame([("a", "i3", T0 + H, 5.0), ("a", "i3", T0 + 13 * H, 5.0)])
    rows, j = joined(visits=visits)
    r = realised_metrics(j, rows, k=3, min_rating=None, graded=False, exclude_seen=True)
    # the first visit (a's r1 list, i3 at rank 3) counts; the second follows a's r2 list,
    # made after a had been to i3
    assert r.seen == 1 and r.n_lists == 1
    assert r.metrics["ndcg_at_k"] == pytest.approx(1 / math.log2(4))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_realised_ndcg_equals_the_ranking_metrics_on_the_same_lists(seed: int) -> None:
    """One list per user, every visit after it: the monitor's join and relevance give
    what `ranking_metrics` gives on the lists and `relevant_from_interactions`."""
    rng = np.random.default_rng(seed)
    n_users, n_items, k = 60, 40, 5
    catalogue = np.asarray([f"i{j}" for j in range(n_items)])
    users = np.asarray([f"u{j}" for j in range(n_users)])
    items = np.stack([rng.choice(n_items, k, replace=False) for _ in range(n_users)])
    scores = np.sort(rng.random((n_users, k)), axis=1)[:, ::-1]
    top = TopK(users, items.astype(np.int64), scores, catalogue)
    lists = pd.DataFrame(
        {
            "user_id": np.repeat(users, k),
            "rank": np.tile(np.arange(1, k + 1), n_users),
            "item_id": catalogue[items.ravel()],
            "score": scores.ravel(),
            "run_id": "r1",
            "event_ts": T0,
        }
    )
    n = 300
    visits = pd.DataFrame(
        {
            "prediction_id": users[rng.integers(0, n_users, n)],
            "label": catalogue[rng.integers(0, n_items, n)],
            "label_ts": [T0 + timedelta(minutes=int(m)) for m in rng.integers(1, 1000, n)],
            "rating": rng.integers(1, 6, n).astype(float),
        }
    )
    rows, j = joined(lists, visits)
    r = realised_metrics(j, rows, k=k, min_rating=3, graded=True, exclude_seen=False)
    good = visits[visits["rating"] >= 3]
    visited = np.isin(users, good["prediction_id"])
    built = relevant_from_interactions(
        good,
        user_column="prediction_id",
        item_column="label",
        catalogue=catalogue,
        users=users[visited],
        gain_column="rating",
    )
    sub = TopK(users[visited], top.items[visited], top.scores[visited], catalogue)
    expected = ranking_metrics(sub, built.relevant, k=k)
    assert r.n_lists == expected.n_evaluated
    for name in ("ndcg_at_k", "precision_at_k", "recall_at_k", "map_at_k"):
        assert r.metrics[name] == pytest.approx(getattr(expected, name), rel=1e-12), name


def test_a_visit_without_a_rating_is_relevant_at_the_lowest_gain() -> None:
    visits = visits_frame(
        [("a", "i3", T0 + H, float("nan")), ("a", "i1", T0 + 2 * H, 5.0)]
    )  # a's r1 list: i1 at rank 1 (rated 5), i3 at rank 3 (unrated: gain 3)
    rows, j = joined(visits=visits)
    r = realised_metrics(j, rows, k=3, min_rating=3, graded=True, exclude_seen=False)
    dcg = 5.0 + 3.0 / math.log2(4)
    ideal = 5.0 + 3.0 / math.log2(3)
    assert (r.unrated, r.below_rating, r.n_lists) == (1, 0, 1)
    assert r.metrics["ndcg_at_k"] == pytest.approx(dcg / ideal)
    plain = realised_metrics(j, rows, k=3, min_rating=None, graded=False, exclude_seen=False)
    assert plain.metrics["ndcg_at_k"] == pytest.approx(
        (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    )
