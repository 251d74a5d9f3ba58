"""A mergeable quantile sketch whose bucket of a value is one arithmetic expression.

It is DDSketch's log mapping (Masson, Rim & Lee, VLDB 2019) applied to the value
standardised on the reference, z = (x − center) / scale (center = reference mean, scale =
reference std):

    key(x) = 0                                   if |z| < z_min
           = sign(z) · (⌈ln(min(|z|, z_max)) / ln γ⌉ + K)   otherwise

with γ = (1 + α)/(1 − α), α = 0.5%, z_min = 1e-3, z_max = 1e6 and K making every non-zero
key at least 1. A bucket spans z ∈ (γ^(m−1), γ^m] (m = |key| − K): every value is known to
within 0.5% of its distance from the reference mean (or 0.001 reference std near it), and a
window keeps at most ~4,200 non-empty buckets per feature whatever its size.

Why not KLL or t-digest: `datasketches` (KLL) and `fastdigest`/`tdigest` are maintained on
PyPI, but their state lives in Python objects, so a window could only be sketched after
pulling every value out of the engine. This key is plain SQL (`ln`, `ceil`, `sign`), so
DuckDB (and later Spark) computes the sketch in the same pass as the other aggregates, and
sketches on one layout merge by adding counts — exactly, with no merge error. NumPy and
DuckDB give identical keys (same IEEE operations; `tests/integration/test_profile_sql.py`
checks it on real files).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

ALPHA = 0.005
Z_MIN = 1e-3
Z_MAX = 1e6


@dataclass(frozen=True)
class SketchLayout:
    center: float
    scale: float
    gamma: float = (1 + ALPHA) / (1 - ALPHA)
    z_min: float = Z_MIN
    z_max: float = Z_MAX

    @classmethod
    def from_values(cls, x: np.ndarray) -> SketchLayout:
        """Layout from the reference's finite non-null values."""
        center = float(x.mean()) if len(x) else 0.0
        std = float(x.std()) if len(x) else 0.0
        return cls(center, std if std > 0 else (abs(center) or 1.0))

    @property
    def log_gamma(self) -> float:
        return math.log(self.gamma)

    @property
    def offset(self) -> int:
        return 1 - math.floor(math.log(self.z_min) / self.log_gamma)

    def index(self, x: np.ndarray) -> np.ndarray:
        """Bucket key of each (non-null, non-NaN) value."""
        z = (np.asarray(x, dtype=float) - self.center) / self.scale
        a = np.abs(z)
        with np.errstate(divide="ignore", invalid="ignore"):  # z = 0: the zero bucket
            mag = np.ceil(np.log(np.minimum(a, self.z_max)) / self.log_gamma) + self.offset
            keys = np.where(a < self.z_min, 0.0, np.sign(z) * mag)
        return keys.astype(np.int64)

    def bounds(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[lo, hi] value range of each bucket key."""
        k = np.asarray(keys, dtype=np.int64)
        m = np.abs(k) - self.offset
        z_hi = np.where(k == 0, self.z_min, self.gamma ** m.astype(float))
        z_lo = np.where(k == 0, -self.z_min, self.gamma ** (m - 1).astype(float))
        z_lo = np.where(k == 0, z_lo, np.maximum(z_lo, self.z_min))
        lo = np.where(k >= 0, z_lo, -z_hi)
        hi = np.where(k >= 0, z_hi, -z_lo)
        return self.center + lo * self.scale, self.center + hi * self.scale

    def to_dict(self) -> dict[str, float]:
        return {
            "center": self.center,
            "scale": self.scale,
            "gamma": self.gamma,
            "z_min": self.z_min,
            "z_max": self.z_max,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, float]) -> SketchLayout:
        return cls(**{k: float(v) for k, v in data.items()})


def count_indices(index: np.ndarray) -> dict[int, int]:
    values, counts = np.unique(index, return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts, strict=True)}


def add_counts(a: Mapping[int, int], b: Mapping[int, int]) -> dict[int, int]:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return {k: out[k] for k in sorted(out) if out[k]}


def aligned(
    a: Mapping[int, int], b: Mapping[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bucket keys in value order, counts of a, counts of b) over the non-empty buckets."""
    ka, va = _arrays(a)
    kb, vb = _arrays(b)
    idx = _union(ka, kb)
    ca, cb = np.zeros(len(idx)), np.zeros(len(idx))
    ca[np.searchsorted(idx, ka)] = va
    cb[np.searchsorted(idx, kb)] = vb
    return idx, ca, cb


def _union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The sorted distinct keys of both: `np.union1d` without `np.unique`'s masked-array
    check, which imports `numpy.ma` (~20 ms) into every `opsloop drift`."""
    keys = np.sort(np.concatenate((a, b)))
    if len(keys) < 2:
        return keys
    return keys[np.concatenate(([True], keys[1:] != keys[:-1]))]


def _arrays(counts: Mapping[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(keys, counts as floats) of a sketch, in its own order."""
    n = len(counts)
    keys = np.fromiter(counts.keys(), dtype=np.int64, count=n)
    return keys, np.fromiter(counts.values(), dtype=float, count=n)


def quantile(layout: SketchLayout, counts: Mapping[int, int], q: float) -> float:
    """Approximate q-quantile: linear within the bucket that holds it."""
    idx, c, _ = aligned(counts, {})
    if c.sum() == 0:
        return float("nan")
    cum = np.cumsum(c) / c.sum()
    k = min(int(np.searchsorted(cum, q, side="left")), len(idx) - 1)
    lo, hi = layout.bounds(idx[k : k + 1])
    before = cum[k - 1] if k else 0.0
    frac = (q - before) / (cum[k] - before) if cum[k] > before else 0.0
    return float(lo[0] + min(max(frac, 0.0), 1.0) * (hi[0] - lo[0]))
