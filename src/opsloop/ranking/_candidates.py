"""Stage one: a bounded candidate set per user, the union of a few cheap sources.

Sources (bit flags, kept as ranker features): popular among the user's area (segment),
globally popular, popular in the user's two favourite categories, co-visitation neighbours
of the user's latest items, new items in the user's area, the user's own latest items.
At most ``n_area + n_global + 2 (n_category + n_local) + n_covisit + n_new + n_history`` per
user (`Settings.most_candidates`); ``max_candidates`` caps them (`limit`): a user keeps the
candidates holding the best places in any of their sources, as if every source's list were
cut at the same depth until the union fits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from opsloop.ranking._arrays import lookup, rank_in_groups, top_per_sorted_group
from opsloop.ranking._context import Context, Settings
from opsloop.ranking.data import PAD

AREA, GLOBAL, CATEGORY, COVISIT, NEW, HISTORY = 1, 2, 4, 8, 16, 32
SOURCES = {
    "area": AREA,
    "global": GLOBAL,
    "category": CATEGORY,
    "covisit": COVISIT,
    "new": NEW,
    "history": HISTORY,
}


@dataclass(frozen=True)
class Candidates:
    """Flat (row, item) pairs sorted by row then item; ``row`` indexes the users asked."""

    row: np.ndarray
    item: np.ndarray
    sources: np.ndarray  # bit flags
    covisit: np.ndarray  # summed co-visitation similarity (0 if none)
    place: np.ndarray  # the best place (0: first) the item holds in any of its sources

    def subset(self, keep: np.ndarray | slice) -> Candidates:
        return Candidates(
            row=self.row[keep],
            item=self.item[keep],
            sources=self.sources[keep],
            covisit=self.covisit[keep],
            place=self.place[keep],
        )


_Part = tuple[np.ndarray, np.ndarray, np.ndarray, int]  # rows, items, places, source bit


def _places(lists: np.ndarray) -> np.ndarray:
    """Each entry's column in the ``(rows, n)`` block ``lists``, flattened."""
    return np.tile(np.arange(lists.shape[1], dtype=np.int64), lists.shape[0])


def _tile(
    lists: np.ndarray, which: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows ``0..len(which)-1`` paired with the first ``n`` items of ``lists[which[r]]``."""
    block = lists[which][:, :n]
    rows = np.repeat(np.arange(len(which), dtype=np.int64), block.shape[1])
    return rows, block.ravel(), _places(block)


def _pairs_of(
    pairs: tuple[np.ndarray, np.ndarray], row_of: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    user, value = pairs
    row = row_of[user]
    mine = row >= 0
    return row[mine], value[mine]


def _expand(
    rows: np.ndarray, lists: np.ndarray, which: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    block = lists[which]
    return np.repeat(rows, block.shape[1]), block.ravel(), _places(block)


def _ranked(pairs: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, items) grouped by row, best first within a row, with their places."""
    rows, items = pairs
    return rows, items, rank_in_groups(rows)


def _covisit(ctx: Context, row_of: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows, recent = _pairs_of(ctx.recent_pairs, row_of)
    src, dst, sim = ctx.neighbours
    start = np.searchsorted(src, recent, side="left")
    stop = np.searchsorted(src, recent, side="right")
    length = stop - start
    total = int(length.sum())
    if total == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    owner = np.repeat(np.arange(len(rows)), length)
    offset = np.arange(total) - np.repeat(np.cumsum(length) - length, length)
    at = start[owner] + offset
    keys = rows[owner] * ctx.history.n_items + dst[at]
    uniq, inverse = np.unique(keys, return_inverse=True)
    score = np.bincount(inverse, weights=sim[at])
    # unique keys are sorted by row, then item: no sort of all the pairs needed
    return top_per_sorted_group(uniq // ctx.history.n_items, uniq % ctx.history.n_items, score, n)


def generate(ctx: Context, settings: Settings, positions: np.ndarray) -> Candidates:
    """Candidates for the users at ``positions`` (universe positions, all known)."""
    n_items = ctx.history.n_items
    row_of = np.full(ctx.history.n_users, -1, dtype=np.int64)
    row_of[positions] = np.arange(len(positions))
    n_rows = len(positions)
    parts: list[_Part] = []

    segment = ctx.user_segment[positions]
    parts.append(
        (
            *_tile(
                ctx.segment_top, np.where(segment >= 0, segment, ctx.n_segments), settings.n_area
            ),
            AREA,
        )
    )
    everyone = np.full(n_rows, ctx.n_segments)
    parts.append((*_tile(ctx.segment_top, everyone, settings.n_global), GLOBAL))
    if ctx.n_categories:
        rows, cats = _pairs_of(ctx.user_top_categories, row_of)
        parts.append((*_expand(rows, ctx.category_top, cats), CATEGORY))
        area_of = ctx.user_area[positions][rows]
        local = (area_of >= 0) & (ctx.local_top.shape[1] > 0)
        cells = area_of[local] * ctx.n_categories + cats[local]
        parts.append((*_expand(rows[local], ctx.local_top, cells), CATEGORY))
    area = ctx.user_area[positions]
    parts.append(
        (*_tile(ctx.area_new, np.where(area >= 0, area, ctx.n_areas), settings.n_new), NEW)
    )
    parts.append((*_ranked(_pairs_of(ctx.history_pairs, row_of)), HISTORY))
    cv_rows, cv_items, cv_score = _covisit(ctx, row_of, settings.n_covisit)
    parts.append((cv_rows, cv_items, rank_in_groups(cv_rows), COVISIT))

    rows = np.concatenate([p[0] for p in parts])
    items = np.concatenate([p[1] for p in parts])
    places = np.concatenate([p[2] for p in parts])
    bits = np.concatenate([np.full(len(p[0]), p[3], dtype=np.int64) for p in parts])
    keep = items != PAD
    keep[keep] = ctx.available[items[keep]]
    keys = rows[keep] * n_items + items[keep]
    bits, places = bits[keep], places[keep]
    order = np.argsort(keys, kind="stable")
    keys, bits, places = keys[order], bits[order], places[order]
    if len(keys):
        starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
        bits = np.bitwise_or.reduceat(bits, starts)
        places = np.minimum.reduceat(places, starts)
        keys = keys[starts]
    cv_keys = cv_rows * n_items + cv_items
    order = np.argsort(cv_keys)
    covisit = lookup(cv_keys[order], cv_score[order], keys, 0.0)
    return Candidates(
        row=keys // n_items, item=keys % n_items, sources=bits, covisit=covisit, place=places
    )


def limit(cand: Candidates, n: int | None) -> Candidates:
    """At most ``n`` candidates per row (None: all): those holding the best places in their
    sources (`Candidates.place`), then those proposed by more sources, then the smaller
    catalogue positions — a row's choice depends on its own candidates only. The kept
    candidates stay sorted by row, then item."""
    if n is None or len(cand.row) == 0:
        return cand
    per_row = np.bincount(cand.row)
    if int(per_row.max()) <= n:
        return cand
    n_sources = np.bitwise_count(cand.sources).astype(np.int64)
    order = np.lexsort((cand.item, -n_sources, cand.place, cand.row))
    keep = np.zeros(len(cand.row), dtype=bool)
    keep[order] = rank_in_groups(cand.row[order]) < n
    return cand.subset(keep)
