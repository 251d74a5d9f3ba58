"""Multivariate drift: the PCA reconstruction error of a window (NannyML's method).

Fitted on the reference at training time (`fit_transform`), as NannyML's
`DataReconstructionDriftCalculator`:

1. impute: numeric → the reference mean (non-finite values count as missing), categorical and
   boolean → the most frequent category;
2. encode categoricals by their reference frequency (NannyML's `CountEncoder(normalize=True)`);
   a category outside the reference's top `TOP_CATEGORIES` (or never seen) encodes as 0;
3. standardise every column (reference mean, population std; a constant column scales by 1);
4. PCA on the standardised reference: keep the fewest components whose explained variance
   reaches `variance` (0.65, NannyML's default; sklearn's rule for a float `n_components`).

A row's reconstruction error is the Euclidean norm of z − WᵀWz (z the standardised row, W the
k × p components); since W's rows are orthonormal it equals √(‖z‖² − ‖Wz‖²), which is how the
SQL engine computes it (`opsloop.engines.multivariate_sql`; the value types and the NumPy
way, `frame_error`, are in `opsloop.core.transform`). A window's value is the mean over
its rows.

**Band**: the reference is split into `chunks` contiguous chunks (NannyML's chunker); each
chunk's mean error is computed *out of fold* (the principal axes refitted without that chunk,
keeping k), because the error of rows the PCA was fitted on is biased low and a window is
never part of the reference. Band = centre ± sigma · s, the centre the mean of the chunk means
and s their standard deviation (floored at the rows' standard deviation · √(1/m − 1/N), what
independent rows would give: 20 chunks estimate s only to ±16%). The half-width is scaled to
the window: a chunk of m rows differs from the centre (which includes it) with variance
∝ 1/m − 1/N, a window of n rows with ∝ 1/n + 1/N (the window's noise plus the centre's), so
the band is multiplied by √((1/n + 1/N) / (1/m − 1/N)) and fits whatever the monitoring
window's size; with n far above N the band stops shrinking at the reference's own
uncertainty.

Everything is stored with the version as the artifact `multivariate.json`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from opsloop.core.profile import category_values
from opsloop.core.transform import METHOD, Band, Column, Transform, encode, row_errors, standardise
from opsloop.data.features import FeatureSpec

if TYPE_CHECKING:
    import pandas as pd

    from opsloop.runtime import Runtime

ARTIFACT = "multivariate.json"
TOP_CATEGORIES = 50


@dataclass
class MultivariateResult:
    value: float | None
    lower: float | None
    upper: float | None
    drifted: bool
    n: int
    components: int

    def to_dict(self) -> dict[str, Any]:
        return {"method": METHOD, **asdict(self)}


# --- encoding ---------------------------------------------------------------------------


def _fit_columns(df: pd.DataFrame, features: Sequence[FeatureSpec]) -> list[Column]:
    import pandas as pd

    cols: list[Column] = []
    for spec in features:
        if spec.name not in df.columns:
            continue
        values = df[spec.name]
        if spec.kind == "numeric":
            x = np.asarray(pd.to_numeric(values, errors="coerce"), dtype=float)
            x = x[np.isfinite(x)]
            col = Column(spec.name, "numeric", float(x.mean()) if len(x) else 0.0, 0.0, 1.0)
        else:
            cats = category_values(values)
            uniq, counts = (
                np.unique(cats.astype(str), return_counts=True)
                if len(cats)
                else (np.array([], dtype=str), np.array([], dtype=int))
            )
            order = sorted(
                zip(uniq.tolist(), counts.tolist(), strict=True), key=lambda t: (-t[1], t[0])
            )[:TOP_CATEGORIES]
            total = max(len(cats), 1)
            freq = {str(c): n / total for c, n in order}
            col = Column(spec.name, spec.kind, freq[order[0][0]] if order else 0.0, 0.0, 1.0, freq)
        raw = encode(values, col)
        col.mean = float(raw.mean()) if len(raw) else 0.0
        sd = float(raw.std()) if len(raw) else 0.0
        col.scale = sd if sd > 1e-12 * max(1.0, abs(col.mean)) else 1.0
        cols.append(col)
    return cols


def _components(
    z: np.ndarray, variance: float, k: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(k × p components, explained variance ratios) of the centred matrix z, keeping the
    fewest components that explain `variance` (sklearn's rule) unless k is given."""
    zc = z - z.mean(axis=0)
    _, s, vt = np.linalg.svd(zc, full_matrices=False)
    var = s**2
    ratio = var / var.sum() if var.sum() > 0 else np.zeros_like(var)
    if k is None:
        k = int(np.searchsorted(np.cumsum(ratio), variance, side="right")) + 1
    k = max(1, min(k, vt.shape[0]))
    return vt[:k], ratio[:k]


# --- fit and score ----------------------------------------------------------------------


def fit_transform(
    df: pd.DataFrame,
    features: Sequence[FeatureSpec],
    *,
    variance: float = 0.65,
    chunks: int = 20,
    sigma: float = 3.0,
) -> Transform | None:
    """The transform and band fitted on a reference frame; None when there is nothing to
    fit (fewer than two feature columns or fewer than 2 × `chunks` rows)."""
    columns = _fit_columns(df, features)
    if len(columns) < 2 or len(df) < 2:
        return None
    z = standardise(df, columns)
    comps, ratio = _components(z, variance)
    band = _band(z, len(comps), chunks, sigma) if len(df) >= 2 * chunks else None
    return Transform(
        columns=columns,
        components=comps.tolist(),
        explained_variance_ratio=ratio.tolist(),
        band=band,
        reference_rows=len(df),
        variance=variance,
    )


def _band(z: np.ndarray, k: int, chunks: int, sigma: float) -> Band:
    """The band from `chunks` contiguous chunks' out-of-fold mean errors: for each chunk the
    principal axes of the other rows (their covariance from the Gram matrix less the chunk's,
    k kept), applied to the chunk's rows centred on those rows' mean. The imputation,
    encoding and scaling (p numbers each, from all N rows) are not refitted: the in-sample
    bias is the PCA's."""
    n = len(z)
    gram, total = z.T @ z, z.sum(axis=0)
    means, errors = [], []
    for idx in np.array_split(np.arange(n), chunks):
        zc = z[idx]
        rest = n - len(idx)
        mu = (total - zc.sum(axis=0)) / rest
        cov = (gram - zc.T @ zc) / rest - np.outer(mu, mu)
        _, vecs = np.linalg.eigh(cov)  # ascending eigenvalues
        errors.append(row_errors(zc - mu, vecs[:, ::-1][:, :k].T))
        means.append(float(errors[-1].mean()))
    return Band(
        center=float(np.mean(means)),
        sd=float(np.std(means, ddof=1)),
        row_sd=float(np.concatenate(errors).std(ddof=1)),
        sigma=sigma,
        chunk_rows=n / chunks,
        chunks=chunks,
        reference_rows=n,
    )


def judge(
    transform: Transform, n: int, value: float | None, *, min_rows: int = 1
) -> MultivariateResult:
    """The window's verdict: outside the band (scaled to n rows) is drift."""
    k = transform.n_components
    if value is None or n < min_rows or transform.band is None:
        return MultivariateResult(value, None, None, False, n, k)
    lower, upper = transform.band.bounds(n)
    return MultivariateResult(value, lower, upper, not lower <= value <= upper, n, k)


def load_transform(rt: Runtime, version: str, notes: list[str]) -> Transform | None:
    """The version's stored transform; None when the check is disabled or the version has
    none (trained by an older opsloop: said in `notes`)."""
    from opsloop.errors import NotFoundError

    if not rt.config.monitor.drift.multivariate.enabled:
        return None
    try:
        return Transform.from_json(rt.registry.read_artifact(rt.model, version, ARTIFACT))
    except NotFoundError:
        notes.append(
            f"version {version} has no {ARTIFACT} (trained by an older opsloop): "
            "multivariate drift not checked; retrain to enable it"
        )
        return None
