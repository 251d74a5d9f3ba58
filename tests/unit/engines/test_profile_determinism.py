"""Profiles in DuckDB are the same bytes from run to run (issue 14): the window profile's
sums depend on the values only — not on DuckDB's threads nor on the rows' order — and
the reference layout's moments are read on one thread."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from opsloop.core.profile import compute_profile
from opsloop.data.features import FeatureSpec
from opsloop.engines.profile_sql import describe, grid_exponent, run_profile
from opsloop.engines.reference_sql import reference_profile

SPECS = [FeatureSpec("x", "numeric", "float64"), FeatureSpec("y", "numeric", "float64")]


def frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.lognormal(1.0, 1.5, n), "y": rng.normal(1e6, 3.0, n)})


def table(df: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    """A DuckDB table of many row groups (which DuckDB's two threads split between them)."""
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.register("df", df)
    con.execute("CREATE TABLE t AS SELECT * FROM df")
    return con


def sums(con: duckdb.DuckDBPyConnection, reference: object) -> list[tuple[float, float]]:
    profile = run_profile(con, reference, "t")[0][1]  # type: ignore[arg-type]
    return [(f.sum, f.sum_sq) for f in profile.features.values()]


def test_a_window_profile_does_not_depend_on_the_row_order() -> None:
    """The same values in another row order (so other rows in each thread's share) give
    the same sums to the last bit: a float sum in DuckDB's order did not (~1 bit in 10⁻¹⁶
    of these 600,000 values' moments moved between orders)."""
    reference = compute_profile(frame(5_000, 1), SPECS)
    df = frame(600_000, 2)
    first = sums(table(df), reference)
    for seed in (3, 4, 5):
        shuffled = df.sample(frac=1.0, random_state=seed).reset_index(drop=True)
        assert sums(table(shuffled), reference) == first
    # and as precise as NumPy's sums of the same differences
    for (s, ss), name in zip(first, ("x", "y"), strict=True):
        d = df[name].to_numpy() - reference.features[name].shift
        assert s == np.float64(np.sum(d)) or abs(s - np.sum(d)) <= 1e-9 * np.sum(np.abs(d))
        assert abs(ss - np.sum(d * d)) <= 1e-12 * np.sum(d * d)


def test_a_reference_profile_is_the_same_bytes_run_after_run() -> None:
    df = frame(400_000, 6)
    con = table(df)
    columns = describe(con, "t")
    runs = {reference_profile(con, "t", SPECS, columns).profile.to_json() for _ in range(8)}
    assert len(runs) == 1
    assert con.execute("SELECT current_setting('threads')").fetchone() == (2,)  # restored


def test_values_beyond_the_grid_are_summed_from_their_extremes() -> None:
    """A window value far beyond the reference (over 32 times its largest deviation) is
    summed exactly when alone in its sketch bucket, else from the bucket's extremes."""
    reference = compute_profile(pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}), SPECS[:1])
    fp = reference.features["x"]
    far = 2.0 ** grid_exponent(fp) * 1000
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES (2.0), (3.0), (?)) v(x)", [far])
    got = run_profile(con, reference, "t")[0][1].features["x"]
    d = np.array([2.0, 3.0, far]) - fp.shift
    assert got.sum == float(np.sum(d)) and got.sum_sq == float(np.sum(d * d))
    assert got.max == far
