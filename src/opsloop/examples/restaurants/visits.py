"""Visits drawn day by day from a `World`.

Each day has its own random stream (seed, day), so any slice of time — the whole span, or
"the visits of the next week" the demo lets arrive — gives the same visits as the same days
of any other slice, and the days before a change are the same with or without it.

A day: every user who has signed up visits Poisson(rate x weekday factor) times; each visit
picks a restaurant with probability proportional to

    exp(area affinity + taste for its cuisine + price fit) x popularity x opening buzz

sampled exactly and vectorised: first the (area, cuisine, price level) cell from the
user's log-weights times the cell's total open popularity (`_pick_cells`), then a
restaurant within the cell by its popularity (the same for every user: one cumulative sum
per day).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from math import ceil, floor

import numpy as np
import pandas as pd

from opsloop.examples.restaurants.world import (
    AREAS,
    CUISINES,
    PRICE_LEVELS,
    World,
    area_logits,
)

USER = "user_id"
ITEM = "restaurant_id"
TIME = "visited_at"
RATING = "rating"

WEEKDAY = (0.8, 0.9, 0.95, 1.0, 1.3, 1.35, 1.1)  # Monday .. Sunday
LUNCH = (12.0 * 3600, 14.5 * 3600)
DINNER = (18.5 * 3600, 22.0 * 3600)
DINNER_SHARE = 0.6
BUZZ = 2.0  # a new restaurant draws (1 + BUZZ) times its usual visits at first ...
BUZZ_DAYS = 30.0  # ... decaying with this time constant
CHUNK = 4096  # visits scored at once: bounds memory to CHUNK x cells floats
_DAY_STREAM = 1
_OFFSET = 1 << 20  # keeps (day + offset) non-negative for the seed sequence
_EXP_AREA = np.exp(area_logits())
_CELLS = len(AREAS) * len(CUISINES) * len(PRICE_LEVELS)


def visits_between(world: World, start: datetime, end: datetime) -> pd.DataFrame:
    """The visits with ``start <= visited_at < end`` (UTC-aware datetimes), sorted by time:
    columns ``user_id``, ``restaurant_id``, ``visited_at`` (UTC) and ``rating`` (1-5)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware datetimes (UTC)")
    begin = world.scenario.begin
    first = floor((start - begin) / timedelta(days=1))
    last = ceil((end - begin) / timedelta(days=1))
    parts = [_day(world, d) for d in range(first, max(first, last))]
    users = np.concatenate([p[0] for p in parts]) if parts else np.empty(0, np.int64)
    items = np.concatenate([p[1] for p in parts]) if parts else np.empty(0, np.int64)
    micros = np.concatenate([p[2] for p in parts]) if parts else np.empty(0, np.int64)
    ratings = np.concatenate([p[3] for p in parts]) if parts else np.empty(0, np.int64)
    lo = int(pd.Timestamp(start).value // 1000)
    hi = int(pd.Timestamp(end).value // 1000)
    keep = (micros >= lo) & (micros < hi)
    order = np.argsort(micros[keep], kind="stable")
    users, items, micros, ratings = (a[keep][order] for a in (users, items, micros, ratings))
    frame = pd.DataFrame(
        {
            USER: world.user_ids[users],
            ITEM: world.restaurant_ids[items],
            TIME: pd.DatetimeIndex(pd.to_datetime(micros, unit="us", utc=True)).as_unit("us"),
            RATING: ratings,
        }
    )
    frame[USER] = frame[USER].astype(str)
    frame[ITEM] = frame[ITEM].astype(str)
    return frame


def _day(world: World, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One day's visits: user positions, restaurant positions, times (µs since the epoch),
    ratings."""
    s = world.scenario
    rng = np.random.default_rng(np.random.SeedSequence([s.seed, _DAY_STREAM, d + _OFFSET]))
    midnight = s.begin + timedelta(days=d)
    counts = rng.poisson(world.rate * WEEKDAY[midnight.weekday()])
    counts[world.signup_day > d] = 0
    users = np.repeat(np.arange(len(counts)), counts)
    m = len(users)
    u = rng.random((m, 5))  # area x cuisine, price, restaurant in the cell, meal, time
    noise = rng.normal(0.0, 0.75, m)

    cell_lo, cell_hi, first, last, cum, order = _cells(world, d)
    if not len(cum) or cum[-1] <= 0.0:  # long before the span: nothing open yet
        users, u, noise = users[:0], u[:0], noise[:0]
        m = 0
    items = np.empty(m, dtype=np.int64)
    for at in range(0, m, CHUNK):
        part = slice(at, at + CHUNK)
        cell = _pick_cells(world, d, users[part], u[part, :2], cell_hi - cell_lo)
        target = cell_lo[cell] + u[part, 2] * (cell_hi[cell] - cell_lo[cell])
        pos = np.clip(np.searchsorted(cum, target, side="right"), first[cell], last[cell] - 1)
        items[part] = order[pos]

    meal_lo = np.where(u[:, 3] < DINNER_SHARE, DINNER[0], LUNCH[0])
    meal_span = np.where(u[:, 3] < DINNER_SHARE, DINNER[1] - DINNER[0], LUNCH[1] - LUNCH[0])
    seconds = meal_lo + u[:, 4] * meal_span
    micros = int(pd.Timestamp(midnight).value // 1000) + (seconds * 1e6).astype(np.int64)

    taste = world.taste[users]
    fit = taste[np.arange(m), world.restaurant_cuisine[items]] - taste.mean(axis=1)
    prices = world.price_logit[users]
    price_fit = prices[np.arange(m), world.restaurant_price[items]] - prices.mean(axis=1)
    raw = world.restaurant_rating[items] - 0.8 + 0.35 * fit + 0.3 * price_fit + noise
    ratings = np.clip(np.rint(raw), 1, 5).astype(np.int64)
    return users, items, micros, ratings


def _cells(
    world: World, d: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Restaurants sorted by cell with the cumulative open popularity on day `d`; per cell
    its bounds in that sum and its first/last+1 position."""
    age = d - world.open_day
    weight = np.where(
        age >= 0, world.popularity * (1.0 + BUZZ * np.exp(-np.maximum(age, 0) / BUZZ_DAYS)), 0.0
    )
    area_cuisine = world.restaurant_area * len(CUISINES) + world.restaurant_cuisine
    cell_of = area_cuisine * len(PRICE_LEVELS) + world.restaurant_price
    order = np.argsort(cell_of, kind="stable")
    cum = np.cumsum(weight[order])
    sorted_cells = cell_of[order]
    first = np.searchsorted(sorted_cells, np.arange(_CELLS), side="left")
    last = np.searchsorted(sorted_cells, np.arange(_CELLS), side="right")
    lo = np.where(first > 0, cum[np.maximum(first - 1, 0)], 0.0)
    hi = np.where(last > 0, cum[np.maximum(last - 1, 0)], 0.0)
    return lo, hi, first, last, cum, order


def _pick_cells(
    world: World, d: int, users: np.ndarray, uniform: np.ndarray, mass: np.ndarray
) -> np.ndarray:
    """Each visit's (area, cuisine, price) cell, flattened, drawn from the user's weights
    times the cells' open popularity `mass`: the (area, cuisine) pair first, from the
    price-weighted mass of its price levels, then the price level
    within it. `uniform` is (visits, 2)."""
    s = world.scenario
    m, prices = len(users), len(PRICE_LEVELS)
    area = np.where(world.move_day[users] <= d, world.move_to, world.user_area[users])
    taste = world.taste[users]
    if "trend" in s.changes and d >= s.change_day:
        ramp = min(1.0, (d - s.change_day + 1) / s.trend_days)
        taste[:, CUISINES.index(s.trend_cuisine)] += ramp * np.log(s.trend_strength)
    by_price = mass.reshape(-1, prices)  # (areas x cuisines, price levels)
    e_price = np.exp(world.price_logit[users])
    pair = e_price[:, :1] * by_price[:, 0]  # a sum of outer products: BLAS's threads
    for level in range(1, prices):  # cost more than they give on a (visits x 4) product
        pair += e_price[:, level : level + 1] * by_price[:, level]
    pair = pair.reshape(m, len(AREAS), len(CUISINES))
    pair *= _EXP_AREA[area][:, :, None]
    pair *= np.exp(taste)[:, None, :]
    cum = np.cumsum(pair.reshape(m, -1), axis=1)
    chosen = (cum <= (uniform[:, 0] * cum[:, -1])[:, None]).sum(axis=1)
    cum_price = np.cumsum(e_price * by_price[chosen], axis=1)
    level = (cum_price <= (uniform[:, 1] * cum_price[:, -1])[:, None]).sum(axis=1)
    cell: np.ndarray = chosen * prices + level
    return cell
