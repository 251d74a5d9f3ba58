from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import ndcg_score

from opsloop.ranking._arrays import rank_in_groups, top_k
from opsloop.ranking.data import PAD, Relevant, TopK
from opsloop.ranking.evaluate import evaluate
from opsloop.ranking.metrics import per_user_metrics
from opsloop.ranking.models import PopularityRecommender
from ranking_fixtures import START, synthetic_world


def per_user(top: TopK, relevant: Relevant) -> tuple[np.ndarray, np.ndarray]:
    measured = per_user_metrics(top, relevant)
    return measured.ndcg, measured.recall


def relevant_from_dense(truth: np.ndarray) -> Relevant:
    rows, cols = np.nonzero(truth)
    counts = np.bincount(rows, minlength=truth.shape[0])
    return Relevant(
        users=np.arange(truth.shape[0]),
        indptr=np.concatenate([[0], np.cumsum(counts)]),
        indices=cols.astype(np.int64),
        gains=truth[rows, cols].astype(np.float64),
    )


def test_ndcg_and_recall_by_hand() -> None:
    # ranked [a, b, c] (positions 0, 1, 2); relevant b (gain 1) and c (gain 2), d (gain 1)
    top = TopK(
        users=np.array(["u"]),
        items=np.array([[0, 1, 2]]),
        scores=np.array([[3.0, 2.0, 1.0]]),
        catalogue=np.array(["a", "b", "c", "d"]),
    )
    rel = Relevant(
        users=np.array(["u"]),
        indptr=np.array([0, 3]),
        indices=np.array([1, 2, 3]),
        gains=np.array([1.0, 2.0, 1.0]),
    )
    ndcg, recall = per_user(top, rel)
    dcg = 1 / np.log2(3) + 2 / np.log2(4)
    idcg = 2 + 1 / np.log2(3) + 1 / np.log2(4)
    assert np.allclose(ndcg, [dcg / idcg])
    assert np.allclose(recall, [2 / 3])


def test_ndcg_matches_scikit_learn_and_padding_counts_as_a_miss() -> None:
    rng = np.random.default_rng(4)
    n_users, n_items, k = 200, 40, 10
    truth = np.where(
        rng.random((n_users, n_items)) < 0.15, rng.integers(1, 6, (n_users, n_items)), 0
    )
    truth[truth.sum(axis=1) == 0, 0] = 3
    score = rng.random((n_users, n_items))
    order = np.argsort(-score, axis=1)[:, :k]
    top = TopK(
        users=np.arange(n_users),
        items=order,
        scores=np.take_along_axis(score, order, axis=1),
        catalogue=np.arange(n_items),
    )
    ndcg, _ = per_user(top, relevant_from_dense(truth))
    expected = [ndcg_score(truth[i : i + 1], score[i : i + 1], k=k) for i in range(n_users)]
    assert np.allclose(ndcg, expected)
    padded = TopK(
        users=top.users,
        items=np.where(np.arange(k) < 5, order, PAD),
        scores=np.where(np.arange(k) < 5, top.scores, np.nan),
        catalogue=top.catalogue,
    )
    short, _ = per_user(padded, relevant_from_dense(truth))
    cut = [ndcg_score(truth[i : i + 1], score[i : i + 1], k=5) for i in range(n_users)]
    # the same DCG over five places, but the ideal still has ten
    assert (short <= np.array(cut) + 1e-12).all() and (short <= ndcg + 1e-12).all()
    assert (short < ndcg).any()


def test_top_k_picks_the_best_per_row_and_pads_short_rows() -> None:
    rows = np.array([0, 0, 0, 2, 2, 0])
    items = np.array([5, 3, 9, 1, 4, 7])
    scores = np.array([0.1, 0.9, 0.5, 0.2, 0.2, 0.7])
    got_items, got_scores = top_k(rows, items, scores, 3, 3)
    assert got_items.tolist() == [[3, 7, 9], [PAD, PAD, PAD], [1, 4, PAD]]
    assert np.allclose(got_scores[0], [0.9, 0.7, 0.5])
    assert np.isnan(got_scores[1]).all() and np.isnan(got_scores[2, 2])
    assert rank_in_groups(np.array([1, 1, 2, 5, 5, 5])).tolist() == [0, 1, 0, 0, 1, 2]


def test_evaluate_fits_before_the_cutoff_and_scores_the_window() -> None:
    world = synthetic_world(400, 60, days=90, seed=2)
    cutoff = START + pd.Timedelta(days=75)
    result = evaluate(PopularityRecommender(), world, cutoff, pd.Timedelta(days=10), k=5)
    split = result.split
    assert result.users == len(split.relevant.users) > 100
    assert np.array_equal(result.top.users, split.relevant.users)
    assert result.top.k == 5
    assert np.isclose(result.ndcg, result.user_ndcg.mean())
    assert 0 < result.ndcg < 1 and 0 < result.recall < 1
    assert result.cold_start_users == int(split.cold_start.sum())
    assert result.fit_seconds >= 0 and result.recommend_seconds > 0
