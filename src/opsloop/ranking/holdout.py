"""The evaluation period of a ranking version: the time split at a training window's end
minus `ranking.holdout`, and the users scored on it.

`ranking_holdout(data, cfg, end)` splits a window's `RankingData` (`ranking.split`): the
model is fitted on the interactions before the cut-off and judged on each user's
interactions in ``[cut-off, end)``. A `RankingHoldout` scores any recommender on it — the
trained version in the evaluate stage, then the gate's challenger and champion on the
**same users and catalogue** (`recommend` moves every list onto the split's catalogue with
`TopK.reindex`). `with_users` adds users without a relevant item (the gate's regression
set: users whose lists must not collapse, whether or not they came back in the period);
they have no value for the per-user metrics, as `ranking.metrics` defines them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from opsloop.config.ranking import HISTORY_SLICE
from opsloop.errors import InvalidInputError
from opsloop.ranking.data import RankingData, Relevant, TopK
from opsloop.ranking.metrics import PerUser, RankingMetrics, per_user_metrics, summarize
from opsloop.ranking.relevance import popularity_counts
from opsloop.ranking.split import TimeSplit, time_split

if TYPE_CHECKING:
    from opsloop.config import RankingConfig
    from opsloop.ranking.models import Recommender


@dataclass(frozen=True, eq=False)
class RankingHoldout:
    """A time split and the users scored on it (sorted ids; ``relevant`` and
    ``cold_start`` aligned with them). ``popularity`` counts the interactions per catalogue
    item before the cut-off (novelty, popularity bias). ``lists``: the trained version's
    lists for ``users`` when already computed (the evaluate stage's, reused by the gate)."""

    split: TimeSplit
    users: np.ndarray
    relevant: Relevant
    cold_start: np.ndarray
    popularity: np.ndarray
    k: int
    exclude_seen: bool
    lists: TopK | None = None

    @property
    def catalogue(self) -> np.ndarray:
        return self.split.catalogue

    @property
    def train(self) -> RankingData:
        """The data as known at the cut-off: what a recommender is fitted on and ranks from."""
        return self.split.train

    @property
    def evaluated(self) -> int:
        """Users with at least one relevant item in the period."""
        return int((np.diff(self.relevant.indptr) > 0).sum())

    def recommend(self, model: Recommender, users: np.ndarray | None = None) -> tuple[TopK, int]:
        """`model`'s top k for ``users`` (default: all the holdout's users) from the data as
        known at the cut-off, on the split's catalogue; and how many recommended items that
        catalogue lacks (they become padding)."""
        users = self.users if users is None else users
        top = model.recommend(self.train, users, self.k, exclude_seen=self.exclude_seen)
        if not isinstance(top, TopK):
            raise InvalidInputError(
                "the recommender's recommend() returned the wrong type",
                expected="an opsloop.ranking.data.TopK",
                got=type(top).__name__,
            )
        if top.k < self.k or not np.array_equal(np.asarray(top.users), np.asarray(users)):
            raise InvalidInputError(
                "the recommender's lists do not match what was asked",
                expected=f"{len(users)} lists of {self.k} items, for the users asked, in order",
                got=f"{len(top.users)} lists of {top.k} items",
                fix="return one row per user asked, in the order given, k items long",
            )
        if top.k > self.k:
            top = TopK(top.users, top.items[:, : self.k], top.scores[:, : self.k], top.catalogue)
        return top.reindex(self.catalogue)

    def lists_of(self, model: Recommender, known: TopK | None = None) -> tuple[TopK, int]:
        """`model`'s lists for every holdout user, reusing the rows of ``known`` (lists the
        same model made on this split for some of them) and recommending for the rest."""
        if known is None or not np.array_equal(known.catalogue, self.catalogue):
            return self.recommend(model)
        at = pd.Index(known.users).get_indexer(self.users)
        missing = self.users[at < 0]
        if len(missing) == 0:
            return _take(known, at), 0
        extra, lost = self.recommend(model, missing)
        both = _stack(known, extra)
        return _take(both, pd.Index(both.users).get_indexer(self.users)), lost

    def per_user(self, top: TopK) -> PerUser:
        """Every per-user metric of ``top`` (lists for ``users``, in order)."""
        return per_user_metrics(top, self.relevant, k=self.k, popularity=self.popularity)

    def metrics(self, per_user: PerUser) -> RankingMetrics:
        return summarize(per_user, cold_start=self.cold_start)

    def with_users(self, extra: np.ndarray) -> RankingHoldout:
        """The holdout with ``extra`` users added (those the data knows: in the users table
        or with an interaction before the cut-off); they have no relevant item."""
        train = self.train
        known = pd.Index(train.users[train.user_column]).append(
            pd.Index(train.interactions[train.user_column])
        )
        wanted = pd.Index(pd.unique(pd.Series(np.asarray(extra))))
        add = wanted[wanted.isin(known) & ~wanted.isin(self.users)].to_numpy()
        if len(add) == 0:
            return self
        users = np.concatenate([self.users, add])
        order = np.argsort(users, kind="stable")
        users = users[order]
        counts = np.concatenate([np.diff(self.relevant.indptr), np.zeros(len(add), np.int64)])
        # the holdout's users are sorted, so its rows keep their order (and the CSR its
        # indices): only empty rows are inserted among them
        indptr = np.zeros(len(users) + 1, dtype=np.int64)
        np.cumsum(counts[order], out=indptr[1:])
        relevant = Relevant(users, indptr, self.relevant.indices, self.relevant.gains)
        returning = pd.Index(train.interactions[train.user_column].unique())
        cold = np.concatenate([self.cold_start, ~pd.Index(add).isin(returning)])[order]
        return replace(self, users=users, relevant=relevant, cold_start=cold)

    def user_frame(self) -> pd.DataFrame:
        """One row per holdout user, in order: the users table's columns (missing for a user
        not in it) and ``history`` = new | returning (no interaction before the cut-off, or
        some): the frame the gate's slices are taken from."""
        table = self.train.users
        column = self.train.user_column
        frame = (
            table.drop_duplicates(column)
            .set_index(column)
            .reindex(pd.Index(self.users, name=column))
            .reset_index()
        )
        frame[HISTORY_SLICE] = np.where(self.cold_start, "new", "returning")
        return frame


def _take(top: TopK, rows: np.ndarray) -> TopK:
    return TopK(top.users[rows], top.items[rows], top.scores[rows], top.catalogue)


def _stack(a: TopK, b: TopK) -> TopK:
    return TopK(
        np.concatenate([a.users, b.users]),
        np.vstack([a.items, b.items]),
        np.vstack([a.scores, b.scores]),
        a.catalogue,
    )


def cutoff_for(times: pd.Series, end: datetime, holdout: pd.Timedelta) -> pd.Timestamp:
    """``end - holdout`` as a timestamp comparable with ``times``: UTC-aware for a column
    with a time zone, naive UTC for a naive one (naive times are read as UTC)."""
    at = pd.Timestamp(end)
    at = at.tz_localize("UTC") if at.tzinfo is None else at.tz_convert("UTC")
    at = at - holdout
    if getattr(times.dtype, "tz", None) is None:
        return at.tz_localize(None)
    return at


def ranking_holdout(data: RankingData, cfg: RankingConfig, end: datetime) -> RankingHoldout:
    """The split of a training window's data at ``end - ranking.holdout`` and its evaluation
    users (`ranking.split.time_split` with the project's `min_rating` and `exclude_seen`)."""
    horizon = pd.Timedelta(cfg.holdout)
    cutoff = cutoff_for(data.interactions[data.time_column], end, horizon)
    split = time_split(
        data, cutoff, horizon, min_rating=cfg.min_rating, exclude_seen=cfg.exclude_seen
    )
    popularity = popularity_counts(
        split.train.interactions, item_column=data.item_column, catalogue=split.catalogue
    )
    return RankingHoldout(
        split=split,
        users=split.relevant.users,
        relevant=split.relevant,
        cold_start=split.cold_start,
        popularity=popularity,
        k=cfg.k,
        exclude_seen=cfg.exclude_seen,
    )
