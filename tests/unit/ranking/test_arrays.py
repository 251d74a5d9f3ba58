from __future__ import annotations

import numpy as np
import pytest

from opsloop.ranking._arrays import top_k, top_per_group, top_per_sorted_group
from opsloop.ranking.data import PAD


def sorted_entries(
    rng: np.random.Generator, n_groups: int, n_values: int, density: float, levels: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random sparse matrix's (row, column, data), rows then columns sorted; scores drawn
    from ``levels`` values so that ties are common (as co-visitation counts are)."""
    dense = rng.random((n_groups, n_values)) < density
    groups, values = np.nonzero(dense)  # row-major: sorted by row, then column
    scores = rng.integers(1, levels + 1, len(groups)) / levels
    return groups.astype(np.int64), values.astype(np.int64), scores


@pytest.mark.parametrize(
    ("n_groups", "n_values", "density", "levels", "n", "cells"),
    [
        (200, 300, 0.3, 4, 10, 1 << 22),  # many ties at the cut
        (200, 300, 0.3, 1000, 30, 1 << 22),  # few ties
        (50, 2_000, 0.9, 7, 5, 3_000),  # long groups, several dense blocks
        (300, 40, 0.05, 3, 8, 1 << 22),  # most groups shorter than n
        (20, 20, 0.5, 2, 1, 64),  # one per group, a block per group
    ],
)
def test_sparse_top_per_group_equals_the_sorting_one(
    n_groups: int, n_values: int, density: float, levels: int, n: int, cells: int
) -> None:
    rng = np.random.default_rng(n_groups + n_values + n)
    groups, values, scores = sorted_entries(rng, n_groups, n_values, density, levels)
    expected = top_per_group(groups, values, scores, n)
    got = top_per_sorted_group(groups, values, scores, n, cells=cells)
    assert len(expected[0]) > 0
    for want, have in zip(expected, got, strict=True):
        assert np.array_equal(want, have)


def test_sparse_top_per_group_keeps_the_smaller_values_among_ties_at_the_cut() -> None:
    groups = np.array([0, 0, 0, 0, 0, 3, 3])
    values = np.array([1, 4, 6, 8, 9, 2, 5])
    scores = np.array([0.5, 0.9, 0.5, 0.5, 0.1, 0.2, 0.2])
    got_groups, got_values, got_scores = top_per_sorted_group(groups, values, scores, 3)
    assert got_groups.tolist() == [0, 0, 0, 3, 3]
    assert got_values.tolist() == [4, 1, 6, 2, 5]
    assert got_scores.tolist() == [0.9, 0.5, 0.5, 0.2, 0.2]
    empty = top_per_sorted_group(groups[:0], values[:0], scores[:0], 3)
    assert all(len(part) == 0 for part in empty)


def test_top_k_gives_the_same_lists_for_sorted_and_shuffled_candidates() -> None:
    rng = np.random.default_rng(5)
    rows = np.repeat(np.arange(300), rng.integers(0, 40, 300))
    items = np.concatenate([rng.permutation(500)[:n] for n in np.bincount(rows, minlength=300)])
    scores = rng.integers(0, 20, len(rows)) / 20.0  # ties: smaller item first
    order = np.lexsort((items, rows))
    in_order = top_k(rows[order], items[order], scores[order], 300, 10)
    shuffled = rng.permutation(len(rows))
    any_order = top_k(rows[shuffled], items[shuffled], scores[shuffled], 300, 10)
    assert np.array_equal(in_order[0], any_order[0])
    assert np.array_equal(in_order[1], any_order[1], equal_nan=True)


def test_a_rows_list_does_not_depend_on_the_rows_scored_with_it() -> None:
    rng = np.random.default_rng(8)
    rows = np.repeat(np.arange(200), rng.integers(1, 60, 200))
    items = np.concatenate([np.sort(rng.permutation(300)[:n]) for n in np.bincount(rows)])
    scores = rng.integers(0, 4, len(rows)) / 4.0  # many ties at the k-th place
    whole = top_k(rows, items, scores, 200, 10)
    half = rows >= 100  # as a second chunk of users: rows renumbered from 0
    part = top_k(rows[half] - 100, items[half], scores[half], 100, 10)
    assert np.array_equal(whole[0][100:], part[0])
    assert np.array_equal(whole[1][100:], part[1], equal_nan=True)
    # ties at the cut: the smaller items get in, whatever the row's width
    got, _ = top_k(
        np.array([0, 0, 0, 0, 1]), np.array([6, 2, 3, 4, 0]), np.array([0.5] * 4 + [1]), 2, 2
    )
    assert got.tolist() == [[2, 3], [0, PAD]]
