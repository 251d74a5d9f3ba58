"""Training's reference profile computed by DuckDB (large training sets) is the one NumPy
computes: the same layout, counts, categories and bin edges (sketch keys) — so the same
drift verdicts — with nulls, NaN, infinities, booleans, integers and an empty feature."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from opsloop.core.profile import compute_profile
from opsloop.data.features import FeatureSpec
from opsloop.train.register import engine_profile

EXACT = ("kind", "count", "null_count", "edge_keys", "categories", "known", "counts", "unseen")
CLOSE = ("shift", "min", "max", "sum", "sum_sq")


def frame(n: int = 4000) -> tuple[pd.DataFrame, list[FeatureSpec]]:
    rng = np.random.default_rng(5)
    x = rng.lognormal(size=n)
    x[rng.random(n) < 0.05] = np.nan
    x[:3] = [np.inf, -np.inf, 1e12]
    plan = rng.choice(
        np.array(["basic", "pro", "team", None], dtype=object), n, p=[0.5, 0.3, 0.15, 0.05]
    )
    df = pd.DataFrame(
        {
            "x": x,
            "count": rng.poisson(3, n).astype("int64"),
            "plan": pd.Series(plan, dtype=object),
            "city": pd.Series([f"c{i}" for i in rng.integers(0, 60, n)], dtype=object),
            "flag": rng.random(n) < 0.3,
            "empty": np.full(n, np.nan),
            "score": rng.random(n),
        }
    )
    specs = [
        FeatureSpec("x", "numeric", "float64", True),
        FeatureSpec("count", "numeric", "int64", False),
        FeatureSpec("plan", "categorical", "object", True),
        FeatureSpec("city", "categorical", "object", False),
        FeatureSpec("flag", "boolean", "bool", False),
        FeatureSpec("empty", "numeric", "float64", True),
        FeatureSpec("score", "numeric", "float64", False),
    ]
    return df, specs


def test_the_engine_profile_is_numpys() -> None:
    df, specs = frame()
    want = compute_profile(df, specs)
    got = engine_profile(df, specs)
    assert got.n_rows == want.n_rows and set(got.features) == set(want.features)
    for name, w in want.features.items():
        g = got.features[name]
        for field in EXACT:
            assert getattr(g, field) == getattr(w, field), (name, field)
        # sums of (value - shift): float noise of the order of the largest value's ulp
        scale = max(abs(w.min or 0.0), abs(w.max or 0.0), 1.0) * max(w.count, 1) * 1e-12
        for field in CLOSE:
            a, b = getattr(g, field), getattr(w, field)
            if a is None or b is None:
                assert a is b, (name, field)
            else:
                assert math.isclose(a, b, rel_tol=1e-9, abs_tol=scale), (name, field, a, b)
        assert (g.layout is None) == (w.layout is None), name
        if w.layout is not None:
            assert g.sketch == w.sketch, name
            assert g.sample == pytest.approx(w.sample), name  # all values: fewer than a sample
            assert len(g.edges) == len(w.edges), name
