"""The popularity baseline: the most visited items of the last days, globally or within
the user's segment (e.g. the restaurants most visited by the user's area)."""

from __future__ import annotations

from typing import Self

import numpy as np

from opsloop.errors import ConfigError, StateError
from opsloop.ranking._arrays import contains
from opsloop.ranking._history import encode, require_columns
from opsloop.ranking._popular import popularity, segment_codes, top_items
from opsloop.ranking.data import PAD, RankingData, TopK


class PopularityRecommender:
    """Recommends the items with the most interactions in the last ``recent_days`` (ties by
    all-time interactions). With ``segment_column`` (a users column, e.g. ``area``), a user
    gets the most popular items among users of the same segment, completed by the global
    ranking; unknown users and users without a segment get the global ranking.

    ``max_seen`` bounds how many already-seen items per user are skipped when
    ``exclude_seen``: a user who has seen more of the ranking's head than that may get a
    short (padded) list.
    """

    def __init__(
        self,
        *,
        recent_days: float = 30.0,
        segment_column: str | None = None,
        max_seen: int = 200,
    ) -> None:
        self.recent_days = recent_days
        self.segment_column = segment_column
        self.max_seen = max_seen

    def fit(self, data: RankingData) -> Self:
        if self.recent_days <= 0:
            raise ConfigError(
                "The recent_days parameter of PopularityRecommender must be positive",
                got=repr(self.recent_days),
            )
        if self.segment_column is not None:
            require_columns(data.users, [self.segment_column], "users")
        self.fitted_ = True
        return self

    def recommend(
        self, data: RankingData, users: np.ndarray, k: int, *, exclude_seen: bool = True
    ) -> TopK:
        if not getattr(self, "fitted_", False):
            raise StateError(
                "This PopularityRecommender is not fitted",
                fix="call fit(data) before recommend()",
            )
        history = encode(data)
        n_items = history.n_items
        codes, n_segments = None, 0
        if self.segment_column is not None:
            codes, n_segments = segment_codes(history, data.users, self.segment_column)
        scores = popularity(history, self.recent_days, codes, n_segments)
        users = np.asarray(users)
        position = history.positions(users)
        row = np.full(len(users), n_segments, dtype=np.int64)
        if codes is not None:
            known = position >= 0
            seg = np.where(known, codes[np.maximum(position, 0)], -1)
            row = np.where(seg >= 0, seg, n_segments)
        extra = 0
        seen = np.zeros(0, dtype=np.int64)
        if exclude_seen:
            seen = history.seen_keys()
            per_user = np.bincount(seen // max(n_items, 1), minlength=history.n_users)
            asked = per_user[position[position >= 0]]
            extra = min(int(asked.max(initial=0)), self.max_seen)
        head = top_items(scores, k + extra)  # (rows, L), best first
        head_scores = np.take_along_axis(scores, head, axis=1)
        candidates, candidate_scores = head[row], head_scores[row]  # (users, L)
        keep = np.ones(candidates.shape, dtype=bool)
        if exclude_seen:
            owner = np.broadcast_to(position[:, None], candidates.shape)
            keep = ~((owner >= 0) & contains(seen, owner * n_items + candidates))
        # each user's first k unseen items, in the ranking's order (no sort needed)
        place = np.cumsum(keep, axis=1) - 1
        take = keep & (place < k)
        r, c = np.nonzero(take)
        items = np.full((len(users), k), PAD, dtype=np.int64)
        top_scores = np.full((len(users), k), np.nan)
        items[r, place[r, c]] = candidates[r, c]
        top_scores[r, place[r, c]] = candidate_scores[r, c]
        return TopK(users=users, items=items, scores=top_scores, catalogue=history.catalogue)
