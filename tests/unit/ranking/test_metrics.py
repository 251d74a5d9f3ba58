"""Ranking metrics against hand-computed values, scikit-learn's ndcg_score and reference loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import ndcg_score

from opsloop.config import TASK_METRICS
from opsloop.ranking.data import PAD, Relevant, TopK
from opsloop.ranking.metrics import (
    drop_repeats,
    metric_value,
    per_user_metrics,
    popularity_percentile,
    ranking_metrics,
    self_information,
)

L2_3 = math.log2(3)


def top(rows: list[list[int]], size: int = 10, scores: np.ndarray | None = None) -> TopK:
    items = np.array(rows, dtype=np.int64)
    if scores is None:
        scores = np.where(items == PAD, np.nan, -np.arange(items.shape[1], dtype=float))
    return TopK(np.array([f"u{i}" for i in range(len(rows))]), items, scores, np.arange(size) * 10)


def rel(rows: list[dict[int, float]]) -> Relevant:
    indptr = np.r_[0, np.cumsum([len(r) for r in rows])].astype(np.int64)
    indices = np.array([i for r in rows for i in r], dtype=np.int64)
    gains = np.array([g for r in rows for g in r.values()], dtype=float)
    return Relevant(np.array([f"u{i}" for i in range(len(rows))]), indptr, indices, gains)


# users: a partial hit, a short (padded) list, no relevant item, graded gains, a repeat
CASES_TOP = [[1, 2, 3], [4, PAD, PAD], [1, 2, 3], [7, 8, 9], [2, 2, 3]]
CASES_REL: list[dict[int, float]] = [{2: 1, 5: 1}, {4: 1}, {}, {9: 3, 7: 1, 0: 2}, {2: 1}]
IDCG_GRADED = 3 + 2 / L2_3 + 1 / 2
EXPECTED = {
    "precision": [1 / 3, 1 / 3, None, 2 / 3, 1 / 3],
    "recall": [1 / 2, 1.0, None, 2 / 3, 1.0],
    "ndcg": [(1 / L2_3) / (1 + 1 / L2_3), 1.0, None, (1 + 3 / 2) / IDCG_GRADED, 1.0],
    "ap": [(1 / 2) / 2, 1.0, None, (1 + 2 / 3) / 3, 1.0],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_metric_equals_the_hand_computed_values(name: str) -> None:
    pu = per_user_metrics(top(CASES_TOP), rel(CASES_REL), k=3)
    got = getattr(pu, name)
    for value, want in zip(got, EXPECTED[name], strict=True):
        if want is None:  # no relevant item: no value, left out of the mean
            assert math.isnan(value)
        else:
            assert value == pytest.approx(want)
    known = [w for w in EXPECTED[name] if w is not None]
    scalar = {"precision": "precision_at_k", "recall": "recall_at_k", "ndcg": "ndcg_at_k"}
    assert metric_value(scalar.get(name, "map_at_k"), pu) == pytest.approx(np.mean(known))


def test_lists_counts_and_repeats() -> None:
    pu = per_user_metrics(top(CASES_TOP), rel(CASES_REL), k=3)
    assert pu.hits.tolist() == [1, 1, 0, 2, 1]
    assert pu.n_relevant.tolist() == [2, 1, 0, 3, 1]
    assert pu.length.tolist() == [3, 1, 3, 3, 2]  # the repeated item counts once
    assert pu.items[4].tolist() == [2, PAD, 3]
    summary = ranking_metrics(top(CASES_TOP), rel(CASES_REL), k=3)
    assert (summary.n_users, summary.n_evaluated, summary.k) == (5, 4, 3)
    assert summary.coverage == pytest.approx(len({1, 2, 3, 4, 7, 8, 9}) / 10)
    assert set(summary.as_dict()) == set(TASK_METRICS["ranking"]) - {
        "novelty",
        "popularity_bias",
        "cold_start_ndcg_at_k",
    }


def test_k_cuts_the_lists_and_is_checked() -> None:
    pu = per_user_metrics(top([[1, 2, 3]]), rel([{3: 1.0}]), k=2)
    assert (pu.hits[0], pu.precision[0], pu.ndcg[0], pu.ap[0]) == (0, 0.0, 0.0, 0.0)
    assert pu.items.shape == (1, 2)
    # more relevant items than k: recall keeps the whole relevant count, AP caps it at k
    pu = per_user_metrics(top([[1, 2, 3]]), rel([{1: 1.0, 5: 1.0, 6: 1.0}]), k=2)
    assert (pu.precision[0], pu.recall[0], pu.ap[0]) == pytest.approx((1 / 2, 1 / 3, 1 / 2))
    assert pu.ndcg[0] == pytest.approx(1 / (1 + 1 / L2_3))
    with pytest.raises(ValueError, match=r"k must be in \[1, 3\]"):
        per_user_metrics(top([[1, 2, 3]]), rel([{3: 1.0}]), k=4)


def test_scores_and_their_ties_are_not_read_the_list_order_is_the_ranking() -> None:
    tied = np.zeros((len(CASES_TOP), 3))
    a = per_user_metrics(top(CASES_TOP, scores=tied), rel(CASES_REL))
    b = per_user_metrics(top(CASES_TOP), rel(CASES_REL))
    np.testing.assert_array_equal(a.ndcg, b.ndcg)
    # ties in gains: the ideal ordering of equal gains does not matter
    same = per_user_metrics(top([[5, 1, 2]]), rel([{1: 2.0, 2: 2.0, 5: 2.0}]))
    assert same.ndcg[0] == pytest.approx(1.0)


def test_drop_repeats_keeps_the_first_occurrence() -> None:
    items = np.array([[3, 1, 3, PAD, 1], [2, 2, 2, 0, PAD]])
    assert drop_repeats(items).tolist() == [[3, 1, PAD, PAD, PAD], [2, PAD, PAD, 0, PAD]]


def test_novelty_and_popularity_bias_by_hand() -> None:
    counts = np.array([3.0, 1.0, 0.0, 0.0])  # p = (c + 1) / 8 = 1/2, 1/4, 1/8, 1/8
    np.testing.assert_allclose(self_information(counts), [1, 2, 3, 3])
    np.testing.assert_allclose(popularity_percentile(counts), [0.875, 0.625, 0.25, 0.25])
    t = top([[0, 2, PAD], [PAD, PAD, PAD], [1, 0, 3]], size=4)
    pu = per_user_metrics(t, rel([{}, {}, {}]), popularity=counts)
    np.testing.assert_allclose(pu.novelty, [2.0, np.nan, 2.0])
    np.testing.assert_allclose(pu.popularity_bias, [0.5625, np.nan, 0.583333333])
    assert metric_value("novelty", pu) == pytest.approx(2.0)
    assert metric_value("coverage", pu) == 1.0
    assert metric_value("ndcg_at_k", pu) is None  # nobody has a relevant item


def test_a_uniformly_random_recommender_has_popularity_bias_one_half() -> None:
    rng = np.random.default_rng(0)
    counts = rng.zipf(1.5, 500).astype(float)  # skewed, many ties
    assert popularity_percentile(counts).mean() == pytest.approx(0.5)
    most = np.argsort(-counts, kind="stable")[:10]
    t = TopK(np.arange(1), most[None, :], np.zeros((1, 10)), np.arange(500))
    nothing = Relevant(np.arange(1), np.zeros(2, np.int64), np.zeros(0, np.int64), np.zeros(0))
    pu = per_user_metrics(t, nothing, popularity=counts)
    assert pu.popularity_bias[0] > 0.97


def test_cold_start_ndcg_is_the_ndcg_of_the_masked_users() -> None:
    pu = per_user_metrics(top(CASES_TOP), rel(CASES_REL), k=3)
    cold = np.array([False, True, True, True, False])
    want = np.mean([EXPECTED["ndcg"][1], EXPECTED["ndcg"][3]])  # user 2 has nothing relevant
    assert metric_value("cold_start_ndcg_at_k", pu, cold_start=cold) == pytest.approx(want)
    summary = ranking_metrics(top(CASES_TOP), rel(CASES_REL), k=3, cold_start=cold)
    assert summary.n_cold_start == 2
    assert metric_value("cold_start_ndcg_at_k", pu) is None
    with pytest.raises(ValueError, match="boolean array"):
        metric_value("cold_start_ndcg_at_k", pu, cold_start=np.array([1, 0, 1, 1, 0]))


def _random(
    seed: int, n: int = 40, size: int = 30, k: int = 6
) -> tuple[TopK, np.ndarray, np.ndarray]:
    """Random lists (the top k of scores over the whole catalogue, no ties), the scores and
    graded relevance (0 = not relevant)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, 4, (n, size)) * (rng.random((n, size)) < 0.2)
    scores = rng.random((n, size))
    order = np.argsort(-scores, axis=1)[:, :k]
    t = TopK(np.arange(n), order, np.take_along_axis(scores, order, 1), np.arange(size) + 100)
    return t, scores, truth


def _relevant_of(truth: np.ndarray) -> Relevant:
    rows, cols = np.nonzero(truth)
    indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=len(truth)))]
    return Relevant(np.arange(len(truth)), indptr, cols, truth[rows, cols].astype(float))


@pytest.mark.parametrize("seed", range(5))
def test_ndcg_equals_scikit_learn(seed: int) -> None:
    t, scores, truth = _random(seed)
    pu = per_user_metrics(t, _relevant_of(truth))
    has = truth.sum(axis=1) > 0
    assert has.sum() >= 30
    for i in np.flatnonzero(has):
        assert pu.ndcg[i] == pytest.approx(ndcg_score(truth[i : i + 1], scores[i : i + 1], k=t.k))
    assert metric_value("ndcg_at_k", pu) == pytest.approx(
        ndcg_score(truth[has], scores[has], k=t.k)
    )


def _reference(listed: list[int], relevant: set[int], k: int) -> tuple[float, float, float]:
    """precision@k, recall@k and AP@k by the textbook loop (ml_metrics' apk for AP)."""
    hits, total, seen = 0, 0.0, set()
    for rank, item in enumerate(listed[:k]):
        if item in relevant and item not in seen:
            hits += 1
            total += hits / (rank + 1)
        seen.add(item)
    return hits / k, hits / len(relevant), total / min(len(relevant), k)


@pytest.mark.parametrize("seed", range(5))
def test_precision_recall_and_map_equal_a_reference_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, size, k = 200, 25, 8
    items = rng.integers(0, size, (n, k))  # repeats happen
    items[rng.random((n, k)) < 0.1] = PAD  # and padding, anywhere
    truth = (rng.random((n, size)) < 0.15).astype(int)
    t = TopK(np.arange(n), items, np.zeros((n, k)), np.arange(size))
    pu = per_user_metrics(t, _relevant_of(truth))
    aps = []
    for i in range(n):
        relevant = set(np.flatnonzero(truth[i]).tolist())
        if not relevant:
            assert math.isnan(pu.ap[i]) and math.isnan(pu.recall[i])
            continue
        p, r, ap = _reference(items[i].tolist(), relevant, k)
        assert (pu.precision[i], pu.recall[i], pu.ap[i]) == pytest.approx((p, r, ap))
        aps.append(ap)
    assert metric_value("map_at_k", pu) == pytest.approx(np.mean(aps))


def test_inputs_are_checked() -> None:
    t = top([[1, 2, 3]])
    with pytest.raises(ValueError, match="same users in the same order"):
        per_user_metrics(
            t, Relevant(np.array(["x"]), np.array([0, 0]), np.zeros(0, int), np.zeros(0))
        )
    with pytest.raises(ValueError, match="finite and > 0"):
        per_user_metrics(t, rel([{2: 0.0}]))
    with pytest.raises(ValueError, match="twice for one user"):
        per_user_metrics(t, Relevant(t.users, np.array([0, 2]), np.array([2, 2]), np.ones(2)))
    with pytest.raises(ValueError, match=r"positions in \[0, 10\)"):
        per_user_metrics(top([[1, 2, 10]]), rel([{2: 1.0}]))
    with pytest.raises(ValueError, match="one per catalogue item"):
        per_user_metrics(t, rel([{2: 1.0}]), popularity=np.ones(3))
    with pytest.raises(ValueError, match="not a per-user ranking metric"):
        metric_value("roc_auc", per_user_metrics(t, rel([{2: 1.0}])))
