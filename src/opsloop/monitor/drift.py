"""Drift of a window against the reference profile, per feature.

Statistics (both are reported; a feature drifts when either crosses its threshold):

- **PSI** (population stability index) on the reference's bins or categories:
  sum((q - p) * ln(q / p)), with empty cells set to ε = 1e-4 of probability mass so the sum is
  finite. Conventional reading: < 0.1 stable, 0.1-0.2 moderate, ≥ 0.2 major shift
  (`drift.psi_threshold`, default 0.2). PSI does not grow with sample size, so it guards
  against the tests' over-sensitivity on large windows.
- **numeric → two-sample Kolmogorov-Smirnov**. The reference is kept as a quantile sketch
  (1,000 evenly spaced quantiles), so D is computed between the window's exact ECDF and the
  sketch's ECDF (resolution 1/1000), and the p-value uses the asymptotic two-sample
  distribution (`scipy.stats.kstwo`, as `ks_2samp` does) with the reference size taken as
  min(reference rows, sketch points). Counting the reference as at most 1,000 points makes
  the test conservative: it never claims more evidence than the sketch holds.
- **categorical/boolean → chi-square test of homogeneity** between the reference's and the
  window's category counts (`scipy.stats.chi2_contingency` on the 2 x k table; the reference
  is a sample too, so a goodness-of-fit test against its proportions would raise false
  alarms); categories expected below 5 are pooled, as the approximation requires.

A feature with fewer than `drift.min_rows` non-null rows in the window is reported as
`insufficient_data` and not counted. Dataset drift: share of drifted features ≥
`drift.share`. The model's score is checked the same way and reported as prediction drift,
not counted in the share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from opsloop.config import DriftConfig
from opsloop.data.features import FeatureSpec
from opsloop.monitor.profile import FeatureProfile, Profile, bin_counts, unseen_count

EPSILON = 1e-4


@dataclass
class FeatureDrift:
    name: str
    kind: str
    test: str  # ks | chi2
    statistic: float | None
    p_value: float | None
    psi: float | None
    drifted: bool
    status: str  # ok | drifted | insufficient_data
    n: int
    missing_rate_reference: float
    missing_rate_current: float
    unseen: int = 0
    reference_counts: list[int] = field(default_factory=list)
    current_counts: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DriftResult:
    features: list[FeatureDrift]
    share: float
    detected: bool
    tested: int
    prediction: FeatureDrift | None = None

    @property
    def drifted_features(self) -> list[str]:
        return [f.name for f in self.features if f.drifted]

    def to_dict(self) -> dict[str, Any]:
        return {"features": [f.to_dict() for f in self.features], "share": self.share,
                "detected": self.detected, "tested": self.tested,
                "drifted_features": self.drifted_features,
                "prediction": None if self.prediction is None else self.prediction.to_dict()}


def psi(reference_counts: Sequence[int], current_counts: Sequence[int]) -> float:
    p = np.asarray(reference_counts, dtype=float)
    q = np.asarray(current_counts, dtype=float)
    p = np.maximum(p / max(p.sum(), 1.0), EPSILON)
    q = np.maximum(q / max(q.sum(), 1.0), EPSILON)
    return float(np.sum((q - p) * np.log(q / p)))


def ks_from_sketch(quantiles: Sequence[float], reference_n: int, current: np.ndarray
                   ) -> tuple[float, float]:
    """KS statistic and asymptotic p-value between a sample and a reference quantile sketch."""
    sketch = np.sort(np.asarray(quantiles, dtype=float))
    cur = np.sort(current)
    points = np.union1d(sketch, cur)
    f_ref = np.searchsorted(sketch, points, side="right") / len(sketch)
    f_cur = np.searchsorted(cur, points, side="right") / len(cur)
    d = float(np.max(np.abs(f_cur - f_ref)))
    m = min(reference_n, len(sketch))
    n = len(cur)
    en = m * n / (m + n)
    p = float(stats.kstwo.sf(d, round(en))) if en >= 1 else 1.0
    return d, min(max(p, 0.0), 1.0)


def chi2_two_sample(reference_counts: Sequence[int], current_counts: Sequence[int]
                    ) -> tuple[float, float]:
    """Chi-square test of homogeneity (2 x k contingency table) between the reference and the
    window. The reference is itself a sample, so a goodness-of-fit test against its
    proportions would understate the variance and raise false alarms."""
    table = np.asarray([reference_counts, current_counts], dtype=float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    small = (expected < 5).any(axis=0)
    if small.any():  # pool sparse categories so the chi-square approximation holds
        table = np.column_stack([table[:, ~small], table[:, small].sum(axis=1)])
        table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0
    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def feature_drift(ref: FeatureProfile, values: pd.Series, cfg: DriftConfig) -> FeatureDrift:
    counts, nulls = bin_counts(ref, values)
    n = len(values)
    non_null = n - nulls
    common = dict(
        name=ref.name, kind=ref.kind, n=n,
        missing_rate_reference=ref.null_count / ref.count if ref.count else 0.0,
        missing_rate_current=nulls / n if n else 0.0,
        unseen=unseen_count(ref, values),
        reference_counts=list(ref.counts), current_counts=counts,
    )
    test = "ks" if ref.kind == "numeric" else "chi2"
    if non_null < cfg.min_rows or ref.non_null == 0:
        return FeatureDrift(test=test, statistic=None, p_value=None, psi=None, drifted=False,
                            status="insufficient_data", **common)  # type: ignore[arg-type]
    score = psi(ref.counts, counts)
    if ref.kind == "numeric":
        x = np.asarray(pd.to_numeric(values, errors="coerce"), dtype=float)
        statistic, p = ks_from_sketch(ref.quantiles, ref.non_null, x[~np.isnan(x)])
    else:
        statistic, p = chi2_two_sample(ref.counts, counts)
    drifted = score >= cfg.psi_threshold or p < cfg.p_value
    return FeatureDrift(test=test, statistic=statistic, p_value=p, psi=score, drifted=drifted,
                        status="drifted" if drifted else "ok", **common)  # type: ignore[arg-type]


def detect_drift(reference: Profile, current: pd.DataFrame, features: Sequence[FeatureSpec],
                 cfg: DriftConfig) -> DriftResult:
    results = [feature_drift(reference.features[f.name], current[f.name], cfg)
               for f in features if f.name in reference.features and f.name in current.columns]
    tested = [r for r in results if r.status != "insufficient_data"]
    share = sum(r.drifted for r in tested) / len(tested) if tested else 0.0
    prediction = None
    if "score" in reference.features and "score" in current.columns:
        prediction = feature_drift(reference.features["score"], current["score"], cfg)
    return DriftResult(features=results, share=share, detected=bool(tested) and share >= cfg.share,
                       tested=len(tested), prediction=prediction)
