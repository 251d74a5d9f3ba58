"""Vectorised group operations the recommenders are built from (no per-user Python loop)."""

from __future__ import annotations

import numpy as np

from opsloop.ranking.data import PAD


def rank_in_groups(groups: np.ndarray) -> np.ndarray:
    """0, 1, 2, … within each run of equal values of the sorted ``groups``."""
    n = len(groups)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.ones(n, dtype=bool)
    starts[1:] = groups[1:] != groups[:-1]
    first = np.flatnonzero(starts)
    run = np.cumsum(starts) - 1
    return np.asarray(np.arange(n, dtype=np.int64) - first[run], dtype=np.int64)


def top_per_group(
    groups: np.ndarray, values: np.ndarray, scores: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``n`` highest-scoring ``values`` of each group (ties: smaller value first), as
    (groups, values, scores) sorted by group then descending score."""
    order = np.lexsort((values, -scores, groups))
    groups, values, scores = groups[order], values[order], scores[order]
    keep = rank_in_groups(groups) < n
    return groups[keep], values[keep], scores[keep]


def top_per_sorted_group(
    groups: np.ndarray, values: np.ndarray, scores: np.ndarray, n: int, *, cells: int = 1 << 22
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`top_per_group` (same output) for entries already sorted by group, then value — a
    CSR matrix's rows, columns and data — without sorting them all: a group's ``n``-th
    largest score is found by `np.partition` over groups padded into dense blocks of at
    most ``cells`` cells, every entry above it is kept, and of the entries equal to it the
    first ones (smaller values) up to ``n``. Only the kept entries are sorted. Scores must
    be finite."""
    size = len(groups)
    if size == 0 or n <= 0:
        return groups[:0], values[:0], scores[:0]
    starts = np.flatnonzero(np.concatenate([[True], groups[1:] != groups[:-1]]))
    lengths = np.diff(np.append(starts, size))
    run = np.repeat(np.arange(len(starts)), lengths)  # each entry's group, counted 0, 1, …
    threshold = np.full(len(starts), -np.inf)
    long = np.flatnonzero(lengths > n)
    if len(long):
        width = int(lengths[long].max())
        per_block = max(1, cells // width)
        for lo in range(0, len(long), per_block):
            block = long[lo : lo + per_block]
            padded = np.full((len(block), width), np.inf)
            owner = np.repeat(np.arange(len(block)), lengths[block])
            offset = rank_in_groups(owner)
            at = np.repeat(starts[block], lengths[block]) + offset
            padded[owner, offset] = -scores[at]
            threshold[block] = -np.partition(padded, n - 1, axis=1)[:, n - 1]
    limit = threshold[run]
    above = scores > limit
    tied = scores == limit
    room = n - np.bincount(run[above], minlength=len(starts))
    tie_rank = np.zeros(size, dtype=np.int64)
    tie_rank[tied] = rank_in_groups(run[tied])  # ties in value order (sorted within groups)
    keep = above | (tied & (tie_rank < room[run]))
    groups, values, scores = groups[keep], values[keep], scores[keep]
    order = np.lexsort((values, -scores, groups))
    return groups[order], values[order], scores[order]


def lookup(
    sorted_keys: np.ndarray, table: np.ndarray, keys: np.ndarray, default: float
) -> np.ndarray:
    """``table[j]`` where ``sorted_keys[j] == key``, else ``default``, for each key."""
    if len(sorted_keys) == 0:
        return np.full(len(keys), default, dtype=np.float64)
    at = np.searchsorted(sorted_keys, keys)
    at_clipped = np.minimum(at, len(sorted_keys) - 1)
    found = sorted_keys[at_clipped] == keys
    return np.where(found, table[at_clipped], default).astype(np.float64)


def contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Whether each key is in ``sorted_keys`` (sorted, unique)."""
    if len(sorted_keys) == 0:
        return np.zeros(len(keys), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return np.asarray(sorted_keys[at] == keys, dtype=bool)


def top_k(
    rows: np.ndarray, items: np.ndarray, scores: np.ndarray, n_rows: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per row ``0..n_rows-1``, its ``k`` best (item, score) among the flat candidates,
    best first (equal scores, also at the k-th place: smaller item position first);
    ``PAD``/NaN where a row has fewer. Scores must be finite.

    A row's list depends only on its own candidates — not on the other rows scored with
    it, so chunks of users (or Spark partitions) give the same lists as one call. The cut
    is `top_per_sorted_group`'s: one partition per row, a sort of the k kept per row only
    (the candidates come sorted by row, then item; others are sorted first)."""
    out_items = np.full((n_rows, k), PAD, dtype=np.int64)
    out_scores = np.full((n_rows, k), np.nan, dtype=np.float64)
    if len(rows) == 0 or k == 0:
        return out_items, out_scores
    if not _sorted_pairs(rows, items):
        order = np.lexsort((items, rows))
        rows, items, scores = rows[order], items[order], scores[order]
    rows, items, scores = top_per_sorted_group(rows, items, scores, k)
    column = rank_in_groups(rows)
    out_items[rows, column] = items
    out_scores[rows, column] = scores
    return out_items, out_scores


def _sorted_pairs(rows: np.ndarray, items: np.ndarray) -> bool:
    """Whether the (row, item) pairs are sorted by row, then item."""
    step = np.diff(rows)
    return bool(((step > 0) | ((step == 0) & (np.diff(items) >= 0))).all())
