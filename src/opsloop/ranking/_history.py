"""A `RankingData` as integer arrays: users and items as positions, times as ages in days.

The catalogue is the items table's item ids in its row order (the `TopK.catalogue` every
recommender returns). The user universe is the users table's ids, then the ids that occur
only in the interactions; a user in neither is unknown (served the fallback).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from opsloop.errors import InvalidInputError
from opsloop.ranking.data import RankingData

DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class History:
    """The interactions of a data set, oldest first, over its catalogue and user universe."""

    catalogue: np.ndarray
    user_index: pd.Index  # user id -> position
    n_table_users: int  # the first positions are the users table's rows
    user: np.ndarray  # int64 positions
    item: np.ndarray  # int64 positions into the catalogue
    age: np.ndarray  # float64 days before `now`
    rating: np.ndarray | None
    now: pd.Timestamp

    @property
    def n_items(self) -> int:
        return len(self.catalogue)

    @property
    def n_users(self) -> int:
        return len(self.user_index)

    def positions(self, users: np.ndarray) -> np.ndarray:
        """Positions of ``users`` in the universe, -1 for unknown users."""
        return np.asarray(self.user_index.get_indexer(users), dtype=np.int64)

    def seen_keys(self) -> np.ndarray:
        """Sorted unique ``user * n_items + item`` of every interaction."""
        return np.unique(self.user * self.n_items + self.item)

    def recent(self, days: float) -> np.ndarray:
        return self.age < days


def require_columns(frame: pd.DataFrame, columns: list[str], table: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"The {table} table lacks column(s) {missing}",
            expected=f"columns {columns}",
            got=f"columns {list(frame.columns)}",
            fix=f"add them to the {table} table or change the recommender's column settings",
        )


def _require_times(values: pd.Series, column: str) -> None:
    if not pd.api.types.is_datetime64_any_dtype(values.dtype):
        raise InvalidInputError(
            f"The recommender needs {column!r} as date-times",
            expected="a datetime64 column",
            got=str(values.dtype),
            fix=f"convert it, e.g. pd.to_datetime(df[{column!r}], unit='s') for Unix seconds",
        )


def age_days(values: pd.Series, now: pd.Timestamp, column: str) -> np.ndarray:
    """Days from each time in ``values`` to ``now`` (NaN where missing)."""
    _require_times(values, column)
    return np.asarray((now - values) / DAY, dtype=np.float64)


def newest(data: RankingData) -> pd.Timestamp:
    """The newest interaction time of ``data`` (what `encode` takes as ``now``), without
    encoding the history."""
    require_columns(data.interactions, [data.time_column], "interactions")
    times = data.interactions[data.time_column]
    if len(times) == 0:
        raise _no_interactions()
    _require_times(times, data.time_column)
    return pd.Timestamp(times.max())


def _no_interactions() -> InvalidInputError:
    return InvalidInputError(
        "No interactions to recommend from",
        expected="at least one interaction",
        got="an empty interactions table",
        fix="pass the interaction history in RankingData.interactions",
    )


def encode(data: RankingData, *, before: pd.Timestamp | None = None) -> History:
    """The interactions of ``data`` (only those before ``before`` if given) as a `History`;
    ``now`` is ``before`` or else the newest interaction time."""
    require_columns(data.users, [data.user_column], "users")
    require_columns(data.items, [data.item_column], "items")
    columns = [data.user_column, data.item_column, data.time_column]
    if data.rating_column is not None:
        columns.append(data.rating_column)
    require_columns(data.interactions, columns, "interactions")
    catalogue = data.items[data.item_column].to_numpy()
    item_index = pd.Index(catalogue)
    if not item_index.is_unique:
        raise InvalidInputError(
            "The items table repeats item ids",
            expected=f"one row per {data.item_column}",
            got=f"{len(catalogue) - item_index.nunique()} repeated ids",
            fix="deduplicate the items table",
        )
    inter = data.interactions
    times = inter[data.time_column]
    if before is not None:
        inter = inter.loc[(times < before).to_numpy()]
        times = inter[data.time_column]
    if len(inter) == 0 and before is None:
        raise _no_interactions()
    now = before if before is not None else times.max()
    item = item_index.get_indexer(inter[data.item_column])
    known = item >= 0
    inter = inter.loc[known]
    table_users = pd.Index(data.users[data.user_column].to_numpy())
    if not table_users.is_unique:
        raise InvalidInputError(
            "The users table repeats user ids",
            expected=f"one row per {data.user_column}",
            got=f"{len(table_users) - table_users.nunique()} repeated ids",
            fix="deduplicate the users table",
        )
    extra = pd.Index(inter[data.user_column].unique()).difference(table_users, sort=False)
    user_index = table_users.append(extra)
    age = age_days(inter[data.time_column], now, data.time_column)
    order = np.argsort(-age, kind="stable")
    rating = (
        inter[data.rating_column].to_numpy(dtype=np.float64)[order]
        if data.rating_column is not None
        else None
    )
    return History(
        catalogue=catalogue,
        user_index=user_index,
        n_table_users=len(table_users),
        user=user_index.get_indexer(inter[data.user_column]).astype(np.int64)[order],
        item=item[known].astype(np.int64)[order],
        age=age[order],
        rating=rating,
        now=now,
    )
