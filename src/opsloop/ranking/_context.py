"""What the two-stage recommender knows at one moment: the statistics of the history its
candidates and features are computed from, built once per fit or recommend call."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from opsloop.ranking._arrays import rank_in_groups, top_per_sorted_group
from opsloop.ranking._history import History, age_days
from opsloop.ranking._popular import MAX_SEGMENT_CELLS, popularity, segment_codes, top_items
from opsloop.ranking.data import PAD, RankingData


@dataclass(frozen=True)
class Settings:
    """The two-stage recommender's parameters that shape candidates and features."""

    area_column: str | None
    category_column: str | None
    item_date_column: str | None
    recent_days: float
    new_days: float
    n_area: int
    n_global: int
    n_category: int
    n_local: int
    n_covisit: int
    n_new: int
    n_history: int
    covisit_recent: int
    covisit_neighbours: int
    user_numeric: tuple[str, ...]
    item_numeric: tuple[str, ...]
    # at most this many candidates per user reach stage two (None: every source's whole
    # list); a default, so that models pickled before it load as uncapped
    max_candidates: int | None = None

    @property
    def most_candidates(self) -> int:
        """The most candidates the sources can give one user, before overlaps."""
        return (
            self.n_area
            + self.n_global
            + 2 * (self.n_category + self.n_local)
            + self.n_covisit
            + self.n_new
            + self.n_history
        )


@dataclass(frozen=True)
class Keyed:
    """Counts per integer key (sorted unique keys)."""

    keys: np.ndarray
    counts: np.ndarray


@dataclass(frozen=True)
class Context:
    history: History
    available: np.ndarray  # items that may be recommended (opened by now)
    # items
    pop_recent: np.ndarray
    pop_all: np.ndarray
    pop_previous: np.ndarray
    item_rating: np.ndarray
    item_first_age: np.ndarray
    item_age: np.ndarray  # days since opening (item_date_column) or first interaction
    item_last_age: np.ndarray
    item_values: np.ndarray  # (n_items, len(item_numeric) + dates)
    item_category: np.ndarray  # codes, -1 unknown
    item_area: np.ndarray  # codes shared with user_area, -1 unknown
    # users
    user_segment: np.ndarray  # codes of the users' area, -1 unknown
    n_segments: int
    segment_recent: np.ndarray  # (n_segments + 1, n_items) recent popularity per segment
    user_area: np.ndarray
    user_count: np.ndarray
    user_last_age: np.ndarray
    user_values: np.ndarray  # (n_users, len(user_numeric) + dates)
    user_item_means: np.ndarray  # (n_users, len(item_numeric)) means over the history
    user_item: Keyed  # user * n_items + item
    user_category: Keyed  # user * n_categories + category
    user_in_area: Keyed  # user * n_areas + item area
    n_categories: int
    n_areas: int
    # candidate lists
    segment_top: np.ndarray  # (n_segments + 1, max(n_area, n_global)); last row global
    category_top: np.ndarray  # (n_categories, n_category)
    local_top: np.ndarray  # (n_areas * n_categories, n_local): per item area and category
    area_new: np.ndarray  # (n_areas + 1, n_new): newest available items per item area
    user_top_categories: tuple[np.ndarray, np.ndarray]  # (users, categories), 2 per user
    recent_pairs: tuple[np.ndarray, np.ndarray]  # (users, items): last distinct items
    history_pairs: tuple[np.ndarray, np.ndarray]
    neighbours: tuple[np.ndarray, np.ndarray, np.ndarray]  # (item, neighbour, similarity)


def _keyed(keys: np.ndarray) -> Keyed:
    uniq, counts = np.unique(keys, return_counts=True)
    return Keyed(uniq, counts.astype(np.float64))


def _codes(values: np.ndarray, uniques: pd.Index) -> np.ndarray:
    return np.asarray(uniques.get_indexer(values), dtype=np.int64)


def _table_values(frame: pd.DataFrame, columns: tuple[str, ...], now: pd.Timestamp) -> np.ndarray:
    """The named columns as float64 (date-times as their age in days)."""
    out = np.full((len(frame), len(columns)), np.nan)
    for j, name in enumerate(columns):
        col = frame[name]
        if pd.api.types.is_datetime64_any_dtype(col.dtype):
            out[:, j] = age_days(col, now, name)
        else:
            out[:, j] = col.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def top_or_pad(scores: np.ndarray, n: int) -> np.ndarray:
    """`top_items`, with ``PAD`` where a row has fewer than ``n`` finite scores."""
    top = top_items(scores, n)
    picked = np.take_along_axis(scores, top, axis=1)
    return np.where(np.isfinite(picked), top, PAD)


def _last_distinct(history: History, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each user's ``n`` most recent distinct items."""
    order = np.lexsort((history.age, history.user))
    user, item = history.user[order], history.item[order]
    keys = user * history.n_items + item
    _, first = np.unique(keys, return_index=True)
    first.sort()
    user, item = user[first], item[first]
    keep = rank_in_groups(user) < n
    return user[keep], item[keep]


def _neighbours(history: History, settings: Settings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Item-item co-visitation: for each item, the ``covisit_neighbours`` items most often
    visited by the same users (counts over each user's 50 latest distinct items, cosine
    normalised)."""
    from scipy import sparse

    user, item = _last_distinct(history, 50)
    n_items = history.n_items
    if len(user) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    matrix = sparse.csr_matrix(
        (np.ones(len(user), dtype=np.float32), (user, item)), shape=(history.n_users, n_items)
    )
    co = (matrix.T @ matrix).tocsr()
    co.sort_indices()  # rows, then columns: what top_per_sorted_group needs, without a sort
    src = np.repeat(np.arange(n_items, dtype=np.int64), np.diff(co.indptr))
    dst = co.indices.astype(np.int64)
    off = src != dst
    src, dst, val = src[off], dst[off], co.data[off]
    degree = np.bincount(item, minlength=n_items).astype(np.float64)
    sim = val / np.sqrt(degree[src] * degree[dst])
    return top_per_sorted_group(src, dst, sim, settings.covisit_neighbours)


def build_context(data: RankingData, history: History, settings: Settings) -> Context:
    n_items, n_users = history.n_items, history.n_users
    now = history.now
    items, users = data.items, data.users
    recent = history.recent(settings.recent_days)
    previous = (~recent) & history.recent(2 * settings.recent_days)
    counts_all = np.bincount(history.item, minlength=n_items).astype(np.float64)
    first_age = np.full(n_items, np.nan)
    last_age = np.full(n_items, np.nan)
    np.fmax.at(first_age, history.item, history.age)
    np.fmin.at(last_age, history.item, history.age)
    rating = np.full(n_items, np.nan)
    if history.rating is not None:
        sums = np.bincount(history.item, weights=history.rating, minlength=n_items)
        rating = np.divide(sums, counts_all, out=rating, where=counts_all > 0)

    available = np.ones(n_items, dtype=bool)
    item_age = first_age  # days since the item's first interaction: an item's age
    if settings.item_date_column is not None:
        item_age = age_days(items[settings.item_date_column], now, settings.item_date_column)
        available = ~(item_age < 0)
    item_age = np.where(np.isnan(item_age), 0.0, item_age)  # never seen: brand new

    # categories and areas
    n_categories, item_category = 0, np.full(n_items, -1, dtype=np.int64)
    if settings.category_column is not None:
        cats = pd.Index(items[settings.category_column].dropna().unique())
        n_categories = len(cats)
        item_category = _codes(items[settings.category_column].to_numpy(), cats)
    user_segment, n_segments = np.full(n_users, -1, dtype=np.int64), 0
    item_area = np.full(n_items, -1, dtype=np.int64)
    user_area, n_areas = user_segment, 0
    if settings.area_column is not None:
        user_segment, n_segments = segment_codes(history, users, settings.area_column)
        if settings.area_column in items.columns:
            areas = pd.Index(
                pd.concat([users[settings.area_column], items[settings.area_column]])
                .dropna()
                .unique()
            )
            n_areas = len(areas)
            item_area = _codes(items[settings.area_column].to_numpy(), areas)
            user_area = np.full(n_users, -1, dtype=np.int64)
            user_area[: history.n_table_users] = _codes(
                users[settings.area_column].to_numpy(), areas
            )

    seg_scores = popularity(history, settings.recent_days, user_segment, n_segments)
    seg_scores[:, ~available] = -np.inf
    cat_top = np.zeros((n_categories, 0), dtype=np.int64)
    if n_categories:
        cat_scores = np.full((n_categories, n_items), -np.inf)
        has = (item_category >= 0) & available
        cat_scores[item_category[has], np.flatnonzero(has)] = seg_scores[n_segments, has]
        cat_top = top_or_pad(cat_scores, settings.n_category)
    local_top = np.zeros((n_areas * n_categories, 0), dtype=np.int64)
    if n_categories and n_areas and n_areas * n_categories * n_items <= MAX_SEGMENT_CELLS:
        local_scores = np.full((n_areas * n_categories, n_items), -np.inf)
        has = (item_category >= 0) & (item_area >= 0) & available
        cell = item_area[has] * n_categories + item_category[has]
        local_scores[cell, np.flatnonzero(has)] = seg_scores[n_segments, has]
        local_top = top_or_pad(local_scores, settings.n_local)
    new_scores = np.full((n_areas + 1, n_items), -np.inf)
    fresh = available & (item_age < settings.new_days)
    new_scores[n_areas, fresh] = -item_age[fresh]
    in_area = fresh & (item_area >= 0)
    new_scores[item_area[in_area], np.flatnonzero(in_area)] = -item_age[in_area]

    user_count = np.bincount(history.user, minlength=n_users).astype(np.float64)
    user_last_age = np.full(n_users, np.nan)
    np.fmin.at(user_last_age, history.user, history.age)
    item_values = _table_values(items, settings.item_numeric, now)
    user_values = np.full((n_users, len(settings.user_numeric)), np.nan)
    user_values[: history.n_table_users] = _table_values(users, settings.user_numeric, now)
    numeric_items = len(settings.item_numeric)
    means = np.full((n_users, numeric_items), np.nan)
    for j in range(numeric_items):
        value = item_values[history.item, j]
        ok = ~np.isnan(value)
        total = np.bincount(history.user[ok], weights=value[ok], minlength=n_users)
        count = np.bincount(history.user[ok], minlength=n_users)
        means[:, j] = np.divide(total, count, out=means[:, j], where=count > 0)

    cat_keys = history.user * max(n_categories, 1) + item_category[history.item]
    user_category = _keyed(cat_keys[item_category[history.item] >= 0])
    top_cat_user, top_cat = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if n_categories:
        owner = user_category.keys // n_categories
        top_cat_user, top_cat, _ = top_per_sorted_group(
            owner, user_category.keys % n_categories, user_category.counts, 2
        )
    area_keys = history.user * max(n_areas, 1) + item_area[history.item]
    return Context(
        history=history,
        available=available,
        pop_recent=np.bincount(history.item[recent], minlength=n_items).astype(np.float64),
        pop_all=counts_all,
        pop_previous=np.bincount(history.item[previous], minlength=n_items).astype(np.float64),
        item_rating=rating,
        item_first_age=first_age,
        item_age=item_age,
        item_last_age=last_age,
        item_values=item_values,
        item_category=item_category,
        item_area=item_area,
        user_segment=user_segment,
        n_segments=n_segments,
        segment_recent=seg_scores,
        user_area=user_area,
        user_count=user_count,
        user_last_age=user_last_age,
        user_values=user_values,
        user_item_means=means,
        user_item=_keyed(history.user * n_items + history.item),
        user_category=user_category,
        user_in_area=_keyed(area_keys[item_area[history.item] >= 0]),
        n_categories=n_categories,
        n_areas=n_areas,
        segment_top=top_or_pad(seg_scores, max(settings.n_area, settings.n_global)),
        category_top=cat_top,
        local_top=local_top,
        area_new=top_or_pad(new_scores, settings.n_new),
        user_top_categories=(top_cat_user, top_cat),
        recent_pairs=_last_distinct(history, settings.covisit_recent),
        history_pairs=_last_distinct(history, settings.n_history),
        neighbours=_neighbours(history, settings),
    )
