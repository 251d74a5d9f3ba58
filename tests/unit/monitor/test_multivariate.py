"""The PCA reconstruction transform against scikit-learn (imputer, count encoding, scaler,
PCA(n_components=0.65)), the band, the verdict and the JSON round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from opsloop.core.transform import Transform, frame_error, row_errors, standardise
from opsloop.data.features import FeatureSpec
from opsloop.errors import InvalidInputError
from opsloop.monitor.multivariate import fit_transform, judge

FEATURES = [
    FeatureSpec("a", "numeric", "float64"),
    FeatureSpec("b", "numeric", "float64"),
    FeatureSpec("c", "numeric", "float64"),
    FeatureSpec("d", "numeric", "float64"),
    FeatureSpec("cat", "categorical", "string"),
    FeatureSpec("flag", "boolean", "bool"),
]


def frame(rng: np.random.Generator, n: int, rho: float = 0.8) -> pd.DataFrame:
    a = rng.normal(0, 1, n)
    b = rho * a + np.sqrt(1 - rho**2) * rng.normal(0, 1, n)
    c = rng.normal(5, 2, n)
    d = 0.5 * c + rng.normal(0, 1, n)
    df = pd.DataFrame(
        {
            "a": a,
            "b": b,
            "c": c,
            "d": d,
            "cat": rng.choice(["x", "y", "z"], n, p=[0.6, 0.3, 0.1]).astype(object),
            "flag": rng.random(n) < 0.3,
        }
    )
    df.loc[rng.random(n) < 0.05, "a"] = np.nan
    df.loc[rng.random(n) < 0.05, "cat"] = None
    return df


def sklearn_errors(ref: pd.DataFrame, cur: pd.DataFrame) -> tuple[np.ndarray, int]:
    """NannyML's pipeline written with scikit-learn: mean / most-frequent imputation,
    normalised count encoding, StandardScaler, PCA(0.65), row-wise Euclidean error."""

    def encode(df: pd.DataFrame, fitted: dict[str, object] | None) -> tuple[np.ndarray, dict]:
        out = {}
        fitted = fitted or {}
        cols = []
        for name in ("a", "b", "c", "d"):
            mean = fitted.get(name, ref[name].mean())
            out[name] = mean
            cols.append(df[name].fillna(mean).to_numpy(dtype=float))
        for name in ("cat", "flag"):
            values = (
                ref[name]
                .astype(object)
                .map(lambda v: str(v).lower() if isinstance(v, bool | np.bool_) else v)
            )
            freq = values.value_counts(normalize=True)
            mode = freq.index[0]
            cur_v = (
                df[name]
                .astype(object)
                .map(lambda v: str(v).lower() if isinstance(v, bool | np.bool_) else v)
                .fillna(mode)
            )
            cols.append(cur_v.map(freq).fillna(0.0).to_numpy(dtype=float))
        return np.column_stack(cols), out

    x_ref, means = encode(ref, None)
    scaler = StandardScaler().fit(x_ref)
    pca = PCA(n_components=0.65, svd_solver="full").fit(scaler.transform(x_ref))
    x_cur, _ = encode(cur, means)
    z = scaler.transform(x_cur)
    rec = pca.inverse_transform(pca.transform(z))
    return np.linalg.norm(z - rec, axis=1), int(pca.n_components_)


def test_matches_sklearn_pipeline() -> None:
    rng = np.random.default_rng(1)
    ref, cur = frame(rng, 3000), frame(rng, 1000, rho=0.0)
    t = fit_transform(ref, FEATURES, chunks=10)
    assert t is not None
    expected, k = sklearn_errors(ref, cur)
    assert t.n_components == k
    got = row_errors(standardise(cur, t.columns), np.asarray(t.components))
    np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-9)
    n, mean = frame_error(cur, t)
    assert n == 1000 and mean == pytest.approx(expected.mean(), rel=1e-9)


def test_explained_variance_reaches_the_target() -> None:
    t = fit_transform(frame(np.random.default_rng(2), 2000), FEATURES, variance=0.9)
    assert t is not None
    assert sum(t.explained_variance_ratio) >= 0.9
    assert sum(t.explained_variance_ratio[:-1]) < 0.9


def test_band_is_out_of_fold_and_scales_with_window() -> None:
    rng = np.random.default_rng(3)
    ref = frame(rng, 5000)
    t = fit_transform(ref, FEATURES, chunks=20)
    assert t is not None and t.band is not None
    # the in-sample error is biased low; the band's centre is the out-of-fold error
    assert t.band.center >= frame_error(ref, t)[1]  # type: ignore[operator]
    b = t.band
    assert b.spread() >= b.sd
    lo_small, hi_small = b.bounds(250)
    lo_big, hi_big = b.bounds(25_000)
    # a window's mean differs from the centre with variance ∝ 1/n + 1/N (a chunk's: 1/m − 1/N)
    ratio = np.sqrt((1 / 25_000 + 1 / 5000) / (1 / 250 + 1 / 5000))
    assert hi_big - lo_big == pytest.approx((hi_small - lo_small) * ratio)
    assert lo_small < b.center < hi_small
    # a fresh sample of the same distribution sits inside the band
    n, value = frame_error(frame(rng, 5000), t)
    assert not judge(t, n, value).drifted


def test_correlation_break_is_outside_the_band() -> None:
    rng = np.random.default_rng(4)
    t = fit_transform(frame(rng, 5000), FEATURES)
    assert t is not None
    n, value = frame_error(frame(rng, 2000, rho=-0.8), t)
    result = judge(t, n, value)
    assert result.drifted and value is not None and result.upper is not None
    assert value > result.upper
    assert result.to_dict()["method"] == "pca_reconstruction"


def test_json_round_trip_and_missing_columns() -> None:
    rng = np.random.default_rng(5)
    t = fit_transform(frame(rng, 1000), FEATURES, chunks=10)
    assert t is not None
    back = Transform.from_json(t.to_json())
    assert back == t
    cur = frame(rng, 100).drop(columns=["d"])  # a column missing is imputed on every row
    assert frame_error(cur, back)[1] is not None
    with pytest.raises(InvalidInputError, match="retrain"):
        Transform.from_json('{"format": 99}')


def test_nothing_to_fit_and_empty_window() -> None:
    df = frame(np.random.default_rng(6), 100)
    assert fit_transform(df, FEATURES[:1]) is None
    t = fit_transform(df, FEATURES, chunks=80)
    assert t is not None and t.band is None  # too few rows for 80 chunks: no band, no verdict
    assert not judge(t, 100, 1.0).drifted
    assert frame_error(df.iloc[:0], t) == (0, None)
