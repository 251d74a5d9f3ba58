"""The restaurants example's data has the properties a recommender's loop relies on:
realistic sparsity and popularity skew, choices driven by area, taste and price (so
features can beat popularity), event times in a fixed span, determinism, slices of time,
and each switchable change visible in the data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from opsloop.examples.restaurants import (
    AREAS,
    CUISINES,
    RestaurantsData,
    Scenario,
    arriving,
    from_scenario,
    generate,
)

SIZE = {"users": 4000, "restaurants": 1000, "seed": 3}
CHANGE = date(2025, 5, 1)  # day 120 of the default span


@pytest.fixture(scope="module")
def base() -> RestaurantsData:
    return generate(**SIZE)


@pytest.fixture(scope="module")
def changed() -> RestaurantsData:
    return generate(**SIZE, changes={"trend", "openings", "moves"}, change_at=CHANGE)


@pytest.fixture(scope="module")
def unchanged_at() -> RestaurantsData:
    """No change switched on, the same change date (for before/after comparisons)."""
    return from_scenario(Scenario(**SIZE, change_at=CHANGE))


def test_tables_columns_and_sizes(base: RestaurantsData) -> None:
    users, restaurants, visits = base.users, base.restaurants, base.visits
    assert list(users.columns) == [
        "user_id", "area", "price_sensitivity", "favourite_cuisine", "second_cuisine",
        "signup_date",
    ]  # fmt: skip
    assert list(restaurants.columns) == [
        "restaurant_id", "cuisine", "price_level", "area", "rating", "opening_date",
    ]  # fmt: skip
    assert list(visits.columns) == ["user_id", "restaurant_id", "visited_at", "rating"]
    assert len(users) == 4000 and users["user_id"].is_unique
    assert len(restaurants) == 1000 and restaurants["restaurant_id"].is_unique
    assert set(users["area"]) == set(AREAS) and set(restaurants["area"]) == set(AREAS)
    assert set(restaurants["cuisine"]) <= set(CUISINES)
    assert set(restaurants["price_level"]) == {1, 2, 3, 4}
    assert restaurants["rating"].between(1, 5).all()
    assert users["price_sensitivity"].between(0, 1).all()
    assert (users["favourite_cuisine"] != users["second_cuisine"]).mean() > 0.8
    assert set(visits["rating"]) == {1, 2, 3, 4, 5} and 3.3 < visits["rating"].mean() < 4.5
    assert visits["user_id"].isin(users["user_id"]).all()
    assert visits["restaurant_id"].isin(restaurants["restaurant_id"]).all()


def test_event_time_is_a_fixed_historical_span_not_now(base: RestaurantsData) -> None:
    times = base.visits["visited_at"]
    assert str(times.dt.tz) == "UTC" and times.is_monotonic_increasing
    assert times.min() >= pd.Timestamp("2025-01-01", tz="UTC")
    assert times.max() < pd.Timestamp("2025-06-30", tz="UTC")  # 180 days
    assert times.max() > pd.Timestamp("2025-06-28", tz="UTC")
    hours = times.dt.hour
    assert hours.between(12, 14).mean() + hours.between(18, 21).mean() == pytest.approx(1.0)
    other = generate(users=300, restaurants=40, start=date(2024, 3, 1), days=10)
    assert other.visits["visited_at"].min() >= pd.Timestamp("2024-03-01", tz="UTC")
    assert other.visits["visited_at"].max() < pd.Timestamp("2024-03-11", tz="UTC")


def test_nobody_visits_before_signing_up_or_a_restaurant_before_it_opens(
    changed: RestaurantsData,
) -> None:
    v = changed.visits.merge(changed.users[["user_id", "signup_date"]], on="user_id")
    v = v.merge(changed.restaurants[["restaurant_id", "opening_date"]], on="restaurant_id")
    assert (v["visited_at"] >= v["signup_date"]).all()
    assert (v["visited_at"] >= v["opening_date"]).all()
    signed_up_late = changed.users["signup_date"] >= pd.Timestamp("2025-01-01", tz="UTC")
    assert 0.2 < signed_up_late.mean() < 0.4  # new users arrive during the span


def test_sparsity_most_users_a_handful_of_visits_with_a_heavy_tail(base: RestaurantsData) -> None:
    per_user = base.visits["user_id"].value_counts()
    assert per_user.median() <= 5
    assert per_user.max() >= 8 * per_user.median()
    assert 0.01 < (per_user >= 20).mean() < 0.15
    assert len(per_user) > 0.7 * len(base.users)  # most users visit at least once
    density = len(base.visits) / (len(base.users) * len(base.restaurants))
    assert density < 0.02


def test_popularity_skew(base: RestaurantsData) -> None:
    per_restaurant = base.visits["restaurant_id"].value_counts()
    top = per_restaurant.head(len(base.restaurants) // 10).sum()
    assert top / len(base.visits) > 0.35  # the top 10% of restaurants
    share_visited = len(per_restaurant) / len(base.restaurants)
    assert share_visited > 0.8  # a long tail, not a handful of places


def test_choices_follow_area_taste_and_price(base: RestaurantsData) -> None:
    v = (
        base.visits.rename(columns={"rating": "stars"})
        .merge(base.users, on="user_id")
        .merge(base.restaurants, on="restaurant_id", suffixes=("_user", ""))
    )
    assert (v["area_user"] == v["area"]).mean() > 0.5  # mostly their own area
    favourite = (v["favourite_cuisine"] == v["cuisine"]).mean()
    base_share = (
        base.restaurants["cuisine"].value_counts(normalize=True).reindex(v["favourite_cuisine"])
    ).mean()
    assert favourite > 2.5 * base_share
    sensitive = v["price_sensitivity"] > 0.7
    relaxed = v["price_sensitivity"] < 0.3
    assert v.loc[sensitive, "price_level"].mean() < v.loc[relaxed, "price_level"].mean() - 0.3
    liked = v.groupby(v["favourite_cuisine"] == v["cuisine"])["stars"].mean()
    assert liked[True] > liked[False] + 0.2  # a favourite cuisine is rated higher


def test_features_can_beat_popularity_and_popularity_beats_chance(base: RestaurantsData) -> None:
    """Hit rate@10 per visit of the last 30 days, from the visits before: a list from the
    user's area and stated cuisine beats the most popular of the user's area, which beats
    the global top 10, which beats a random 10 by far (no baseline is a straw man)."""
    cutoff = pd.Timestamp("2025-05-31", tz="UTC")
    before = base.visits[base.visits["visited_at"] < cutoff]
    after = base.visits[base.visits["visited_at"] >= cutoff]
    items = base.restaurants.reset_index(drop=True)
    position = pd.Series(np.arange(len(items)), index=items["restaurant_id"])
    popularity = np.log1p(np.bincount(position[before["restaurant_id"]], minlength=len(items)))
    users = base.users.set_index("user_id").loc[after["user_id"].unique()]
    visitor = pd.Series(np.arange(len(users)), index=users.index)[after["user_id"]].to_numpy()
    visited = position[after["restaurant_id"]].to_numpy()
    near = users["area"].to_numpy()[:, None] == items["area"].to_numpy()[None, :]
    liked = users["favourite_cuisine"].to_numpy()[:, None] == items["cuisine"].to_numpy()

    def hit_rate(score: np.ndarray) -> float:
        top = np.argsort(-np.broadcast_to(score, near.shape), axis=1, kind="stable")[:, :10]
        return float((top[visitor] == visited[:, None]).any(axis=1).mean())

    rng = np.random.default_rng(0)
    rates = [
        hit_rate(popularity + 3.0 * near + 2.0 * liked),
        hit_rate(popularity + 10.0 * near),
        hit_rate(popularity[None, :]),
        hit_rate(rng.random(near.shape)),
    ]
    assert rates[0] > 1.1 * rates[1] and rates[1] > 1.5 * rates[2], rates
    assert rates[2] > 5 * rates[3], rates


def test_deterministic_by_seed() -> None:
    a = generate(users=500, restaurants=60, seed=11, days=30)
    b = generate(users=500, restaurants=60, seed=11, days=30)
    c = generate(users=500, restaurants=60, seed=12, days=30)
    for name in ("users", "restaurants", "visits"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert not a.visits.equals(c.visits) and not a.users.equals(c.users)


def test_slices_of_time_are_the_same_visits(unchanged_at: RestaurantsData) -> None:
    world, whole = unchanged_at.world, unchanged_at.visits
    t0 = datetime(2025, 3, 1, 13, 30, tzinfo=UTC)
    t1, t2 = t0 + timedelta(days=5, hours=7), t0 + timedelta(days=12)
    first, second = arriving(world, t0, t1), arriving(world, t1, t2)
    expected = whole[(whole["visited_at"] >= t0) & (whole["visited_at"] < t2)]
    pd.testing.assert_frame_equal(
        pd.concat([first, second], ignore_index=True), expected.reset_index(drop=True)
    )
    after = arriving(world, unchanged_at.scenario.end, unchanged_at.scenario.end + timedelta(7))
    assert len(after) > 0.02 * len(whole)  # the week after the span: the demo's arrivals
    assert after["visited_at"].min() >= pd.Timestamp("2025-06-30", tz="UTC")
    with pytest.raises(ValueError, match="timezone-aware"):
        arriving(world, datetime(2025, 3, 1), datetime(2025, 3, 2))


def test_the_days_before_a_change_do_not_change(
    changed: RestaurantsData, unchanged_at: RestaurantsData
) -> None:
    cut = pd.Timestamp(CHANGE, tz="UTC")
    early = [d.visits[d.visits["visited_at"] < cut].reset_index(drop=True)
             for d in (changed, unchanged_at)]  # fmt: skip
    pd.testing.assert_frame_equal(*early)
    pd.testing.assert_frame_equal(changed.users, unchanged_at.users)
    pd.testing.assert_frame_equal(
        changed.restaurants.head(len(unchanged_at.restaurants)), unchanged_at.restaurants
    )


def _cuisine_share(data: RestaurantsData, cuisine: str, lo: str, hi: str) -> float:
    v = data.visits.merge(data.restaurants[["restaurant_id", "cuisine"]], on="restaurant_id")
    span = v["visited_at"].between(pd.Timestamp(lo, tz="UTC"), pd.Timestamp(hi, tz="UTC"))
    return float((v.loc[span, "cuisine"] == cuisine).mean())


def test_trend_a_cuisines_appeal_rises(
    changed: RestaurantsData, unchanged_at: RestaurantsData
) -> None:
    for data, low, high in ((changed, 2.0, 99.0), (unchanged_at, 0.7, 1.4)):
        before = _cuisine_share(data, "korean", "2025-04-01", "2025-05-01")
        after = _cuisine_share(data, "korean", "2025-05-29", "2025-06-29")
        assert low < after / before < high, (after, before)


def test_openings_new_restaurants_are_cold_start_items(
    changed: RestaurantsData, unchanged_at: RestaurantsData
) -> None:
    cut = pd.Timestamp(CHANGE, tz="UTC")
    shares = []
    for data in (changed, unchanged_at):
        new = data.restaurants.loc[data.restaurants["opening_date"] >= cut, "restaurant_id"]
        late = data.visits[data.visits["visited_at"] >= cut]
        shares.append((len(new), late["restaurant_id"].isin(new).mean()))
    (n_new, share_new), (n_base, share_base) = shares
    assert n_new == n_base + 80 and len(changed.restaurants) == 1000 + 80
    assert share_new > 0.03 and share_new > 3 * share_base, shares


def test_moves_an_areas_users_eat_elsewhere(
    changed: RestaurantsData, unchanged_at: RestaurantsData
) -> None:
    for data, low, high in ((changed, 0.3, 1.0), (unchanged_at, 0.0, 0.05)):
        v = data.visits.merge(data.users[["user_id", "area"]], on="user_id").merge(
            data.restaurants[["restaurant_id", "area"]], on="restaurant_id", suffixes=("", "_r")
        )
        harbour = v[v["area"] == "harbour"]
        late = harbour[harbour["visited_at"] >= pd.Timestamp("2025-05-15", tz="UTC")]
        early = harbour[harbour["visited_at"] < pd.Timestamp(CHANGE, tz="UTC")]
        assert (early["area_r"] == "eastgate").mean() < 0.05
        assert low <= (late["area_r"] == "eastgate").mean() <= high
    # the users table keeps the area they signed up with (the same table as without moves)
    pd.testing.assert_frame_equal(changed.users, unchanged_at.users)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"changes": frozenset({"flood"})}, "unknown changes"),
        ({"users": 0}, "users must be >= 1"),
        ({"restaurants": 5}, "restaurants must be >= 12"),
        ({"change_at": date(2024, 12, 31)}, "change_at must not be before start"),
        ({"moves_to": "harbour"}, "must differ"),
        ({"trend_cuisine": "martian"}, "trend_cuisine"),
    ],
)
def test_scenario_refuses_bad_knobs(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        Scenario(**kwargs)


def test_write_round_trips(tmp_path: Path) -> None:
    data = generate(users=200, restaurants=30, days=14, seed=1)
    written = data.write(tmp_path / "data")
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [
        "restaurants.parquet", "users.parquet", "visits.parquet",
    ]  # fmt: skip
    pd.testing.assert_frame_equal(pd.read_parquet(written.visits), data.visits)
    pd.testing.assert_frame_equal(pd.read_parquet(written.users), data.users)
    pd.testing.assert_frame_equal(pd.read_parquet(written.restaurants), data.restaurants)


def test_the_templates_load_returns_the_tables_as_known_at_the_windows_end(
    tmp_path: Path,
) -> None:
    import importlib.util

    from opsloop.data.window import Window
    from opsloop.ranking.data import RankingData
    from opsloop.scaffold import init_project

    root = init_project(tmp_path / "p", example="restaurants", users=800, restaurants=80)
    spec = importlib.util.spec_from_file_location("restaurants_user_model", root / "model.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    start, end = datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC)
    data = module.load(Window(start, end))
    assert isinstance(data, RankingData)
    assert (data.user_column, data.item_column, data.time_column, data.rating_column) == (
        "user_id", "restaurant_id", "visited_at", "rating",
    )  # fmt: skip
    times = data.interactions["visited_at"]
    assert len(times) > 0 and times.min() >= start and times.max() < end
    assert times.is_monotonic_increasing
    everyone = pd.read_parquet(root / "data" / "users.parquet")
    assert (data.users["signup_date"] < end).all() and len(data.users) < len(everyone)
    assert (data.items["opening_date"] < end).all()
    assert data.interactions["user_id"].isin(data.users["user_id"]).all()


def test_a_change_at_the_spans_end_shows_only_in_the_visits_that_arrive_later(
    base: RestaurantsData,
) -> None:
    """The demo's story: an unchanged history, then weeks of visits with a new trend."""
    end = date(2025, 6, 30)
    data = generate(**SIZE, changes={"trend", "openings"}, change_at=end)
    pd.testing.assert_frame_equal(data.visits, base.visits)
    new = data.restaurants[data.restaurants["opening_date"] >= pd.Timestamp(end, tz="UTC")]
    assert len(new) == 80 and new["opening_date"].max() < pd.Timestamp("2025-07-28", tz="UTC")
    t0 = data.scenario.end
    later = [arriving(d.world, t0 + timedelta(days=21), t0 + timedelta(days=35))
             for d in (data, base)]  # fmt: skip
    cuisine = data.restaurants.set_index("restaurant_id")["cuisine"]
    shares = [(cuisine[v["restaurant_id"]] == "korean").mean() for v in later]
    assert shares[0] > 2.5 * shares[1], shares
    assert later[0]["restaurant_id"].isin(new["restaurant_id"]).mean() > 0.03
