"""DuckDB profiles over real Parquet files equal NumPy profiles of the same data, and
per-hour profiles from the prediction log roll up into the window's profile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsloop.core.profile import Profile, compute_profile, merge_all, profile_frame
from opsloop.data.features import FeatureSpec
from opsloop.engines.duckdb import DuckDBEngine
from opsloop.engines.profile_sql import run_profile
from opsloop.serve import PredictionLogWriter

SPECS = [
    FeatureSpec("x", "numeric", "float64"),
    FeatureSpec("i", "numeric", "int64"),
    FeatureSpec("c", "categorical", "string"),
    FeatureSpec("b", "boolean", "bool"),
]
T0 = datetime(2026, 3, 1, 22, 30, tzinfo=UTC)


def data(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(5 + shift, 2, n)
    x[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "x": x,
            "i": rng.integers(-3, 40, n),
            "c": rng.choice(["a", "b", "c", "it's", "new"], n, p=[0.4, 0.3, 0.2, 0.05, 0.05]),
            "b": rng.random(n) < 0.3,
        }
    )


REFERENCE = compute_profile(data(2000, 0).assign(c=lambda d: d["c"].replace("new", "a")), SPECS)


def assert_same(a: Profile, b: Profile) -> None:
    assert a.n_rows == b.n_rows and a.features.keys() == b.features.keys()
    assert a.newest == b.newest
    for name, fa in a.features.items():
        fb = b.features[name]
        exact = (
            "count",
            "null_count",
            "counts",
            "sketch",
            "unseen",
            "min",
            "max",
            "type_errors",
            "sample",
        )
        assert [getattr(fa, k) for k in exact] == [getattr(fb, k) for k in exact], name
        # float sums in another order: rounding error ≤ n·ε·Σ|d| ≤ n·ε·√(n·Σd²)
        tol = 1e-11 * np.sqrt(fa.non_null * max(fa.sum_sq, 0.0)) + 1e-9
        assert fa.sum == pytest.approx(fb.sum, rel=1e-9, abs=tol), name
        assert fa.sum_sq == pytest.approx(fb.sum_sq, rel=1e-9, abs=1e-9), name


def duck_profile(frame: pd.DataFrame, path: Path) -> Profile:
    frame.to_parquet(path)
    with duckdb.connect() as con:
        return run_profile(con, REFERENCE, f"read_parquet('{path}')")[0][1]


def test_duckdb_equals_numpy_on_real_parquet(tmp_path: Path) -> None:
    frame = data(30_000, 1, shift=1.5)
    frame.loc[:10, "x"] = [np.inf, -np.inf, 1e12, -1e12, 5.0, 0.0, np.nan, 3, 4, 5, 6]
    assert_same(duck_profile(frame, tmp_path / "w.parquet"), profile_frame(frame, REFERENCE))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    xs=st.lists(
        st.floats(-1e150, 1e150) | st.none() | st.sampled_from([np.inf, -np.inf, np.nan]),
        min_size=1,
        max_size=60,
    ),
    cats=st.lists(st.sampled_from(["a", "b", "it's", "zz", None]), min_size=1, max_size=60),
)
def test_duckdb_equals_numpy_property(
    tmp_path: Path, xs: list[float | None], cats: list[str | None]
) -> None:
    n = min(len(xs), len(cats))
    frame = pd.DataFrame(
        {
            "x": pd.Series(xs[:n], dtype=float),
            "i": np.arange(n) - 3,
            "c": pd.Series(cats[:n], dtype=object),
            "b": [k % 2 == 0 for k in range(n)],
        }
    )
    assert_same(duck_profile(frame, tmp_path / "p.parquet"), profile_frame(frame, REFERENCE))


def test_hourly_profiles_roll_up_to_the_window(tmp_path: Path) -> None:
    writer = PredictionLogWriter(tmp_path / "pred", "m")
    frames = []
    for h in range(4):
        part = data(700, 10 + h, shift=0.2 * h)
        ts = T0 + timedelta(hours=h)
        part = part.assign(
            prediction_id=[f"{h}-{k}" for k in range(len(part))],
            request_id="r",
            ts=pd.Timestamp(ts),
            model_version="1" if h != 2 else "2",
            route="stable",
            prediction=1,
            score=0.5,
        )
        part.loc[:49, "route"] = "shadow"
        writer.submit(part)
        frames.append(part)
    writer.close()
    engine = DuckDBEngine(tmp_path / "pred", tmp_path / "labels")
    start, end = T0 - timedelta(minutes=1), T0 + timedelta(hours=4)
    hours = engine.profile_hours("m", start, end, REFERENCE, version="1")
    assert sorted(hours) == [
        datetime(2026, 3, 1, 22, tzinfo=UTC),
        datetime(2026, 3, 1, 23, tzinfo=UTC),
        datetime(2026, 3, 2, 1, tzinfo=UTC),
    ]  # hour 00 is version 2
    window = engine.profile_window("m", start, end, REFERENCE, version="1")
    assert_same(merge_all(REFERENCE, hours.values()), window)
    kept = pd.concat(frames, ignore_index=True)
    kept = kept[(kept["model_version"] == "1") & (kept["route"] != "shadow")]
    assert window.n_rows == 3 * 650
    assert_same(window, profile_frame(kept, REFERENCE))
    empty = engine.profile_window("m", T0 + timedelta(days=5), T0 + timedelta(days=6), REFERENCE)
    assert empty.n_rows == 0 and all(f.count == 0 for f in empty.features.values())


@pytest.mark.parametrize("n_categories", [30, 300, 1500])  # list_position, hash join, top-k
def test_duckdb_equals_numpy_for_long_category_lists(tmp_path: Path, n_categories: int) -> None:
    rng = np.random.default_rng(n_categories)
    values = np.array([f"v{k}" for k in range(n_categories)], dtype=object)
    specs = [FeatureSpec("c", "categorical", "string"), FeatureSpec("x", "numeric", "float64")]
    reference = compute_profile(
        pd.DataFrame({"c": np.repeat(values, 2), "x": np.full(2 * n_categories, np.nan)}), specs
    )
    assert reference.features["x"].layout is None  # no finite reference value: no sketch
    window = pd.DataFrame(
        {
            "c": pd.Series(rng.choice([*values[:40], "unseen", "it's", None], 5000), dtype=object),
            "x": rng.choice([1.0, np.nan, np.inf, -np.inf, -2.5, None], 5000),
        }
    )
    window.to_parquet(tmp_path / "w.parquet")
    with duckdb.connect() as con:
        got = run_profile(con, reference, f"read_parquet('{tmp_path / 'w.parquet'}')")[0][1]
    assert_same(got, profile_frame(window, reference))


def test_empty_relation_gives_one_empty_profile(tmp_path: Path) -> None:
    data(10, 0).iloc[:0].to_parquet(tmp_path / "e.parquet")
    with duckdb.connect() as con:
        [(group, got)] = run_profile(con, REFERENCE, f"read_parquet('{tmp_path / 'e.parquet'}')")
    assert group == () and got.n_rows == 0
    assert_same(got, profile_frame(data(10, 0).iloc[:0], REFERENCE))


def test_grouped_profiles_with_a_long_category_list(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    values = np.array([f"v{k}" for k in range(100)], dtype=object)  # the hash-join lookup
    specs = [FeatureSpec("c", "categorical", "string"), FeatureSpec("x", "numeric", "float64")]
    reference = compute_profile(
        pd.DataFrame({"c": np.repeat(values, 3), "x": rng.normal(0, 1, 300)}), specs
    )
    window = pd.DataFrame(
        {
            "g": rng.integers(0, 3, 4000),
            "c": rng.choice([*values[:70], "new", None], 4000),
            "x": rng.normal(0.5, 2, 4000),
        }
    )
    window.to_parquet(tmp_path / "w.parquet")
    with duckdb.connect() as con:
        got = run_profile(
            con, reference, f"read_parquet('{tmp_path / 'w.parquet'}')", group_by=("g",)
        )
    assert [g for g, _ in got] == [(0,), (1,), (2,)]
    for (g,), profile in got:
        part = window[window["g"] == g].drop(columns="g")
        assert_same(profile, profile_frame(part, reference))


def test_type_errors_and_newest_in_the_same_pass(tmp_path: Path) -> None:
    """Strings in numeric and boolean columns: TRY_CAST counts them as type errors (and
    nulls) instead of failing the query, exactly as the NumPy engine does."""
    frame = data(200, 3).astype({"x": object})
    frame["b"] = frame["b"].map({True: "true", False: "false"})
    frame.loc[:6, "x"] = ["oops", "", " 4 ", "2e3", "1_000", "nan", None]
    frame.loc[:2, "b"] = ["maybe", "true", None]
    frame["ts"] = pd.Timestamp(T0) + pd.to_timedelta(np.arange(200), unit="s")
    frame = frame.astype({"x": str, "b": str}).replace({"None": None})
    duck = duck_profile(frame, tmp_path / "t.parquet")
    assert duck.features["x"].type_errors == 2 and duck.features["b"].type_errors == 1
    assert duck.newest == T0 + timedelta(seconds=199)
    assert_same(duck, profile_frame(frame, REFERENCE))


def test_read_values_bounded_and_equal_to_the_memory_engine(tmp_path: Path) -> None:
    from opsloop.engines.memory import MemoryEngine

    part = data(500, 4).assign(
        prediction_id=[str(k) for k in range(500)],
        request_id="r",
        ts=pd.Timestamp(T0),
        model_version="1",
        route="stable",
        prediction=1,
        score=0.5,
    )
    writer = PredictionLogWriter(tmp_path / "pred", "m")
    writer.submit(part)
    writer.close()
    duck = DuckDBEngine(tmp_path / "pred", tmp_path / "labels")
    memory = MemoryEngine()
    memory.add_predictions(part)
    start, end = T0 - timedelta(minutes=1), T0 + timedelta(minutes=1)
    for engine in (duck, memory):
        got = engine.read_values("m", start, end, ["x", "i", "absent"], version="1", limit=10_000)
        finite = part["x"].dropna()
        assert sorted(got["x"]) == sorted(finite.tolist()) and len(got["i"]) == 500
        assert got["absent"] == []
        capped = engine.read_values("m", start, end, ["x"], version="1", limit=7)
        assert len(capped["x"]) == 7


def by_value_and_by_row(reference: Profile, path: Path) -> tuple[Profile, Profile]:
    """The relation's profile with categorical values counted first (`by_value`, as
    `opsloop drift` reads the current data), and coded row by row."""
    from opsloop.engines.profile_sql import describe, profile_branches, profile_rows

    source = f"read_parquet('{path}')"
    got = []
    with duckdb.connect() as con:
        columns = describe(con, source)
        for by_value in (True, False):
            names, branches = profile_branches(
                reference, source, columns, time="", by_value=by_value
            )
            rows = con.execute(" UNION ALL ".join(branches)).fetchall()
            got.append(profile_rows(reference, names, rows)[0][1])
    return got[0], got[1]


@pytest.mark.parametrize("n_categories", [30, 300, 1500])  # list_position, hash join, top-k
def test_values_counted_first_give_the_same_profile(tmp_path: Path, n_categories: int) -> None:
    rng = np.random.default_rng(n_categories)
    values = np.array([f"v{k}" for k in range(n_categories)], dtype=object)
    specs = [FeatureSpec("c", "categorical", "string"), FeatureSpec("x", "numeric", "float64")]
    reference = compute_profile(
        pd.DataFrame({"c": np.repeat(values, 2), "x": rng.normal(0, 1, 2 * n_categories)}), specs
    )
    window = pd.DataFrame(
        {
            "c": pd.Series(rng.choice([*values[:40], "unseen", "it's", None], 5000), dtype=object),
            "x": rng.normal(0.3, 1, 5000),
        }
    )
    window.to_parquet(tmp_path / "w.parquet")
    counted, coded = by_value_and_by_row(reference, tmp_path / "w.parquet")
    assert_same(counted, coded)
    assert_same(counted, profile_frame(window, reference))


def test_values_counted_first_keep_a_booleans_type_errors(tmp_path: Path) -> None:
    frame = data(300, 4)
    frame["b"] = frame["b"].map({True: "true", False: "false"}).astype(object)
    frame.loc[:3, "b"] = ["maybe", "maybe", "true", None]
    frame.to_parquet(tmp_path / "b.parquet")
    counted, coded = by_value_and_by_row(REFERENCE, tmp_path / "b.parquet")
    assert counted.features["b"].type_errors == 2
    assert_same(counted, coded)
    assert_same(counted, profile_frame(frame, REFERENCE))
