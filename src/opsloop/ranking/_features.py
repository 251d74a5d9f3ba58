"""Stage two's input: one row of user × item features per candidate."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from opsloop.ranking._arrays import lookup
from opsloop.ranking._candidates import SOURCES, Candidates
from opsloop.ranking._context import Context, Settings

BASE = (
    # user × item
    "seen_count",
    "category_share",
    "category_count",
    "area_match",
    "area_share",
    "segment_popularity",
    "covisit",
    "n_sources",
    *(f"from_{name}" for name in SOURCES),
    # item
    "popularity_recent",
    "popularity_all",
    "trend",
    "item_rating",
    "item_age",
    "item_last_age",
    # user
    "user_count",
    "user_last_age",
)


def feature_names(settings: Settings) -> list[str]:
    return [
        *BASE,
        *(f"item_{c}" for c in settings.item_numeric),
        *(f"fit_{c}" for c in settings.item_numeric),
        *(f"user_{c}" for c in settings.user_numeric),
    ]


def features(ctx: Context, positions: np.ndarray, cand: Candidates) -> np.ndarray:
    """``(n_candidates, n_features)`` float32, in `feature_names` order (NaN: unknown)."""
    user = positions[cand.row]
    item = cand.item
    n_items = ctx.history.n_items
    count = ctx.user_count[user]
    out = np.empty((len(item), n_features(ctx)), dtype=np.float32)
    cols = _Columns(out)
    cols.append(lookup(ctx.user_item.keys, ctx.user_item.counts, user * n_items + item, 0.0))
    category = ctx.item_category[item]
    cat_count = np.where(
        category >= 0,
        lookup(
            ctx.user_category.keys,
            ctx.user_category.counts,
            user * max(ctx.n_categories, 1) + category,
            0.0,
        ),
        np.nan,
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        cols.append(np.where(count > 0, cat_count / count, np.nan))
        cols.append(cat_count)
        item_area, user_area = ctx.item_area[item], ctx.user_area[user]
        known = (item_area >= 0) & (user_area >= 0)
        cols.append(np.where(known, (item_area == user_area).astype(np.float64), np.nan))
        in_area = lookup(
            ctx.user_in_area.keys,
            ctx.user_in_area.counts,
            user * max(ctx.n_areas, 1) + item_area,
            0.0,
        )
        cols.append(np.where((count > 0) & (item_area >= 0), in_area / count, np.nan))
        segment = ctx.user_segment[user]
        row = np.where(segment >= 0, segment, ctx.n_segments)
        cols.append(np.floor(ctx.segment_recent[row, item]))
        cols.append(cand.covisit)
        bits = cand.sources
        flags = [((bits & flag) > 0).astype(np.float64) for flag in SOURCES.values()]
        cols.append(sum(flags, np.zeros(len(item))))
        cols.extend(flags)
        cols.append(ctx.pop_recent[item])
        cols.append(ctx.pop_all[item])
        cols.append((ctx.pop_recent[item] + 1.0) / (ctx.pop_previous[item] + 1.0))
        cols.append(ctx.item_rating[item])
        cols.append(ctx.item_age[item])
        cols.append(ctx.item_last_age[item])
        cols.append(count)
        cols.append(ctx.user_last_age[user])
        values = ctx.item_values[item]
        cols.extend(values.T)
        cols.extend((values - ctx.user_item_means[user]).T)
        cols.extend(ctx.user_values[user].T)
    assert cols.filled == out.shape[1]
    return out


def n_features(ctx: Context) -> int:
    numeric = ctx.item_values.shape[1]
    return len(BASE) + 2 * int(numeric) + int(ctx.user_values.shape[1])


class _Columns:
    """Writes feature columns left to right into a preallocated float32 matrix (no
    float64 copy of the whole matrix)."""

    def __init__(self, out: np.ndarray) -> None:
        self.out = out
        self.filled = 0

    def append(self, column: np.ndarray) -> None:
        self.out[:, self.filled] = column
        self.filled += 1

    def extend(self, columns: Iterable[np.ndarray]) -> None:
        for column in columns:
            self.append(column)
