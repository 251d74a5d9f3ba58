"""Simulated recommenders for the ranking gate's tests: users with a true affinity to each
item, items relevant where the affinity is high, and rankers that see the affinity through
noise (more noise = a worse ranker; the same noise = two equally good rankers)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from opsloop.ranking.data import Relevant, TopK
from opsloop.ranking.metrics import PerUser, per_user_metrics


@dataclass(frozen=True)
class World:
    affinity: np.ndarray  # (users, items)
    relevant: Relevant
    popularity: np.ndarray  # interactions per item before the cut-off
    item_effect: np.ndarray


def world(n: int, rng: np.random.Generator, size: int = 60, relevant: float = 1.9) -> World:
    """`n` users, `size` items; an item is relevant to a user above an affinity of
    `relevant` (gain 2 when 0.6 above it)."""
    item_effect = rng.normal(0, 0.5, size)
    affinity = rng.normal(0, 1, (n, size)) + item_effect
    truth = affinity > relevant
    gains = 1.0 + (affinity > relevant + 0.6)
    rows, cols = np.nonzero(truth)
    indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=n))]
    relevant = Relevant(np.arange(n), indptr, cols, gains[rows, cols])
    popularity = rng.poisson(20 * np.exp(item_effect)).astype(float)
    return World(affinity, relevant, popularity, item_effect)


def ranker(
    w: World,
    rng: np.random.Generator,
    noise: float | np.ndarray,
    *,
    k: int = 5,
    popular: float = 0.0,
) -> PerUser:
    """The top k of affinity + noise (+ `popular` × the item effect: a popularity bias)."""
    noise = np.asarray(noise, dtype=float)
    if noise.ndim == 1:
        noise = noise[:, None]
    score = w.affinity + popular * w.item_effect + noise * rng.normal(0, 1, w.affinity.shape)
    best = np.argpartition(-score, k - 1, axis=1)[:, :k]  # the top k, then in order
    order = np.take_along_axis(best, np.argsort(-np.take_along_axis(score, best, 1), 1), 1)
    n, size = w.affinity.shape
    top = TopK(np.arange(n), order, np.take_along_axis(score, order, 1), np.arange(size))
    return per_user_metrics(top, w.relevant, popularity=w.popularity)
