"""A small seeded synthetic restaurant world for the recommender tests and benchmark.

Users live in an area, have a favourite and a second cuisine and a price level they like;
restaurants have a cuisine, an area, a price level, a quality and a skewed (log-normal)
base popularity; a few open during the period (cold-start items). A visit picks a
restaurant with probability ∝ exp(taste + area + price fit + quality) × popularity, so a
model that learns taste and area should beat popularity, and popularity is not useless.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from opsloop.ranking.data import RankingData

START = pd.Timestamp("2026-01-01")


def synthetic_world(
    n_users: int = 2_000,
    n_items: int = 300,
    *,
    days: int = 120,
    visits_per_user: float = 30.0,
    n_areas: int = 8,
    n_cuisines: int = 10,
    new_share: float = 0.05,
    seed: int = 0,
    chunk: int = 2_000,
) -> RankingData:
    rng = np.random.default_rng(seed)
    end = START + pd.Timedelta(days=days)
    user_area = rng.integers(0, n_areas, n_users)
    favourite = rng.integers(0, n_cuisines, n_users)
    second = (favourite + rng.integers(1, n_cuisines, n_users)) % n_cuisines
    user_price = rng.integers(1, 5, n_users)
    users = pd.DataFrame(
        {
            "user_id": np.arange(n_users),
            "area": [f"area{a}" for a in user_area],
            "price_sensitivity": (5 - user_price) / 4 + rng.normal(0, 0.1, n_users),
            "signup_date": START - pd.to_timedelta(rng.integers(0, 700, n_users), unit="D"),
        }
    )
    cuisine = rng.integers(0, n_cuisines, n_items)
    item_area = rng.integers(0, n_areas, n_items)
    price = rng.integers(1, 5, n_items)
    quality = rng.normal(0, 1, n_items)
    base = rng.lognormal(0, 1.0, n_items)
    opened_day = np.where(
        rng.random(n_items) < new_share,
        rng.integers(days // 2, days, n_items),
        -rng.integers(30, 2000, n_items),
    )
    items = pd.DataFrame(
        {
            "item_id": np.arange(n_items) + 10_000,
            "cuisine": [f"cuisine{c}" for c in cuisine],
            "area": [f"area{a}" for a in item_area],
            "price_level": price,
            "rating": np.clip(np.round(3.5 + quality * 0.6, 1), 1, 5),
            "opening_date": START + pd.to_timedelta(opened_day, unit="D"),
        }
    )
    n_visits = rng.poisson(visits_per_user * rng.lognormal(0, 0.6, n_users) / 1.2)
    rows_user, rows_item = [], []
    for lo in range(0, n_users, chunk):
        hi = min(lo + chunk, n_users)
        taste = 2.0 * (cuisine[None, :] == favourite[lo:hi, None]) + 1.0 * (
            cuisine[None, :] == second[lo:hi, None]
        )
        near = 1.8 * (item_area[None, :] == user_area[lo:hi, None])
        fit = -0.6 * np.abs(price[None, :] - user_price[lo:hi, None])
        weight = np.exp(taste + near + fit + 0.5 * quality[None, :]) * base[None, :]
        cum = np.cumsum(weight / weight.sum(axis=1, keepdims=True), axis=1)
        cum[:, -1] = 1.0
        count = n_visits[lo:hi]
        owner = np.repeat(np.arange(hi - lo), count)
        flat = (cum + np.arange(hi - lo)[:, None]).ravel()
        pick = np.searchsorted(flat, owner + rng.random(len(owner))) - owner * n_items
        rows_user.append(owner + lo)
        rows_item.append(np.minimum(pick, n_items - 1))
    user = np.concatenate(rows_user)
    item = np.concatenate(rows_item)
    day = rng.random(len(user)) * days
    opened = np.maximum(opened_day[item], 0)
    day = np.where(opened_day[item] > 0, opened + (day / days) * (days - opened), day)
    taste_hit = (cuisine[item] == favourite[user]) | (cuisine[item] == second[user])
    rating = np.clip(
        np.round(3 + taste_hit + 0.5 * quality[item] + rng.normal(0, 0.7, len(user))), 1, 5
    )
    visits = pd.DataFrame(
        {
            "user_id": user,
            "item_id": item + 10_000,
            "visited_at": START + pd.to_timedelta(day * 86_400, unit="s"),
            "rating": rating,
        }
    ).sort_values("visited_at", kind="stable", ignore_index=True)
    assert visits["visited_at"].max() < end
    return RankingData(
        interactions=visits,
        users=users,
        items=items,
        user_column="user_id",
        item_column="item_id",
        time_column="visited_at",
        rating_column="rating",
    )


def restaurant_two_stage(**overrides: object):  # type: ignore[no-untyped-def]
    """The two-stage recommender wired to the synthetic world's columns."""
    from opsloop.ranking.models import TwoStageRecommender

    params: dict[str, object] = {
        "area_column": "area",
        "category_column": "cuisine",
        "item_date_column": "opening_date",
        "n_threads": 1,  # OpenMP on a loaded 2-core machine: one thread is far faster
    }
    params.update(overrides)
    return TwoStageRecommender(**params)  # type: ignore[arg-type]
