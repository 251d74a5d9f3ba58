"""The recommenders of `task: ranking`: the `Recommender` protocol, the popularity
baseline and the two-stage recommender (docs/ranking.md, "The recommender").

``fit(data)`` learns from a `RankingData`; ``recommend(data, users, k)`` ranks for the
given user ids from ``data`` as it is *now* — the current users and items tables and the
interaction history — so new items and new users are scored from their features. Items
are ranked over ``data.items`` in its row order (`TopK.catalogue`).
"""

from __future__ import annotations

from typing import Protocol, Self

import numpy as np

from opsloop.ranking.data import RankingData, TopK
from opsloop.ranking.popularity import PopularityRecommender
from opsloop.ranking.twostage import TrainingSummary, TwoStageRecommender

__all__ = ["PopularityRecommender", "Recommender", "TrainingSummary", "TwoStageRecommender"]


class Recommender(Protocol):
    def fit(self, data: RankingData) -> Self: ...

    def recommend(
        self, data: RankingData, users: np.ndarray, k: int, *, exclude_seen: bool = True
    ) -> TopK: ...
