"""The data files `opsloop init --example restaurants` writes into a new project."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd

from opsloop.examples.restaurants.generate import RestaurantsData, generate, write_table
from opsloop.examples.restaurants.visits import USER

REGRESSION_USERS_FILE = "regression_users.parquet"
REGRESSION_PER_AREA = 20  # the most active users of each area


def write_restaurants(
    root: Path, readme: Path, *, users: int, restaurants: int, seed: int
) -> RestaurantsData:
    """Draw the example (no change switched on), write ``data/*.parquet``, the regression
    users and the README (from the template `readme`) into the project at `root`."""
    data = generate(users=users, restaurants=restaurants, seed=seed)
    data.write(root / "data")
    write_table(root, REGRESSION_USERS_FILE, regression_users(data))
    span = data.scenario
    (root / "README.md").write_text(
        readme.read_text(encoding="utf-8").format(
            name=root.resolve().name,
            users=f"{len(data.users):,}",
            restaurants=f"{len(data.restaurants):,}",
            visits=f"{len(data.visits):,}",
            start=span.start.isoformat(),
            end=(span.end - timedelta(days=1)).date().isoformat(),
            seed=seed,
        ),
        encoding="utf-8",
    )
    return data


def regression_users(data: RestaurantsData) -> pd.DataFrame:
    """The users whose lists the gate checks do not collapse: the most active ones of
    every area (ties broken by id), one column `user_id`."""
    counts = data.visits[USER].value_counts().rename("visits").reset_index()
    ranked = counts.merge(data.users[[USER, "area"]], on=USER).sort_values(
        ["area", "visits", USER], ascending=[True, False, True], kind="stable"
    )
    top = ranked.groupby("area", sort=True).head(REGRESSION_PER_AREA)
    return top[[USER]].sort_values(USER).reset_index(drop=True)
