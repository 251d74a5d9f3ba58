"""Latency histograms with fixed, shared bucket edges, so the counts of every server replica
merge by addition and a p99 can be read off the merged histogram.

Edges grow geometrically (×1.25) from 50 µs to ~60 s, so a quantile read at the upper edge
of its bucket is at most 25 % above the true value; comparing two versions on the same
buckets shares that error.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

EDGES: tuple[float, ...] = tuple(50e-6 * 1.25**i for i in range(64))  # seconds


def bucket(seconds: float) -> int:
    """Index of the bucket holding `seconds` (the last one is open-ended)."""
    return min(bisect.bisect_left(EDGES, seconds), len(EDGES) - 1)


def empty() -> list[int]:
    return [0] * len(EDGES)


def merge(a: Sequence[int], b: Sequence[int]) -> list[int]:
    return [x + y for x, y in zip(a, b, strict=True)]


def quantile(counts: Sequence[int], q: float) -> float | None:
    """Upper edge of the bucket holding the q-quantile; None without observations."""
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, n in enumerate(counts):
        seen += n
        if seen >= rank and n:
            return EDGES[i]
    return EDGES[-1]
