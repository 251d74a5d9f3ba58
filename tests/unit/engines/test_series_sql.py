"""The series scan's column-wise assembly of window profiles equals `profile_rows` on the
same statement's rows, exactly (sums included: the same additions in the same order)."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from opsloop.core.profile import compute_profile
from opsloop.data.features import FeatureSpec
from opsloop.data.predlog import WINDOW_KEY
from opsloop.engines.profile_sql import describe, profile_branches, profile_rows
from opsloop.engines.series_sql import KEY, _assemble_series

SPECS = [
    FeatureSpec("x", "numeric", "float64"),
    FeatureSpec("t", "numeric", "float64"),  # stored as text: type errors
    FeatureSpec("c", "categorical", "string"),
    FeatureSpec("b", "boolean", "bool"),
]


def frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.lognormal(1.0, 0.8, n)
    x[rng.random(n) < 0.05] = np.nan
    x[:3] = [np.inf, -np.inf, 1e300]
    t = rng.normal(0, 1, n).round(3).astype(str).astype(object)
    t[rng.random(n) < 0.05] = "oops"
    c = rng.choice(["a", "b", "c", "new", None], n, p=[0.4, 0.3, 0.2, 0.05, 0.05])
    return pd.DataFrame(
        {
            "ts": pd.Timestamp("2013-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), "s"),
            "x": x,
            "t": t,
            "c": c,
            "b": rng.random(n) < 0.3,
        }
    )


def test_series_profiles_equal_profile_rows() -> None:
    train = frame(3000, 0).replace({"t": {"oops": None}})
    train.loc[:2, "x"] = 1.0  # the extremes in the windows only
    train["t"] = train["t"].astype(float)
    reference = compute_profile(train[train["c"] != "new"], SPECS)
    window = frame(4000, 1)
    window[WINDOW_KEY] = np.repeat(np.arange(8) * 3, 500)  # windows 0, 3, 6, …
    con = duckdb.connect()
    con.execute("SET threads = 1")  # the same row order in both runs of the statement
    con.register("w", window)
    columns = describe(con, "w", [])
    names, branches = profile_branches(reference, "w", columns, [KEY], time="ts")
    sql = " UNION ALL ".join(branches)
    rows = con.execute(sql).fetchall()
    expected = {int(g[0]): p for g, p in profile_rows(reference, names, rows, 1)}
    got = con.execute(sql).fetchnumpy()
    found = _assemble_series(reference, names, {k: np.ma.asarray(v) for k, v in got.items()})
    assert list(found) == list(expected) == [0, 3, 6, 9, 12, 15, 18, 21]
    for w, profile in expected.items():
        assert found[w] == profile, w
    assert expected[0].features["t"].type_errors > 0 and expected[0].newest is not None
