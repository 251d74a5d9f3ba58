"""`Relevant` and popularity counts from an interactions frame (e.g. visits after a cut-off).

Ids are mapped to positions with pandas' hash index, so ids of any type work; rows whose item
is not in the catalogue or whose user is not among the evaluated users are counted and
dropped, never an error (a visit to a restaurant opened after the catalogue was taken, a user
the model was not asked about).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from opsloop.errors import DataValidationError
from opsloop.ranking.data import Relevant

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class RelevantBuild:
    """The `Relevant` built, and what was dropped on the way (rows of the frame)."""

    relevant: Relevant
    rows: int  # interaction rows read
    unknown_items: int  # item not in the catalogue
    unknown_users: int  # user not among the users asked for (and item known)
    invalid_gains: int  # gain missing, not finite or <= 0 (user and item known)


def _index(values: np.ndarray, what: str) -> pd.Index:
    import pandas as pd

    index = pd.Index(values)
    if not index.is_unique:
        repeated = index[index.duplicated()].unique()[:5].tolist()
        raise DataValidationError(
            f"the {what} holds repeated ids, e.g. {repeated}",
            expected=f"each id once in the {what}",
            fix=f"deduplicate the {what} before building the relevant items",
        )
    return index


def _column(frame: pd.DataFrame, column: str, role: str) -> np.ndarray:
    if column not in frame.columns:
        raise DataValidationError(
            f"the interactions lack the {role} column {column!r}",
            expected=f"a column {column!r}",
            got=f"columns {list(frame.columns)}",
            fix=f"name the {role} column in the ranking configuration or add it",
        )
    values: np.ndarray = frame[column].to_numpy()
    return values


def relevant_from_interactions(
    interactions: pd.DataFrame,
    *,
    user_column: str,
    item_column: str,
    catalogue: np.ndarray,
    users: np.ndarray,
    gain_column: str | None = None,
) -> RelevantBuild:
    """Per user of ``users`` (in that order), the catalogue items they interacted with.

    Gains are 1.0 (binary relevance) or the ``gain_column`` (e.g. a rating; it must be
    finite and > 0, other rows are counted in ``invalid_gains`` and dropped). A user who
    interacted with an item several times has it once, with the largest gain.
    """
    size = len(catalogue)
    item_pos = _index(np.asarray(catalogue), "catalogue").get_indexer(
        _column(interactions, item_column, "item")
    )
    user_pos = _index(np.asarray(users), "users").get_indexer(
        _column(interactions, user_column, "user")
    )
    if gain_column is None:
        gain = np.ones(len(interactions))
    else:
        import pandas as pd

        raw = pd.Series(_column(interactions, gain_column, "gain"))
        gain = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    known_item = item_pos >= 0
    known = known_item & (user_pos >= 0)
    good_gain = np.isfinite(gain) & (gain > 0)
    keep = known & good_gain
    keys = user_pos[keep].astype(np.int64) * size + item_pos[keep]
    gain = gain[keep]
    order = np.lexsort((gain, keys))  # by key, the largest gain last
    keys, gain = keys[order], gain[order]
    last = np.r_[keys[1:] != keys[:-1], True] if len(keys) else np.zeros(0, bool)
    keys, gain = keys[last], gain[last]
    rows = keys // max(size, 1)
    indptr = np.zeros(len(users) + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=len(users)), out=indptr[1:])
    relevant = Relevant(
        users=np.asarray(users),
        indptr=indptr,
        indices=(keys % max(size, 1)).astype(np.int64),
        gains=gain.astype(float),
    )
    return RelevantBuild(
        relevant=relevant,
        rows=len(interactions),
        unknown_items=int((~known_item).sum()),
        unknown_users=int((known_item & (user_pos < 0)).sum()),
        invalid_gains=int((known & ~good_gain).sum()),
    )


def popularity_counts(
    interactions: pd.DataFrame, *, item_column: str, catalogue: np.ndarray
) -> np.ndarray:
    """Interactions per catalogue item (catalogue order; unknown items are ignored)."""
    pos = _index(np.asarray(catalogue), "catalogue").get_indexer(
        _column(interactions, item_column, "item")
    )
    counts: np.ndarray = np.bincount(pos[pos >= 0], minlength=len(catalogue)).astype(float)
    return counts
