"""Profiles: per-feature summaries of a reference dataset that later windows are compared with.

- numeric: count, nulls, min/max/mean/std, bin counts over **edges fixed from the
  reference** (deciles by default, deduplicated; the outer bins are open so every value
  lands somewhere), and a quantile sketch (values at evenly spaced probabilities) used for
  the KS test.
- categorical/boolean: count, nulls, frequencies of the top categories plus `__other__`.

Counts of any frame on a profile's edges/categories (`bin_counts`) add up across partitions,
so window profiles can be computed per partition and merged by addition.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from opsloop.data.features import FeatureSpec

OTHER = "__other__"
TOP_CATEGORIES = 50


@dataclass
class FeatureProfile:
    name: str
    kind: str  # numeric | categorical | boolean
    count: int
    null_count: int
    # numeric
    edges: list[float] = field(default_factory=list)  # interior edges; outer bins are open
    counts: list[int] = field(default_factory=list)   # len(edges) + 1 bins, or per category
    quantiles: list[float] = field(default_factory=list)
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    # categorical
    categories: list[str] = field(default_factory=list)  # last one is OTHER

    @property
    def non_null(self) -> int:
        return self.count - self.null_count


@dataclass
class Profile:
    n_rows: int
    features: dict[str, FeatureProfile]

    def to_json(self) -> str:
        return json.dumps({"n_rows": self.n_rows,
                           "features": {k: asdict(v) for k, v in self.features.items()}})

    @classmethod
    def from_json(cls, text: str) -> Profile:
        data = json.loads(text)
        return cls(n_rows=int(data["n_rows"]),
                   features={k: FeatureProfile(**v) for k, v in data["features"].items()})


def _numeric(values: pd.Series) -> np.ndarray:
    return np.asarray(pd.to_numeric(values, errors="coerce"), dtype=float)


def _as_category(values: pd.Series) -> pd.Series:
    return values.map(lambda v: str(v).lower() if isinstance(v, bool | np.bool_) else str(v))


def bin_counts(profile: FeatureProfile, values: pd.Series) -> tuple[list[int], int]:
    """Counts of `values` on the profile's bins/categories, and the number of nulls."""
    if profile.kind == "numeric":
        x = _numeric(values)
        ok = ~np.isnan(x)
        idx = np.searchsorted(np.asarray(profile.edges, dtype=float), x[ok], side="right")
        counts = np.bincount(idx, minlength=len(profile.edges) + 1)
        return counts.astype(int).tolist(), int((~ok).sum())
    nulls = values.isna()
    cats = _as_category(values[~nulls])
    known = {c: i for i, c in enumerate(profile.categories)}
    other = len(profile.categories) - 1
    idx = cats.map(lambda c: known.get(c, other)).to_numpy(dtype=int)
    counts = np.bincount(idx, minlength=len(profile.categories))
    return counts.astype(int).tolist(), int(nulls.sum())


def unseen_count(profile: FeatureProfile, values: pd.Series) -> int:
    """Non-null categorical values never seen in the reference."""
    if profile.kind == "numeric":
        return 0
    seen = set(profile.categories[:-1])
    cats = _as_category(values.dropna())
    return int((~cats.isin(seen)).sum()) if len(seen) < TOP_CATEGORIES else 0


def profile_feature(values: pd.Series, spec: FeatureSpec, *, n_bins: int = 10,
                    quantiles: int = 1000) -> FeatureProfile:
    count = len(values)
    if spec.kind == "numeric":
        x = _numeric(values)
        ok = x[~np.isnan(x)]
        nulls = int(count - len(ok))
        if len(ok) == 0:
            return FeatureProfile(spec.name, "numeric", count, nulls, counts=[0])
        edges = np.unique(np.quantile(ok, np.linspace(0, 1, n_bins + 1)[1:-1]))
        fp = FeatureProfile(
            spec.name, "numeric", count, nulls, edges=edges.tolist(),
            quantiles=np.quantile(ok, np.linspace(0, 1, quantiles)).tolist(),
            min=float(ok.min()), max=float(ok.max()), mean=float(ok.mean()),
            std=float(ok.std(ddof=1)) if len(ok) > 1 else 0.0,
        )
        fp.counts, _ = bin_counts(fp, values)
        return fp
    nulls = values.isna()
    freq = _as_category(values[~nulls]).value_counts()
    top = [str(c) for c in freq.index[:TOP_CATEGORIES]]
    fp = FeatureProfile(spec.name, spec.kind, count, int(nulls.sum()), categories=[*top, OTHER])
    fp.counts, _ = bin_counts(fp, values)
    return fp


def compute_profile(df: pd.DataFrame, features: Sequence[FeatureSpec], *, n_bins: int = 10,
                    quantiles: int = 1000) -> Profile:
    return Profile(
        n_rows=len(df),
        features={f.name: profile_feature(df[f.name], f, n_bins=n_bins, quantiles=quantiles)
                  for f in features if f.name in df.columns},
    )


def merge_counts(parts: Sequence[Sequence[int]]) -> list[int]:
    """Merge partition counts on the same edges by addition."""
    return np.sum(np.asarray(parts, dtype=int), axis=0).astype(int).tolist()


def as_dict(profile: FeatureProfile) -> dict[str, Any]:
    return asdict(profile)
