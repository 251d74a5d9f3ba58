"""Value types shared by the ranking metrics, the ranking gate, the recommenders and the
nightly top-k output (issue 17).

Items are carried as positions into a *catalogue* (an array of item ids) rather than as ids:
metrics and set operations become integer array work, and any id type (int, str) is
supported. Position ``-1`` pads a user's list when fewer than ``k`` items could be ranked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

PAD = -1  # the item position that pads a short top-k list


@dataclass(frozen=True)
class RankingData:
    """The tables a recommender is trained on and scores from.

    - ``interactions``: one row per event (a visit): ``user_column``, ``item_column``,
      ``time_column`` and optionally ``rating_column``.
    - ``users``: one row per user, ``user_column`` plus user features.
    - ``items``: one row per item (the catalogue), ``item_column`` plus item features.
    """

    interactions: pd.DataFrame
    users: pd.DataFrame
    items: pd.DataFrame
    user_column: str
    item_column: str
    time_column: str
    rating_column: str | None = None


@dataclass(frozen=True)
class TopK:
    """Top-k recommendations: row ``i`` ranks ``catalogue[items[i]]`` for ``users[i]``.

    ``items`` is ``(n_users, k)`` int64 positions into ``catalogue`` (``PAD`` where the list
    is shorter than ``k``), best first; ``scores`` is ``(n_users, k)`` float64, NaN where padded.
    """

    users: np.ndarray
    items: np.ndarray
    scores: np.ndarray
    catalogue: np.ndarray

    def __post_init__(self) -> None:
        if self.items.ndim != 2 or self.items.shape != self.scores.shape:
            raise ValueError(
                f"items and scores must both be (n_users, k); got {self.items.shape} and "
                f"{self.scores.shape}"
            )
        if len(self.users) != self.items.shape[0]:
            raise ValueError(
                f"{len(self.users)} users for {self.items.shape[0]} rows of recommendations"
            )

    @property
    def k(self) -> int:
        return int(self.items.shape[1])

    def take(self, rows: slice | np.ndarray) -> TopK:
        """The lists of some users (a slice or positions of rows), over the same catalogue."""
        return TopK(self.users[rows], self.items[rows], self.scores[rows], self.catalogue)

    def item_ids(self) -> np.ndarray:
        """The recommended item ids, ``(n_users, k)`` object/any dtype; padding is None."""
        out = np.empty(self.items.shape, dtype=object)
        valid = self.items != PAD
        out[valid] = self.catalogue[self.items[valid]]
        out[~valid] = None
        return out

    def reindex(self, catalogue: np.ndarray) -> tuple[TopK, int]:
        """The same lists as positions into another ``catalogue`` (e.g. the evaluation's),
        and how many recommended items it lacks: those become `PAD` at their rank (the slot
        stays wasted; the list is not moved up)."""
        import pandas as pd

        index = pd.Index(np.asarray(catalogue))
        if not index.is_unique:
            raise ValueError("the catalogue to reindex to holds repeated ids")
        moved = np.append(index.get_indexer(self.catalogue), PAD)  # PAD maps to PAD
        items = moved[self.items]
        lost = int(((items == PAD) & (self.items != PAD)).sum())
        scores = np.where(items == PAD, np.nan, self.scores)
        return TopK(self.users, items.astype(np.int64), scores, np.asarray(catalogue)), lost


@dataclass(frozen=True)
class Relevant:
    """Per user, the relevant items (e.g. visited after the cut-off), as CSR over a catalogue.

    The relevant positions of ``users[i]`` are ``indices[indptr[i]:indptr[i + 1]]`` with
    graded gains ``gains[indptr[i]:indptr[i + 1]]`` (1.0 for binary relevance). ``users``
    is aligned with the ``TopK`` it is compared with (same order, same length).
    """

    users: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    gains: np.ndarray

    def counts(self) -> np.ndarray:
        return np.diff(self.indptr)
