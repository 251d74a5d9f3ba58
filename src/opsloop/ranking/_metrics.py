"""A minimal NDCG@k and recall@k per user, for `opsloop.ranking.evaluate` until it uses
`opsloop.ranking.metrics` (the shared, fully tested metrics of issue 17)."""

from __future__ import annotations

import numpy as np

from opsloop.ranking.data import PAD, Relevant, TopK


def per_user(top: TopK, relevant: Relevant) -> tuple[np.ndarray, np.ndarray]:
    """(NDCG@k, recall@k) per row of ``top`` (rows aligned with ``relevant.users``).

    Gains are linear (the relevant gains), discounts ``1 / log2(rank + 1)``; recall is the
    share of the user's relevant items in the top k. A user with no relevant item scores 0.
    """
    n, k = top.items.shape
    n_items = max(len(top.catalogue), 1)
    counts = relevant.counts()
    owner = np.repeat(np.arange(n, dtype=np.int64), counts)
    rel_keys = owner * n_items + relevant.indices
    order = np.argsort(rel_keys)
    rel_keys, gains = rel_keys[order], relevant.gains[order]
    keys = np.arange(n, dtype=np.int64)[:, None] * n_items + top.items
    at = np.minimum(np.searchsorted(rel_keys, keys), max(len(rel_keys) - 1, 0))
    hit = (top.items != PAD) & (len(rel_keys) > 0)
    if len(rel_keys):
        hit &= rel_keys[at] == keys
    got = np.where(hit, gains[at] if len(gains) else 0.0, 0.0)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = got @ discount
    # ideal: each user's k best gains, best first
    ideal = np.zeros((n, k))
    by_gain = np.lexsort((-relevant.gains, np.repeat(np.arange(n), counts)))
    rank = np.arange(len(by_gain)) - np.repeat(relevant.indptr[:-1], counts)
    top_k = rank < k
    ideal[np.repeat(np.arange(n), counts)[top_k], rank[top_k]] = relevant.gains[by_gain][top_k]
    idcg = ideal @ discount
    ndcg = np.divide(dcg, idcg, out=np.zeros(n), where=idcg > 0)
    recall = np.divide(hit.sum(axis=1), counts, out=np.zeros(n), where=counts > 0)
    return ndcg, recall
