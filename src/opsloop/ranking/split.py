"""The time-based split of a ranking task: train on the interactions before a cut-off,
evaluate on what each user chose in ``[cutoff, cutoff + horizon)``.

The users and items tables are kept whole: they are the tables as known at the cut-off. An
item's opening date (or any availability column) is not filtered here unless asked with
``available_column``; the recommenders themselves skip items whose ``item_date_column`` lies
after the newest interaction they are given.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from opsloop.errors import InvalidInputError
from opsloop.ranking.data import RankingData, Relevant


@dataclass(frozen=True)
class TimeSplit:
    """A ranking data set split at ``cutoff``.

    ``relevant.users`` are the evaluation users (sorted ids: every user with at least one
    relevant item in the window), ``relevant.indices`` positions into ``catalogue`` (the
    training items table's item ids, in its row order: the catalogue a recommender given
    ``train`` ranks over). ``cold_start[i]`` is true when ``relevant.users[i]`` had no
    interaction before the cut-off. ``dropped`` counts window interactions left out because
    their item is not in the catalogue.
    """

    train: RankingData
    relevant: Relevant
    cold_start: np.ndarray
    catalogue: np.ndarray
    cutoff: Any
    horizon: Any
    dropped: int


def time_split(
    data: RankingData,
    cutoff: Any,
    horizon: Any,
    *,
    min_rating: float | None = None,
    exclude_seen: bool = True,
    available_column: str | None = None,
) -> TimeSplit:
    """Split ``data`` at ``cutoff`` (a time of the time column's kind; ``horizon`` a duration).

    Relevance is graded by the rating column when ``data.rating_column`` is set (the best
    rating of a user's visits to an item), else 1.0; ``min_rating`` keeps only interactions
    rated at least that. ``exclude_seen`` (the recommenders' default) leaves out items the
    user interacted with before the cut-off, which a recommender excluding seen items could
    never rank. ``available_column`` (an items column, e.g. an opening date) drops the items
    not yet available at the cut-off from the training catalogue.
    """
    inter = data.interactions
    times = inter[data.time_column]
    try:
        before = (times < cutoff).to_numpy()
        end = cutoff + horizon
        window = ((times >= cutoff) & (times < end)).to_numpy()
    except TypeError as exc:
        raise InvalidInputError(
            "The cut-off and horizon do not compare with the time column",
            expected=f"a cut-off of the kind of {data.time_column!r} ({times.dtype}) and a "
            "horizon that adds to it (e.g. pd.Timestamp and pd.Timedelta)",
            got=f"{type(cutoff).__name__} and {type(horizon).__name__}",
            fix="pass values of the time column's type",
        ) from exc
    items = data.items
    if available_column is not None:
        items = items.loc[~(items[available_column] >= cutoff).to_numpy()].reset_index(drop=True)
    train = replace(data, interactions=inter.loc[before].reset_index(drop=True), items=items)

    future = inter.loc[window]
    if min_rating is not None:
        if data.rating_column is None:
            raise InvalidInputError(
                "min_rating needs a rating column",
                expected="RankingData.rating_column set",
                got="rating_column=None",
                fix="set the rating column or leave min_rating out",
            )
        future = future.loc[(future[data.rating_column] >= min_rating).to_numpy()]
    catalogue = items[data.item_column].to_numpy()
    positions = pd.Index(catalogue).get_indexer(future[data.item_column])
    known = positions >= 0
    dropped = int((~known).sum())
    user_ids = future[data.user_column].to_numpy()[known]
    positions = positions[known].astype(np.int64)
    gains = (
        future[data.rating_column].to_numpy(dtype=np.float64)[known]
        if data.rating_column is not None
        else np.ones(len(positions))
    )

    users, user_pos = np.unique(user_ids, return_inverse=True)
    if exclude_seen and len(users):
        past = train.interactions
        past_pos = pd.Index(users).get_indexer(past[data.user_column])
        past_item = pd.Index(catalogue).get_indexer(past[data.item_column])
        ok = (past_pos >= 0) & (past_item >= 0)
        seen = np.unique(past_pos[ok].astype(np.int64) * len(catalogue) + past_item[ok])
        keep = ~np.isin(user_pos * len(catalogue) + positions, seen)
        user_pos, positions, gains = user_pos[keep], positions[keep], gains[keep]
        present = np.unique(user_pos)
        users = users[present]
        user_pos = np.searchsorted(present, user_pos)
    relevant = _relevant(users, user_pos, positions, gains, len(catalogue))

    returning = pd.Index(train.interactions[data.user_column].unique())
    cold_start = ~pd.Index(users).isin(returning)
    return TimeSplit(
        train=train,
        relevant=relevant,
        cold_start=np.asarray(cold_start, dtype=bool),
        catalogue=catalogue,
        cutoff=cutoff,
        horizon=horizon,
        dropped=dropped,
    )


def _relevant(
    users: np.ndarray, user_pos: np.ndarray, items: np.ndarray, gains: np.ndarray, n_items: int
) -> Relevant:
    """CSR of the best gain per (user, item), items ascending within a user."""
    keys = user_pos.astype(np.int64) * n_items + items
    order = np.lexsort((-gains, keys))
    keys, gains = keys[order], gains[order]
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    keys, gains = keys[first], gains[first]
    counts = np.bincount(keys // n_items, minlength=len(users)) if n_items else np.zeros(0)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return Relevant(
        users=users,
        indptr=indptr,
        indices=(keys % n_items).astype(np.int64) if n_items else keys,
        gains=gains.astype(np.float64),
    )
