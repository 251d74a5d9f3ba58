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
    best first (equal scores: smaller item position first, except that which of several
    items tied at the k-th place gets in is argpartition's — deterministic for the same
    input); ``PAD``/NaN where a row has fewer. Scores must be finite.

    The candidates are laid into an ``(n_rows, width)`` matrix and cut with argpartition,
    so the cost is one pass over the candidates, whatever the number of rows."""
    out_items = np.full((n_rows, k), PAD, dtype=np.int64)
    out_scores = np.full((n_rows, k), np.nan, dtype=np.float64)
    if len(rows) == 0 or k == 0:
        return out_items, out_scores
    order = np.lexsort((items, rows))
    rows, items, scores = rows[order], items[order], scores[order]
    column = rank_in_groups(rows)
    width = max(int(column.max()) + 1, k)
    matrix = np.full((n_rows, width), -np.inf)
    matrix[rows, column] = scores
    ids = np.full((n_rows, width), np.iinfo(np.int64).max, dtype=np.int64)
    ids[rows, column] = items
    if width > k:
        part = np.argpartition(-matrix, k - 1, axis=1)[:, :k]
        matrix = np.take_along_axis(matrix, part, axis=1)
        ids = np.take_along_axis(ids, part, axis=1)
    best = np.lexsort((ids, -matrix), axis=1)
    matrix = np.take_along_axis(matrix, best, axis=1)
    ids = np.take_along_axis(ids, best, axis=1)
    valid = np.isfinite(matrix)
    out_items[valid] = ids[valid]
    out_scores[valid] = matrix[valid]
    return out_items, out_scores
