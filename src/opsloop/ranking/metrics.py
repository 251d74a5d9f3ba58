"""Ranking metrics at k, vectorised over users (no Python loop per user).

`per_user_metrics(top, relevant, k=..., popularity=...)` gives a `PerUser`: one value per
user for each metric, aligned with ``top.users``; `metric_value(name, per_user)` reduces it
to the scalar of a `TASK_METRICS["ranking"]` name, and `ranking_metrics` gives them all as a
`RankingMetrics`. The gate bootstraps the same per-user arrays (`opsloop.gate.ranking`).

Definitions (docs/ranking.md has the formulas). For user u with top-k list L_u (padding
and repeated items carry nothing; a repeat counts only at its first rank), relevant set R_u
with gains g_u(i) > 0, and hit indicator rel_j (the item at rank j is in R_u):

- precision@k = |L_u ∩ R_u| / k — the denominator is k, so a short list is penalised.
- recall@k = |L_u ∩ R_u| / |R_u| — the whole relevant count, *not* capped at k (the
  textbook definition; a user with more than k relevant items cannot reach 1).
- NDCG@k = DCG@k / IDCG@k with linear gains and the log2 discount:
  DCG@k = Σ_{j=1..k} g_u(L_u[j]) / log2(j + 1); IDCG@k is the DCG of the user's own
  relevant gains sorted in decreasing order (the first min(k, |R_u|) of them). This is
  scikit-learn's `ndcg_score` (linear gain, not 2^g − 1).
- AP@k = Σ_{j=1..k} precision@j · rel_j / min(k, |R_u|); MAP@k is its mean.
- Users with no relevant item (|R_u| = 0) have no value (NaN) for these four and are
  excluded from the means; `n_evaluated` counts the others.
- cold_start_ndcg_at_k: the NDCG@k mean over the users of a mask (new since the cut-off).

Catalogue-level, from a popularity vector c (e.g. interactions per item before the cut-off)
over the catalogue of size C, smoothed as p(i) = (c_i + 1) / (Σc + C) so that items never
seen (new restaurants) have a finite value:

- coverage = distinct recommended items / C.
- novelty = mean self-information −log2 p(i) of a user's recommended items (bits), averaged
  over users with a non-empty list (Zhou et al. 2010).
- popularity_bias = average recommendation popularity (ARP, Abdollahpouri et al. 2019) on
  the popularity *percentile* (mid-rank, ties share it): pct(i) = (#{c_j < c_i} +
  ½ #{c_j = c_i}) / C, so a uniformly random recommender scores 0.5 and one that always
  recommends the most popular items scores near 1. Lower is better.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from opsloop.config.base import TASK_METRICS
from opsloop.ranking.data import PAD, Relevant, TopK

RANKING_METRICS = TASK_METRICS["ranking"]


@dataclass(frozen=True)
class PerUser:
    """Per-user metric values at k, aligned with ``users`` (NaN: the user has no value).

    ``items`` are the lists scored: the first k positions of the `TopK`, repeats replaced by
    `PAD`; ``catalogue_size`` is the size of their catalogue (for coverage).
    """

    users: np.ndarray
    k: int
    items: np.ndarray
    catalogue_size: int
    n_relevant: np.ndarray  # |R_u|
    hits: np.ndarray  # |L_u ∩ R_u|
    length: np.ndarray  # non-padded items in L_u
    precision: np.ndarray
    recall: np.ndarray
    ndcg: np.ndarray
    ap: np.ndarray
    novelty: np.ndarray  # NaN without a popularity vector or for an empty list
    popularity_bias: np.ndarray

    def __len__(self) -> int:
        return len(self.users)

    def subset(self, mask: np.ndarray) -> PerUser:
        """The users where ``mask`` is true (a boolean array or integer positions)."""
        changes = {
            f.name: getattr(self, f.name)[mask]
            for f in fields(self)
            if f.name not in ("k", "catalogue_size")
        }
        return replace(self, **changes)

    def values(self, name: str, cold_start: np.ndarray | None = None) -> np.ndarray:
        """The per-user array behind a metric name (coverage has none: it is not per user)."""
        if name == "cold_start_ndcg_at_k":
            if cold_start is None:
                return np.full(len(self), np.nan)
            return np.where(_mask(cold_start, len(self)), self.ndcg, np.nan)
        attribute = {
            "ndcg_at_k": "ndcg",
            "precision_at_k": "precision",
            "recall_at_k": "recall",
            "map_at_k": "ap",
            "novelty": "novelty",
            "popularity_bias": "popularity_bias",
        }.get(name)
        if attribute is None:
            raise ValueError(
                f"{name!r} is not a per-user ranking metric; expected one of "
                f"{', '.join(m for m in RANKING_METRICS if m != 'coverage')}"
            )
        values: np.ndarray = getattr(self, attribute)
        return values


@dataclass(frozen=True)
class RankingMetrics:
    """The scalar ranking metrics at k (None: no user qualifies, e.g. nobody is cold)."""

    k: int
    n_users: int  # users with a list
    n_evaluated: int  # users with at least one relevant item
    n_cold_start: int  # cold-start users with at least one relevant item
    ndcg_at_k: float | None
    precision_at_k: float | None
    recall_at_k: float | None
    map_at_k: float | None
    coverage: float | None
    novelty: float | None
    popularity_bias: float | None
    cold_start_ndcg_at_k: float | None

    def as_dict(self) -> dict[str, float]:
        """The metrics that have a value, by their `TASK_METRICS` name (e.g. for MLflow)."""
        out = {name: getattr(self, name) for name in RANKING_METRICS}
        return {name: float(v) for name, v in out.items() if v is not None}


# ---- building blocks ---------------------------------------------------------------------
def _mask(mask: np.ndarray, n: int) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.shape != (n,):
        raise ValueError(
            f"a user mask must be a boolean array of one value per user ({n}); got dtype "
            f"{mask.dtype} and shape {mask.shape}"
        )
    return mask


def _mean(values: np.ndarray) -> float | None:
    ok = ~np.isnan(values)
    return float(values[ok].mean()) if ok.any() else None


def drop_repeats(items: np.ndarray) -> np.ndarray:
    """``items`` with every repeat of an item in a row replaced by `PAD` (the first stays)."""
    order = np.argsort(items, axis=1, kind="stable")
    ranked = np.take_along_axis(items, order, axis=1)
    repeat = (ranked[:, 1:] == ranked[:, :-1]) & (ranked[:, 1:] != PAD)
    marked = np.zeros(items.shape, dtype=bool)
    np.put_along_axis(marked, order[:, 1:], repeat, axis=1)
    return np.where(marked, PAD, items)


def _popularity(counts: np.ndarray, size: int) -> np.ndarray:
    counts = np.asarray(counts, dtype=float)
    if counts.shape != (size,) or not np.isfinite(counts).all() or (counts < 0).any():
        raise ValueError(
            f"popularity must be {size} finite counts >= 0 (one per catalogue item, in "
            f"catalogue order); got shape {counts.shape}"
        )
    return counts


def self_information(counts: np.ndarray) -> np.ndarray:
    """−log2 p(i) per item, p(i) = (c_i + 1) / (Σc + C): Laplace-smoothed popularity."""
    counts = _popularity(counts, len(counts))
    p = (counts + 1.0) / (counts.sum() + len(counts))
    info: np.ndarray = -np.log2(p)
    return info


def popularity_percentile(counts: np.ndarray) -> np.ndarray:
    """Mid-rank popularity percentile per item in [0, 1]: (#less + ½ #equal) / C."""
    counts = _popularity(counts, len(counts))
    ordered = np.sort(counts)
    less = np.searchsorted(ordered, counts, side="left")
    equal = np.searchsorted(ordered, counts, side="right") - less
    pct: np.ndarray = (less + 0.5 * equal) / len(counts)
    return pct


def _check_relevant(relevant: Relevant, n: int, size: int) -> None:
    indptr, indices, gains = relevant.indptr, relevant.indices, relevant.gains
    if (
        len(relevant.users) != n
        or indptr.shape != (n + 1,)
        or indptr[0] != 0
        or (np.diff(indptr) < 0).any()
        or indptr[-1] != len(indices)
        or len(gains) != len(indices)
    ):
        raise ValueError(
            f"Relevant must be CSR over the same {n} users as the TopK (indptr of {n + 1} "
            f"non-decreasing offsets from 0 to len(indices), one gain per index); got "
            f"{len(relevant.users)} users, indptr {indptr.shape}, {len(indices)} indices, "
            f"{len(gains)} gains — build it with opsloop.ranking.relevance"
        )
    if len(indices) and (indices.min() < 0 or indices.max() >= size):
        raise ValueError(f"Relevant.indices must be catalogue positions in [0, {size})")
    if not (np.isfinite(gains) & (gains > 0)).all():
        raise ValueError(
            "Relevant.gains must be finite and > 0 (an item with no gain is not relevant: "
            "leave it out)"
        )


def _check_top(top: TopK, relevant: Relevant, k: int | None) -> int:
    k = top.k if k is None else k
    if not 1 <= k <= top.k:
        raise ValueError(f"k must be in [1, {top.k}] (the lists' length); got {k}")
    if len(top.users) != len(relevant.users) or not np.array_equal(top.users, relevant.users):
        raise ValueError(
            "TopK and Relevant must hold the same users in the same order; build Relevant "
            "with relevant_from_interactions(..., users=top.users)"
        )
    items = top.items[:, :k]
    if items.size and (items.min() < PAD or items.max() >= len(top.catalogue)):
        raise ValueError(
            f"TopK.items must be catalogue positions in [0, {len(top.catalogue)}) or PAD (-1)"
        )
    return k


# ---- per user ----------------------------------------------------------------------------
def per_user_metrics(
    top: TopK, relevant: Relevant, *, k: int | None = None, popularity: np.ndarray | None = None
) -> PerUser:
    """Every per-user metric at ``k`` (default: the lists' length); ``popularity`` (counts
    per catalogue item) enables novelty and popularity_bias."""
    k = _check_top(top, relevant, k)
    n, size = len(top.users), len(top.catalogue)
    _check_relevant(relevant, n, size)
    items = drop_repeats(np.asarray(top.items[:, :k], dtype=np.int64))
    listed = items != PAD
    counts = np.diff(relevant.indptr).astype(np.int64)
    rows = np.repeat(np.arange(n, dtype=np.int64), counts)
    gains = np.asarray(relevant.gains, dtype=float)

    # relevant (user, item) pairs as sorted integer keys; the lists are looked up in them
    keys = rows * size + relevant.indices.astype(np.int64)
    order = np.argsort(keys, kind="stable")
    keys, sorted_gains = keys[order], gains[order]
    if (keys[1:] == keys[:-1]).any():
        raise ValueError("Relevant holds an item twice for one user; give each item once")
    wanted = np.arange(n, dtype=np.int64)[:, None] * size + items
    at = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
    hit = listed & (keys[at] == wanted) if len(keys) else np.zeros(items.shape, bool)
    gain = np.where(hit, sorted_gains[at] if len(keys) else 0.0, 0.0)

    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = gain @ discount
    ideal = np.lexsort((-gains, rows))  # by user, best gain first
    rank = np.arange(len(rows)) - relevant.indptr[:-1][rows[ideal]]
    top_k = rank < k
    idcg = np.bincount(
        rows[ideal][top_k], weights=gains[ideal][top_k] * discount[rank[top_k]], minlength=n
    )
    hits = hit.sum(axis=1)
    has = counts > 0
    safe = np.where(has, counts, 1)
    precision_at = np.cumsum(hit, axis=1) / np.arange(1, k + 1)
    ap = (precision_at * hit).sum(axis=1) / np.minimum(safe, k)
    length = listed.sum(axis=1)
    novelty = popular = np.full(n, np.nan)
    if popularity is not None:
        counts_c = _popularity(popularity, size)
        novelty = _list_mean(self_information(counts_c), items, length)
        popular = _list_mean(popularity_percentile(counts_c), items, length)
    nan = np.nan
    return PerUser(
        users=top.users,
        k=k,
        items=items,
        catalogue_size=size,
        n_relevant=counts,
        hits=hits,
        length=length,
        precision=np.where(has, hits / k, nan),
        recall=np.where(has, hits / safe, nan),
        ndcg=np.where(has, dcg / np.where(has, idcg, 1.0), nan),
        ap=np.where(has, ap, nan),
        novelty=novelty,
        popularity_bias=popular,
    )


def _list_mean(per_item: np.ndarray, items: np.ndarray, length: np.ndarray) -> np.ndarray:
    """The mean of a per-item value over each user's listed items (NaN for an empty list)."""
    total = np.where(items != PAD, per_item[items], 0.0).sum(axis=1)
    out: np.ndarray = np.where(length > 0, total / np.where(length > 0, length, 1), np.nan)
    return out


# ---- scalars -----------------------------------------------------------------------------
def coverage(per_user: PerUser) -> float | None:
    """Distinct recommended items / catalogue size (None for an empty catalogue)."""
    if per_user.catalogue_size == 0:
        return None
    shown = np.unique(per_user.items[per_user.items != PAD])
    return len(shown) / per_user.catalogue_size


def metric_value(
    name: str, per_user: PerUser, *, cold_start: np.ndarray | None = None
) -> float | None:
    """The scalar of a `TASK_METRICS["ranking"]` metric (None: no user qualifies).

    Per-user metrics are means over the users that have a value; ``cold_start`` is the mask
    of users new since the cut-off (for cold_start_ndcg_at_k).
    """
    if name == "coverage":
        return coverage(per_user)
    return _mean(per_user.values(name, cold_start))


def ranking_metrics(
    top: TopK,
    relevant: Relevant,
    *,
    k: int | None = None,
    popularity: np.ndarray | None = None,
    cold_start: np.ndarray | None = None,
) -> RankingMetrics:
    """All ranking metrics at ``k`` for one model's lists."""
    per_user = per_user_metrics(top, relevant, k=k, popularity=popularity)
    return summarize(per_user, cold_start=cold_start)


def summarize(per_user: PerUser, *, cold_start: np.ndarray | None = None) -> RankingMetrics:
    """`RankingMetrics` from per-user values already computed."""
    evaluated = per_user.n_relevant > 0
    cold = 0 if cold_start is None else int((_mask(cold_start, len(per_user)) & evaluated).sum())

    def value(name: str) -> float | None:
        return metric_value(name, per_user, cold_start=cold_start)

    return RankingMetrics(
        k=per_user.k,
        n_users=int((per_user.length > 0).sum()),
        n_evaluated=int(evaluated.sum()),
        n_cold_start=cold,
        ndcg_at_k=value("ndcg_at_k"),
        precision_at_k=value("precision_at_k"),
        recall_at_k=value("recall_at_k"),
        map_at_k=value("map_at_k"),
        coverage=value("coverage"),
        novelty=value("novelty"),
        popularity_bias=value("popularity_bias"),
        cold_start_ndcg_at_k=value("cold_start_ndcg_at_k"),
    )
