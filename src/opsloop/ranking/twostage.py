"""The two-stage recommender: bounded candidates per user, then a gradient-boosted ranker
over user × item features (docs/ranking.md, "The recommender")."""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import pandas as pd

from opsloop.errors import ConfigError, InvalidInputError, StateError
from opsloop.ranking._arrays import contains, rank_in_groups, top_k
from opsloop.ranking._candidates import Candidates, generate, limit
from opsloop.ranking._context import Context, Settings, build_context, top_or_pad
from opsloop.ranking._features import feature_names, features
from opsloop.ranking._history import encode, newest, require_columns
from opsloop.ranking._scoring import score_in_blocks
from opsloop.ranking.data import RankingData, TopK


@dataclass(frozen=True)
class TrainingSummary:
    """What the ranker was fitted on: users and rows sampled, positives among them, and the
    candidate recall (share of the label window's interactions the candidates contained)."""

    label_start: pd.Timestamp
    users: int
    rows: int
    positives: int
    candidate_recall: float


def _feature_columns(frame: pd.DataFrame, skip: set[str]) -> tuple[str, ...]:
    """Numeric, boolean and date-time columns, in table order."""
    return tuple(
        str(c)
        for c in frame.columns
        if c not in skip
        and (
            pd.api.types.is_numeric_dtype(frame[c].dtype)
            or pd.api.types.is_datetime64_any_dtype(frame[c].dtype)
        )
    )


class TwoStageRecommender:
    """Candidates from cheap sources, ranked by a HistGradientBoostingClassifier.

    Stage one (per user, bounded): the ``n_area`` most popular items among users of the same
    ``area_column`` value, the ``n_global`` most popular overall, the ``n_category`` most
    popular of each of the user's two favourite ``category_column`` values, ``n_covisit``
    co-visitation neighbours of the user's ``covisit_recent`` latest items, the ``n_new``
    newest items (``item_date_column``, else first interaction) in the user's area, and the
    user's own ``n_history`` latest items (dropped again when ``exclude_seen``).
    ``max_candidates`` (None: no cap) is the most candidates per user stage two ranks (and
    is fitted on): a user with more keeps those holding the best places in their sources
    (`_candidates.limit`). opsloop sets it from ``ranking.candidates`` when it trains the
    model (docs/ranking.md).

    Stage two: a pointwise classifier of "the user interacts with this candidate within
    ``label_days``", fitted on the last ``label_days`` of the history as labels and the
    history before them as features (up to ``max_train_users`` users, all their positive
    candidates and ``negatives`` sampled negative candidates each). Features: the user's
    history share in the item's category and area, area match, popularity (recent, all,
    trend, within the user's area), mean rating, the item's age, co-visitation score, the
    candidate sources, the numeric/date columns of the items table (``item_features``: raw
    and minus the user's historical mean, e.g. price fit) and of the users table
    (``user_features``); None picks every numeric or date-time column.

    ``n_threads``: the OpenMP threads of the ranker's fit (None: one) and the worker threads
    recommend scores candidate rows on, in blocks, each with one OpenMP thread (None: one
    per core; `opsloop.ranking._scoring`). The fit is small (seconds on one core), and on a
    machine loaded by other processes OpenMP's parallel regions wait on descheduled
    threads: there one thread fitted it ~10-40x faster than two (docs/ranking.md).

    Users not in the users table and without history are unknown: they get the fallback,
    the global popularity ranking (scores: interactions in the last ``recent_days``).
    """

    def __init__(
        self,
        *,
        area_column: str | None = None,
        category_column: str | None = None,
        item_date_column: str | None = None,
        user_features: Sequence[str] | None = None,
        item_features: Sequence[str] | None = None,
        recent_days: float = 30.0,
        new_days: float = 30.0,
        label_days: float = 28.0,
        n_area: int = 30,
        n_global: int = 5,
        n_category: int = 15,
        n_local: int = 10,
        n_covisit: int = 20,
        n_new: int = 20,
        n_history: int = 20,
        max_candidates: int | None = None,
        covisit_recent: int = 5,
        covisit_neighbours: int = 30,
        negatives: int = 20,
        max_train_users: int = 10_000,
        max_iter: int = 60,
        learning_rate: float = 0.15,
        max_leaf_nodes: int = 15,
        early_stopping: bool = False,
        chunk_users: int = 10_000,
        n_threads: int | None = None,
        seed: int = 0,
    ) -> None:
        self.area_column = area_column
        self.category_column = category_column
        self.item_date_column = item_date_column
        self.user_features = user_features
        self.item_features = item_features
        self.recent_days = recent_days
        self.new_days = new_days
        self.label_days = label_days
        self.n_area = n_area
        self.n_global = n_global
        self.n_category = n_category
        self.n_local = n_local
        self.n_covisit = n_covisit
        self.n_new = n_new
        self.n_history = n_history
        self.max_candidates = max_candidates
        self.covisit_recent = covisit_recent
        self.covisit_neighbours = covisit_neighbours
        self.negatives = negatives
        self.max_train_users = max_train_users
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.early_stopping = early_stopping
        self.chunk_users = chunk_users
        self.n_threads = n_threads
        self.seed = seed

    def _settings(self, data: RankingData) -> Settings:
        cap = self.max_candidates
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise ConfigError(
                "The max_candidates parameter of TwoStageRecommender must be a positive "
                f"integer or None. Got {cap!r} instead.",
                fix="pass the most candidates per user stage two may rank, e.g. 100",
            )
        named = {self.area_column, self.category_column, data.user_column, data.item_column}
        user_cols = [c for c in (self.area_column,) if c is not None]
        require_columns(data.users, user_cols + list(self.user_features or ()), "users")
        item_cols = [c for c in (self.category_column, self.item_date_column) if c is not None]
        require_columns(data.items, item_cols + list(self.item_features or ()), "items")
        return Settings(
            area_column=self.area_column,
            category_column=self.category_column,
            item_date_column=self.item_date_column,
            recent_days=float(self.recent_days),
            new_days=float(self.new_days),
            n_area=self.n_area,
            n_global=self.n_global,
            n_category=self.n_category,
            n_local=self.n_local,
            n_covisit=self.n_covisit,
            n_new=self.n_new,
            n_history=self.n_history,
            covisit_recent=self.covisit_recent,
            covisit_neighbours=self.covisit_neighbours,
            user_numeric=tuple(self.user_features)
            if self.user_features is not None
            else _feature_columns(data.users, {c for c in named if c}),
            item_numeric=tuple(self.item_features)
            if self.item_features is not None
            else _feature_columns(data.items, {c for c in named if c}),
            max_candidates=cap,
        )

    def fit(self, data: RankingData) -> Self:
        settings = self._settings(data)
        now = newest(data)
        label_start = now - pd.Timedelta(days=self.label_days)
        history = encode(data, before=label_start)
        ctx = build_context(data, history, settings)
        inter = data.interactions
        later = inter.loc[(inter[data.time_column] >= label_start).to_numpy()]
        user = history.positions(later[data.user_column].to_numpy())
        item = pd.Index(history.catalogue).get_indexer(later[data.item_column])
        ok = (user >= 0) & (item >= 0)
        labels = np.unique(user[ok] * history.n_items + item[ok])
        if len(labels) == 0:
            raise InvalidInputError(
                "No interaction of a known user in the label window to fit the ranker on",
                expected=f"interactions in the last {self.label_days} days before {now}",
                got="none",
                fix="pass more history or lower label_days",
            )
        rng = np.random.default_rng(self.seed)
        users = np.unique(labels // history.n_items)
        if len(users) > self.max_train_users:
            users = np.sort(rng.choice(users, self.max_train_users, replace=False))
        x_parts, y_parts, g_parts, found = [], [], [], 0
        for start in range(0, len(users), self.chunk_users):
            positions = users[start : start + self.chunk_users]
            cand = limit(generate(ctx, settings, positions), settings.max_candidates)
            y = contains(labels, positions[cand.row] * history.n_items + cand.item)
            found += int(y.sum())
            keep = self._sample(cand.row, y, rng)
            picked = cand.subset(keep)
            x_parts.append(features(ctx, positions, picked))
            y_parts.append(y[keep])
            g_parts.append(positions[picked.row])
        x, y = np.concatenate(x_parts), np.concatenate(y_parts)
        # a feature the data cannot have (e.g. area match without an items area column) is
        # all NaN: scikit-learn cannot bin it, and a constant is as uninformative
        x[:, np.isnan(x).all(axis=0)] = 0.0
        wanted = int(contains(users, labels // history.n_items).sum())
        self.settings_ = settings
        self.feature_names_ = feature_names(settings)
        self.model_ = self._fit_ranker(x, y, np.concatenate(g_parts))
        self.training_ = TrainingSummary(
            label_start=label_start,
            users=len(users),
            rows=len(y),
            positives=int(y.sum()),
            candidate_recall=found / wanted if wanted else 0.0,
        )
        return self

    def _fit_ranker(self, x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> Any:
        """The stage-two model on candidate rows ``x`` (labels ``y``; ``groups``: the user
        of each row, rows of a user contiguous)."""
        from sklearn.ensemble import HistGradientBoostingClassifier

        model = HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            early_stopping=self.early_stopping,
            validation_fraction=0.1,
            n_iter_no_change=10,
            random_state=self.seed,
        )
        with _openmp(self.n_threads if self.n_threads is not None else 1):
            return model.fit(x, y)

    def _score(self, ctx: Context, positions: np.ndarray, cand: Candidates) -> np.ndarray:
        """Stage two's score of each candidate (higher is better): features built and
        predicted in blocks of rows on ``n_threads`` worker threads (None: one per core),
        one OpenMP thread each."""

        def score_rows(lo: int, hi: int) -> np.ndarray:
            x = features(ctx, positions, cand.subset(slice(lo, hi)))
            return np.asarray(self.model_.predict_proba(x)[:, 1], dtype=np.float64)

        workers = self.n_threads if self.n_threads is not None else _cores()
        if workers <= 1:
            with _openmp(1):
                return score_in_blocks(score_rows, len(cand.row))
        return score_in_blocks(score_rows, len(cand.row), workers=workers)

    def _sample(self, row: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """All positives of users with one, and up to ``negatives`` random negatives each."""
        has_positive = np.bincount(row, weights=y, minlength=int(row.max(initial=-1)) + 1) > 0
        eligible = has_positive[row]
        draw = rng.random(len(row))
        order = np.lexsort((draw, y, row))  # per row: negatives first, in random order
        rank = rank_in_groups(row[order])
        chosen = np.zeros(len(row), dtype=bool)
        chosen[order] = rank < self.negatives
        return np.asarray(eligible & (y | chosen), dtype=bool)

    def recommend(
        self, data: RankingData, users: np.ndarray, k: int, *, exclude_seen: bool = True
    ) -> TopK:
        if not hasattr(self, "model_"):
            raise StateError(
                "This TwoStageRecommender is not fitted", fix="call fit(data) before recommend()"
            )
        settings: Settings = self.settings_
        history = encode(data)
        ctx = build_context(data, history, settings)
        users = np.asarray(users)
        position = history.positions(users)
        items = np.full((len(users), k), -1, dtype=np.int64)
        scores = np.full((len(users), k), np.nan)
        known = position >= 0
        distinct, back = np.unique(position[known], return_inverse=True)
        ranked = np.full((len(distinct), k), -1, dtype=np.int64)
        ranked_scores = np.full((len(distinct), k), np.nan)
        for start in range(0, len(distinct), self.chunk_users):
            rows = slice(start, start + self.chunk_users)
            ranked[rows], ranked_scores[rows] = self._rank(ctx, distinct[rows], k, exclude_seen)
        items[known], scores[known] = ranked[back], ranked_scores[back]
        if not known.all():
            items[~known], scores[~known] = _fallback(ctx, k, int((~known).sum()))
        return TopK(users=users, items=items, scores=scores, catalogue=history.catalogue)

    def _rank(
        self, ctx: Context, positions: np.ndarray, k: int, exclude_seen: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        cand = generate(ctx, self.settings_, positions)
        if exclude_seen:
            seen = contains(
                ctx.user_item.keys, positions[cand.row] * ctx.history.n_items + cand.item
            )
            cand = cand.subset(~seen)
        cand = limit(cand, self.settings_.max_candidates)
        if len(cand.row) == 0:
            return top_k(cand.row, cand.item, np.zeros(0), len(positions), k)
        score = self._score(ctx, positions, cand)
        return top_k(cand.row, cand.item, score, len(positions), k)


def _openmp(threads: int) -> AbstractContextManager[object]:
    """OpenMP (the ranker's threads) capped at ``threads`` while the context is open."""
    from threadpoolctl import threadpool_limits

    limits: AbstractContextManager[object] = threadpool_limits(limits=threads, user_api="openmp")
    return limits


def _cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _fallback(ctx: Context, k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The global popularity ranking of available items, for every unknown user."""
    top = top_or_pad(ctx.segment_recent[ctx.n_segments :], k)[0]
    top = top[top >= 0]
    items = np.full((n, k), -1, dtype=np.int64)
    scores = np.full((n, k), np.nan)
    items[:, : len(top)] = top
    scores[:, : len(top)] = np.floor(ctx.segment_recent[ctx.n_segments, top])
    return items, scores
