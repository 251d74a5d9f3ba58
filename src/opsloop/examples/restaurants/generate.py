"""The restaurants example's data: users, restaurants and their visits over a historical span.

    >>> data = generate(users=5_000, restaurants=500, changes={"trend"})
    >>> data.users, data.restaurants, data.visits      # three DataFrames
    >>> data.write(project / "data")                    # users/restaurants/visits .parquet

Visits carry their own event time (``visited_at``) in a fixed span (default: 180 days
from 2025-01-01), never "now". `arriving(world, start, end)` draws the visits of any other
stretch of time from the same world — e.g. the week after the span, for a demo's arriving
visits — identical to the same days of any other draw.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from opsloop.examples.restaurants.visits import visits_between
from opsloop.examples.restaurants.world import Scenario, World, build_world

USERS_FILE = "users.parquet"
RESTAURANTS_FILE = "restaurants.parquet"
VISITS_FILE = "visits.parquet"


@dataclass(frozen=True)
class RestaurantsData:
    """The three tables of the example and the world they were drawn from."""

    world: World
    visits: pd.DataFrame

    @property
    def users(self) -> pd.DataFrame:
        return self.world.users

    @property
    def restaurants(self) -> pd.DataFrame:
        return self.world.restaurants

    @property
    def scenario(self) -> Scenario:
        return self.world.scenario

    def write(self, folder: Path | str) -> WrittenTables:
        """Write ``users.parquet``, ``restaurants.parquet`` and ``visits.parquet`` into
        `folder` (created), each atomically (a reader never sees half a file)."""
        root = Path(folder)
        return WrittenTables(
            users=write_table(root, USERS_FILE, self.users),
            restaurants=write_table(root, RESTAURANTS_FILE, self.restaurants),
            visits=write_table(root, VISITS_FILE, self.visits),
        )


@dataclass(frozen=True)
class WrittenTables:
    users: Path
    restaurants: Path
    visits: Path


def generate(
    *,
    users: int = 50_000,
    restaurants: int = 5_000,
    start: date = date(2025, 1, 1),
    days: int = 180,
    changes: Iterable[str] = (),
    change_at: date | None = None,
    seed: int = 0,
) -> RestaurantsData:
    """Draw the world and its visits over ``[start, start + days)``; `changes` (any of
    ``trend``, ``openings``, ``moves``) happen from `change_at` (default: two thirds in).
    Other knobs: build a `Scenario` and call `from_scenario`."""
    return from_scenario(
        Scenario(
            users=users,
            restaurants=restaurants,
            start=start,
            days=days,
            changes=frozenset(changes),
            change_at=change_at,
            seed=seed,
        )
    )


def from_scenario(scenario: Scenario) -> RestaurantsData:
    world = build_world(scenario)
    return RestaurantsData(world, visits_between(world, scenario.begin, scenario.end))


def arriving(world: World, start: datetime, end: datetime) -> pd.DataFrame:
    """The visits of `world` in ``[start, end)`` (UTC-aware), e.g. the week after its span."""
    return visits_between(world, start, end)


def write_table(folder: Path, name: str, frame: pd.DataFrame) -> Path:
    """Write `frame` as ``folder/name`` through a temporary file renamed into place."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    tmp = folder / f".{name}.tmp"
    frame.to_parquet(tmp, index=False)
    tmp.replace(target)
    return target
