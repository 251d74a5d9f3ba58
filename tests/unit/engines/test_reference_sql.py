"""The reference profile built in DuckDB equals NumPy's `compute_profile` of the same data:
counts, sketches, histogram edges (NumPy's deciles' keys), categories, type errors."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from opsloop.core.profile import MAX_KNOWN, OTHER, compute_profile
from opsloop.data.features import FeatureSpec
from opsloop.engines.profile_sql import describe
from opsloop.engines.reference_sql import reference_profile, sample

SPECS = [
    FeatureSpec("x", "numeric", "float64"),
    FeatureSpec("i", "numeric", "int64"),
    FeatureSpec("d", "numeric", "float64"),  # three values: deciles coincide
    FeatureSpec("c", "categorical", "string"),
    FeatureSpec("b", "boolean", "bool"),
]
EXACT = ("count", "null_count", "counts", "sketch", "edge_keys", "categories", "known")
EXACT += ("unseen", "min", "max", "type_errors")


def frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.lognormal(1.0, 0.8, n)
    x[rng.random(n) < 0.05] = np.nan
    x[: min(n, 2)] = [np.inf, -np.inf][: min(n, 2)]
    c = rng.choice(["a", "b", "c", "it's", None], n, p=[0.4, 0.3, 0.2, 0.05, 0.05])
    return pd.DataFrame(
        {
            "x": x,
            "i": rng.integers(-3, 40, n),
            "d": rng.integers(0, 3, n).astype(float),
            "c": pd.array(c, dtype="string"),
            "b": rng.random(n) < 0.3,
        }
    )


def duck(df: pd.DataFrame, specs: list[FeatureSpec] = SPECS) -> tuple[object, object]:
    con = duckdb.connect()
    con.register("t", df)
    return con, reference_profile(con, "t", specs, describe(con, "t"))


@pytest.mark.parametrize(("n", "seed"), [(3, 0), (57, 1), (2_000, 2), (30_000, 3)])
def test_equals_numpy_profile(n: int, seed: int) -> None:
    df = frame(n, seed)
    expected = compute_profile(df, SPECS)
    _, got = duck(df)
    assert got.profile.n_rows == expected.n_rows == n  # type: ignore[attr-defined]
    for name, want in expected.features.items():
        have = got.profile.features[name]  # type: ignore[attr-defined]
        for attr in EXACT:
            assert getattr(have, attr) == getattr(want, attr), (name, attr)
        assert have.sum == pytest.approx(want.sum, rel=1e-9, abs=1e-6)
        if want.layout is not None:
            assert have.layout is not None
            assert have.layout.center == pytest.approx(want.layout.center, rel=1e-12)
            assert have.layout.scale == pytest.approx(want.layout.scale, rel=1e-12)
            # display edges: exact at the ends, within the sketch's resolution inside
            assert have.edges[0] == want.edges[0] and have.edges[-1] == want.edges[-1]


def test_sample_is_every_finite_value_when_few() -> None:
    df = frame(2_000, 4)
    expected = compute_profile(df, SPECS)
    con, _ = duck(df)
    for name in ("x", "i"):
        assert sample(con, "t", name, describe(con, "t")[name]) == expected.features[name].sample  # type: ignore[arg-type]
    big = sample(con, "t", "i", "BIGINT", size=100)  # type: ignore[arg-type]
    assert len(big) == 100 and big == sorted(big)
    assert set(big) <= set(df["i"].tolist())


def test_many_categories_pool_the_rarest_like_numpy() -> None:
    rng = np.random.default_rng(5)
    n = 3 * MAX_KNOWN
    values = [f"v{k}" for k in rng.integers(0, MAX_KNOWN + 300, n)]
    df = pd.DataFrame({"c": values})
    spec = [FeatureSpec("c", "categorical", "string")]
    expected = compute_profile(df, spec).features["c"]
    got = duck(df, spec)[1].profile.features["c"]  # type: ignore[attr-defined]
    assert got.known is None and got.pooled
    assert got.categories == expected.categories and got.counts == expected.counts
    assert got.labels()[-1] == OTHER


def test_all_null_and_all_infinite_columns() -> None:
    df = pd.DataFrame({"x": [np.inf, np.nan, -np.inf], "c": pd.array([None] * 3, dtype="string")})
    spec = [FeatureSpec("x", "numeric", "float64"), FeatureSpec("c", "categorical", "string")]
    expected = compute_profile(df, spec)
    got = duck(df, spec)[1].profile  # type: ignore[attr-defined]
    for name in ("x", "c"):
        for attr in EXACT:
            assert getattr(got.features[name], attr) == getattr(expected.features[name], attr)


class Counting:
    """A connection that counts the statements it runs that read data (not the settings
    `reference_sql.one_thread` reads and sets)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con, self.statements, self.threads = con, 0, []

    def execute(self, sql: str, params: object = None) -> duckdb.DuckDBPyConnection:
        if sql.startswith("SET threads") or "current_setting('threads')" in sql:
            self.threads.append(sql)
        else:
            self.statements += 1
        return self.con.execute(sql, params)


@pytest.mark.parametrize(
    ("x", "statements"),
    [
        ([1.0, 2.0, 4.0], 1),  # finite: the plain moments are the finite values'
        ([1.0, np.nan, 4.0], 2),  # NaN makes the mean NaN: read again, keeping finite values
        ([1.0, np.inf, 4.0], 2),
        ([1e308, 1e308, 1.0], 2),  # the sum overflows: read again, to the same result
        ([1e200, -1e200, 1.0], 2),  # the mean square overflows
        ([3.0, 3.0, 3.0], 2),  # constant: E[x²] − mean² is rounding noise, Welford's is 0
        ([1e9 + 1, 1e9 + 2, 1e9 + 4], 2),  # far from zero: the difference would lose digits
        ([0.0, 0.0], 1),  # every value 0: the std is 0 without a second read
    ],
)
def test_the_layout_is_read_again_only_when_needed(x: list[float], statements: int) -> None:
    from opsloop.engines.reference_sql import reference_layout

    values = ", ".join(f"('{v!r}')" for v in x)  # NaN stays NaN (a DataFrame's is NULL)
    table = f"(SELECT CAST(v AS DOUBLE) AS x FROM (VALUES {values}) t(v))"
    spec = [FeatureSpec("x", "numeric", "float64")]
    con = duckdb.connect()
    counting = Counting(con)
    layout = reference_layout(counting, table, spec, describe(con, table))
    assert counting.statements == statements
    finite = np.asarray([v for v in x if np.isfinite(v)])
    got = layout.profile.features["x"].layout
    assert got is not None
    with np.errstate(over="ignore", invalid="ignore"):
        assert got.center == pytest.approx(float(finite.mean()), rel=1e-12)
        want = float(finite.std())
    if 0 < want < np.inf:
        assert got.scale == pytest.approx(want, rel=1e-6)
    elif want == 0.0:  # no spread: the scale falls back to the mean's size, else 1
        assert got.scale == (abs(got.center) or 1.0)


@pytest.mark.parametrize("n", [1_000, 200_000])
def test_std_from_the_mean_square_is_numpys_to_rounding(n: int) -> None:
    """The layout's std from E[x²] − mean² (one read; x's mean is 25 std from zero, near
    the limit) matches NumPy's two-pass std to far below the sketch's resolution."""
    from opsloop.engines.reference_sql import reference_layout

    rng = np.random.default_rng(n)
    df = pd.DataFrame({"x": rng.normal(25.0, 1.0, n), "y": rng.lognormal(0.0, 2.0, n)})
    spec = [FeatureSpec("x", "numeric", "float64"), FeatureSpec("y", "numeric", "float64")]
    con = duckdb.connect()
    con.register("t", df)
    counting = Counting(con)
    layout = reference_layout(counting, "t", spec, describe(con, "t"))
    assert counting.statements == 1
    for name in ("x", "y"):
        got = layout.profile.features[name].layout
        assert got is not None
        assert got.scale == pytest.approx(float(df[name].std(ddof=0)), rel=1e-9)


def test_finite_columns_are_sketched_without_the_infinity_check() -> None:
    """A column whose layout saw only finite values is read without `isinf`, to the same
    rows as with it; one with an infinity keeps the check."""
    from opsloop.engines.profile_sql import profile_branches
    from opsloop.engines.reference_sql import reference_layout, sketch_branches

    df = frame(5_000, 6)  # x holds ±inf and NaN, i and d do not
    con = duckdb.connect()
    con.register("t", df)
    columns = describe(con, "t")
    layout = reference_layout(con, "t", SPECS, columns)
    assert layout.finite == {"i", "d"}
    names, fast = sketch_branches(layout, "t", columns)
    _, checked = profile_branches(layout.numeric, "t", dict(columns), time="")
    assert ["isinf" in b for b in fast] == [name == "x" for name in names]
    assert all("isinf" in b for b in checked)
    for a, b in zip(fast, checked, strict=True):
        assert sorted(con.execute(a).fetchall(), key=repr) == sorted(
            con.execute(b).fetchall(), key=repr
        )
