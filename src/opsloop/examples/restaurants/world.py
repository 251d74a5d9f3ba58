"""The restaurants example's static world: a city of areas, users with tastes and restaurants.

`Scenario` holds the knobs (sizes, the historical span, the seed, which changes happen and
from when); `build_world(scenario)` draws everything that does not depend on the day — the
users and restaurants tables and the latent quantities visits are drawn from (true tastes,
activity rates, popularity, who moves where and when). Visits are drawn day by day in
`opsloop.examples.restaurants.visits`.

Everything is seeded and vectorised: the same scenario gives the same world, and switching
a change on never alters the tables of the world without it (extra restaurants are appended
and drawn from their own random stream).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

# Twelve areas on a 3 x 4 grid of the city (row-major); neighbours are one step apart.
AREAS = (
    "harbour",
    "old-town",
    "market",
    "riverside",
    "docks",
    "centre",
    "station",
    "university",
    "airport",
    "parkside",
    "hillside",
    "eastgate",
)
GRID_COLUMNS = 4
# Share of users and of restaurants per area (the centre is dense, the airport sparse).
AREA_WEIGHTS = (0.07, 0.10, 0.09, 0.08, 0.06, 0.14, 0.11, 0.10, 0.03, 0.08, 0.06, 0.08)

CUISINES = (
    "italian",
    "pizza",
    "burgers",
    "japanese",
    "chinese",
    "indian",
    "mexican",
    "thai",
    "french",
    "korean",
    "vietnamese",
    "mediterranean",
    "vegetarian",
    "seafood",
    "cafe",
)
# Share of restaurants per cuisine, and how often a cuisine is a user's favourite.
CUISINE_WEIGHTS = (
    0.12, 0.10, 0.10, 0.07, 0.08, 0.07, 0.06, 0.05, 0.04, 0.03, 0.04, 0.06, 0.05, 0.04, 0.09,
)  # fmt: skip
PRICE_LEVELS = (1, 2, 3, 4)
PRICE_WEIGHTS = (0.30, 0.40, 0.20, 0.10)

CHANGES = frozenset({"trend", "openings", "moves"})

# How choices are made (log-weights): own area 0, a neighbouring area, any other area.
AREA_NEIGHBOUR = -2.0
AREA_FAR = -4.0
FAVOURITE = 2.5  # a user's favourite cuisine
SECOND = 1.25  # their second cuisine
TASTE_NOISE = 0.35
STATED_FAVOURITE = 0.85  # share of users whose stated favourite is their true one
POPULARITY_SIGMA = 1.1  # lognormal spread of restaurant popularity (the Zipf-like skew)
RATING_EFFECT = 0.8  # log-weight per star of a restaurant's rating
MOVERS = 0.7  # share of the moving area's users who move
MOVE_DAYS = 14  # movers move on a day within this many days of the change


@dataclass(frozen=True)
class Scenario:
    """What to generate.

    ``changes`` (any of ``trend``, ``openings``, ``moves``) happen from ``change_at``
    (default: two thirds into the span; it may be at or after the span's end, for visits
    drawn later with `arriving`): ``trend`` — the appeal of ``trend_cuisine`` rises over
    ``trend_days`` to ``trend_strength`` times its usual; ``openings`` — ``openings`` x
    ``restaurants`` new restaurants open between the change and `openings_end` (cold-start
    items, with the buzz every new opening gets); ``moves`` — most users of ``moves_from``
    move to ``moves_to`` (their table row keeps the area they signed up with).
    ``visits_per_user`` is the median number of visits in 180 days of a user signed up
    throughout.
    """

    users: int = 50_000
    restaurants: int = 5_000
    start: date = date(2025, 1, 1)
    days: int = 180
    changes: frozenset[str] = frozenset()
    change_at: date | None = None
    seed: int = 0
    visits_per_user: float = 3.2  # median visits of a user active over the whole span
    trend_cuisine: str = "korean"
    trend_strength: float = 5.0
    trend_days: int = 21
    openings: float = 0.08
    moves_from: str = "harbour"
    moves_to: str = "eastgate"

    def __post_init__(self) -> None:
        object.__setattr__(self, "changes", frozenset(self.changes))
        unknown = sorted(self.changes - CHANGES)
        problems = [
            (self.users < 1, f"users must be >= 1, got {self.users}"),
            (
                self.restaurants < len(AREAS),
                f"restaurants must be >= {len(AREAS)} (one per area), got {self.restaurants}",
            ),
            (self.days < 1, f"days must be >= 1, got {self.days}"),
            (bool(unknown), f"unknown changes {unknown}; expected any of {sorted(CHANGES)}"),
            (self.trend_cuisine not in CUISINES, f"trend_cuisine must be one of {CUISINES}"),
            (self.moves_from not in AREAS, f"moves_from must be one of {AREAS}"),
            (self.moves_to not in AREAS, f"moves_to must be one of {AREAS}"),
            (self.moves_from == self.moves_to, "moves_from and moves_to must differ"),
            (not 0.0 <= self.openings <= 1.0, f"openings must be in [0, 1], got {self.openings}"),
            (self.trend_strength <= 0, f"trend_strength must be > 0, got {self.trend_strength}"),
            (self.visits_per_user <= 0, "visits_per_user must be > 0"),
            (
                self.change_day < 0,
                f"change_at must not be before start ({self.start}), got {self.change_at}",
            ),
        ]
        for bad, message in problems:
            if bad:
                raise ValueError(message)

    @property
    def begin(self) -> datetime:
        """The span's first instant (UTC)."""
        return datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The span's end (exclusive, UTC)."""
        return self.begin + timedelta(days=self.days)

    @property
    def change_day(self) -> int:
        """The change's day index from `start` (default: two thirds into the span)."""
        if self.change_at is None:
            return (2 * self.days) // 3
        return (self.change_at - self.start).days

    @property
    def openings_end(self) -> int:
        """Day by which the extra restaurants of `openings` have opened: the span's end,
        or four weeks after a change at or after it (a demo's arriving weeks)."""
        return self.days if self.change_day < self.days else self.change_day + 28

    @property
    def change_time(self) -> datetime:
        return self.begin + timedelta(days=self.change_day)


@dataclass(frozen=True)
class World:
    """The tables and the latent quantities visits are drawn from (arrays by row position).

    Day indices count from ``scenario.start`` (negative: before the span)."""

    scenario: Scenario
    users: pd.DataFrame
    restaurants: pd.DataFrame
    user_area: np.ndarray  # int, home area index
    taste: np.ndarray  # (users, cuisines) true log-weights
    price_logit: np.ndarray  # (users, price levels) log-weights
    rate: np.ndarray  # mean visits per day
    signup_day: np.ndarray
    move_day: np.ndarray  # day a user moves to `move_to` (a large number: never)
    move_to: int
    restaurant_area: np.ndarray
    restaurant_cuisine: np.ndarray
    restaurant_price: np.ndarray  # index into PRICE_LEVELS
    restaurant_rating: np.ndarray
    popularity: np.ndarray  # base weight (rating effect included)
    open_day: np.ndarray
    user_ids: np.ndarray = field(repr=False)
    restaurant_ids: np.ndarray = field(repr=False)


NEVER = np.iinfo(np.int64).max // 4


def area_logits() -> np.ndarray:
    """(areas, areas) log-weight of visiting area j when living in area i."""
    rows, cols = np.divmod(np.arange(len(AREAS)), GRID_COLUMNS)
    distance = np.abs(rows[:, None] - rows[None, :]) + np.abs(cols[:, None] - cols[None, :])
    return np.where(distance == 0, 0.0, np.where(distance == 1, AREA_NEIGHBOUR, AREA_FAR))


def _pick(rng: np.random.Generator, weights: tuple[float, ...], n: int) -> np.ndarray:
    p = np.asarray(weights, dtype=float)
    return rng.choice(len(p), size=n, p=p / p.sum())


def _midnights(begin: datetime, days: np.ndarray) -> pd.DatetimeIndex:
    times = pd.Timestamp(begin) + pd.to_timedelta(days, unit="D")
    return pd.DatetimeIndex(times, tz=UTC).as_unit("us")


def build_world(scenario: Scenario) -> World:
    s = scenario
    rng = np.random.default_rng(np.random.SeedSequence([s.seed, 0]))
    n = s.users
    area = _pick(rng, AREA_WEIGHTS, n)
    favourite = _pick(rng, CUISINE_WEIGHTS, n)
    second = (favourite + rng.integers(1, len(CUISINES), n)) % len(CUISINES)
    taste = rng.normal(0.0, TASTE_NOISE, (n, len(CUISINES)))
    taste += np.log(np.asarray(CUISINE_WEIGHTS) * len(CUISINES))[None, :] * 0.5
    taste[np.arange(n), favourite] += FAVOURITE
    taste[np.arange(n), second] += SECOND
    stated = np.where(
        rng.random(n) < STATED_FAVOURITE, favourite, rng.integers(0, len(CUISINES), n)
    )
    sensitivity = rng.beta(2.0, 2.0, n)
    steps = np.arange(len(PRICE_LEVELS), dtype=float)[None, :]
    price_logit = -2.0 * sensitivity[:, None] * steps + 0.4 * (1.0 - sensitivity[:, None]) * steps
    total = np.exp(rng.normal(np.log(s.visits_per_user), 1.1, n))
    rate = np.minimum(total / 180.0, 1.5)
    joined_before = rng.random(n) < 0.7
    signup_day = np.where(
        joined_before, rng.integers(-730, 0, n), rng.integers(0, max(s.days, 1), n)
    )
    move_to = AREAS.index(s.moves_to)
    move_day = np.full(n, NEVER, dtype=np.int64)
    if "moves" in s.changes:  # its own stream: the rest of the world stays as without it
        move_rng = np.random.default_rng(np.random.SeedSequence([s.seed, 3]))
        movers = (area == AREAS.index(s.moves_from)) & (move_rng.random(n) < MOVERS)
        move_day[movers] = s.change_day + move_rng.integers(0, MOVE_DAYS, int(movers.sum()))

    r_area, r_cuisine, r_price, r_rating, r_pop, r_open = _restaurants(rng, s.restaurants, s)
    if "openings" in s.changes:
        extra_rng = np.random.default_rng(np.random.SeedSequence([s.seed, 2]))
        m = round(s.openings * s.restaurants)
        e = _restaurants(extra_rng, m, s)
        e_open = extra_rng.integers(s.change_day, s.openings_end, m)
        base = (r_area, r_cuisine, r_price, r_rating, r_pop)
        r_area, r_cuisine, r_price, r_rating, r_pop = (
            np.concatenate([a, b]) for a, b in zip(base, e[:5], strict=True)
        )
        r_open = np.concatenate([r_open, e_open])

    user_ids = np.asarray([f"u{i:06d}" for i in range(n)], dtype=object)
    restaurant_ids = np.asarray([f"r{i:05d}" for i in range(len(r_area))], dtype=object)
    areas, cuisines = np.asarray(AREAS, dtype=object), np.asarray(CUISINES, dtype=object)
    users = pd.DataFrame(
        {
            "user_id": user_ids,
            "area": areas[area],
            "price_sensitivity": sensitivity.round(2),
            "favourite_cuisine": cuisines[stated],
            "second_cuisine": cuisines[second],
            "signup_date": _midnights(s.begin, signup_day),
        }
    )
    restaurants = pd.DataFrame(
        {
            "restaurant_id": restaurant_ids,
            "cuisine": cuisines[r_cuisine],
            "price_level": np.asarray(PRICE_LEVELS, dtype=np.int64)[r_price],
            "area": areas[r_area],
            "rating": r_rating,
            "opening_date": _midnights(s.begin, r_open),
        }
    )
    for frame, columns in ((users, ("user_id", "area", "favourite_cuisine", "second_cuisine")),
                           (restaurants, ("restaurant_id", "cuisine", "area"))):  # fmt: skip
        for column in columns:
            frame[column] = frame[column].astype(str)
    return World(
        scenario=s,
        users=users,
        restaurants=restaurants,
        user_area=area,
        taste=taste,
        price_logit=price_logit,
        rate=rate,
        signup_day=signup_day,
        move_day=move_day,
        move_to=move_to,
        restaurant_area=r_area,
        restaurant_cuisine=r_cuisine,
        restaurant_price=r_price,
        restaurant_rating=r_rating,
        popularity=r_pop,
        open_day=r_open,
        user_ids=user_ids,
        restaurant_ids=restaurant_ids,
    )


def _restaurants(
    rng: np.random.Generator, m: int, s: Scenario
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """area, cuisine, price index, rating, popularity weight, opening day of `m` restaurants."""
    area = _pick(rng, AREA_WEIGHTS, m)
    area[: min(m, len(AREAS))] = np.arange(min(m, len(AREAS)))  # every area has one
    cuisine = _pick(rng, CUISINE_WEIGHTS, m)
    price = _pick(rng, PRICE_WEIGHTS, m)
    price = np.where(np.isin(cuisine, [CUISINES.index("french"), CUISINES.index("seafood")]),
                     np.minimum(price + 1, len(PRICE_LEVELS) - 1), price)  # fmt: skip
    quality = rng.normal(0.0, 1.0, m)
    rating = np.clip(3.9 + 0.45 * quality + rng.normal(0.0, 0.2, m), 1.0, 5.0).round(1)
    latent = 0.5 * quality + np.sqrt(0.75) * rng.normal(0.0, 1.0, m)
    popularity = np.exp(POPULARITY_SIGMA * latent + RATING_EFFECT * (rating - 4.0))
    # most opened years ago; ~2% open during the span (the usual churn of a city)
    opened_before = rng.random(m) >= 0.02
    open_day = np.where(opened_before, rng.integers(-3650, 0, m), rng.integers(0, s.days, m))
    return area, cuisine, price, rating, popularity, open_day
