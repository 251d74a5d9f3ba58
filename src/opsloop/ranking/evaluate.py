"""A recommender evaluated on a time-based split: fitted on the history before the cut-off,
asked for the top k of every user with an interaction in ``[cutoff, cutoff + horizon)``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from opsloop.ranking.metrics import per_user_metrics
from opsloop.ranking.split import TimeSplit, time_split

if TYPE_CHECKING:
    from opsloop.ranking.data import RankingData, TopK
    from opsloop.ranking.models import Recommender


@dataclass(frozen=True)
class RankingEvaluation:
    """Means over the evaluation users with a relevant item (``cold_start_ndcg``: over
    those without history before the cut-off; None when there are none), with the per-user
    values for paired comparisons (rows aligned with ``split.relevant.users``; NaN for a
    user left without a relevant item, as `opsloop.ranking.metrics` defines them)."""

    k: int
    users: int
    cold_start_users: int
    ndcg: float
    recall: float
    cold_start_ndcg: float | None
    fit_seconds: float
    recommend_seconds: float
    user_ndcg: np.ndarray
    user_recall: np.ndarray
    top: TopK
    split: TimeSplit


def evaluate(
    model: Recommender,
    data: RankingData,
    cutoff: Any,
    horizon: Any,
    k: int = 10,
    *,
    min_rating: float | None = None,
    exclude_seen: bool = True,
) -> RankingEvaluation:
    """Fit ``model`` on ``data`` before ``cutoff`` and score its top ``k`` (see `time_split`)."""
    split = time_split(data, cutoff, horizon, min_rating=min_rating, exclude_seen=exclude_seen)
    started = time.perf_counter()
    model.fit(split.train)
    fitted = time.perf_counter()
    top = model.recommend(split.train, split.relevant.users, k, exclude_seen=exclude_seen)
    done = time.perf_counter()
    if len(top.catalogue) != len(split.catalogue):
        raise ValueError(
            f"the recommender ranked over {len(top.catalogue)} items, the split's catalogue "
            f"has {len(split.catalogue)}: rank over the items table in its row order"
        )
    measured = per_user_metrics(top, split.relevant, k=k)
    ndcg, recall = measured.ndcg, measured.recall
    valid = ~np.isnan(ndcg)
    cold = split.cold_start & valid
    return RankingEvaluation(
        k=k,
        users=int(valid.sum()),
        cold_start_users=int(cold.sum()),
        ndcg=float(ndcg[valid].mean()) if valid.any() else 0.0,
        recall=float(recall[valid].mean()) if valid.any() else 0.0,
        cold_start_ndcg=float(ndcg[cold].mean()) if cold.any() else None,
        fit_seconds=fitted - started,
        recommend_seconds=done - fitted,
        user_ndcg=ndcg,
        user_recall=recall,
        top=top,
        split=split,
    )
