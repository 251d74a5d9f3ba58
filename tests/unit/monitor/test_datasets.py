"""`opsloop.monitor.compare`: drift between two data sets with the monitor's statistics —
the same verdicts as `detect_drift` on NumPy profiles of the same frames — and clear
errors for bad input."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from opsloop.config import DriftConfig, MonitorQualityConfig
from opsloop.core.profile import compute_profile, profile_frame
from opsloop.data.features import FeatureSpec
from opsloop.errors import InvalidInputError
from opsloop.monitor.datasets import DatasetComparison, compare, plan_features
from opsloop.monitor.drift import detect_drift, exact_features
from opsloop.monitor.quality import Expectations, check_features


def frames(n: int, m: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def one(k: int, shift: float, p: list[float]) -> pd.DataFrame:
        x = rng.normal(10 + shift, 2, k)
        x[rng.random(k) < 0.03] = np.nan
        return pd.DataFrame(
            {
                "x": x,
                "stable": rng.exponential(1.0, k),
                "count": rng.integers(0, 50, k),
                "colour": rng.choice(["red", "green", "blue"], k, p=p),
                "flag": rng.random(k) < 0.4,
                "seen": pd.Timestamp("2026-01-01"),
            }
        )

    return one(n, 0.0, [0.5, 0.3, 0.2]), one(m, 0.8, [0.2, 0.3, 0.5])


SPECS = [
    FeatureSpec("x", "numeric", "double"),
    FeatureSpec("stable", "numeric", "double"),
    FeatureSpec("count", "numeric", "bigint"),
    FeatureSpec("colour", "categorical", "varchar"),
    FeatureSpec("flag", "boolean", "boolean"),
]


def monitor_verdicts(ref: pd.DataFrame, cur: pd.DataFrame, cfg: DriftConfig) -> object:
    """What `opsloop monitor` computes for these frames: NumPy profiles, `detect_drift`
    (with the exact KS on the raw values where it applies)."""
    reference = compute_profile(ref, SPECS)
    current = profile_frame(cur, reference)
    values = {
        name: cur[name].dropna().astype(float).tolist()
        for name in exact_features(reference, current, cfg)
    }
    return detect_drift(reference, current, SPECS, cfg, values)


@pytest.mark.parametrize(
    ("n", "m", "cfg"),
    [
        (4_000, 3_000, DriftConfig()),  # exact KS (sample = every reference value), chi2, z
        (3_000, 150_000, DriftConfig()),  # distances above test_max_rows
        (2_000, 2_000, DriftConfig(method="psi")),
        (2_000, 50, DriftConfig()),  # too few rows: not judged
    ],
)
def test_same_verdicts_as_the_monitor(n: int, m: int, cfg: DriftConfig) -> None:
    ref, cur = frames(n, m)
    got = compare(ref, cur, drift=cfg)
    want = monitor_verdicts(ref, cur, cfg)
    assert [f.name for f in got.drift.features] == [s.name for s in SPECS]
    for g, w in zip(got.drift.features, want.features, strict=True):  # type: ignore[attr-defined]
        assert (g.name, g.test, g.status, g.drifted) == (w.name, w.test, w.status, w.drifted)
        assert g.reference_counts == w.reference_counts
        assert g.current_counts == w.current_counts
        for a, b in ((g.statistic, w.statistic), (g.p_value, w.p_value), (g.psi, w.psi)):
            assert (a is None) == (b is None)
            if a is not None:
                assert a == pytest.approx(b, rel=1e-6, abs=1e-12)
    assert got.drift.share == want.share and got.detected == want.detected  # type: ignore[attr-defined]


def test_quality_checks_as_the_monitor() -> None:
    ref, cur = frames(3_000, 2_000)
    cur.loc[cur.index[:300], "colour"] = "purple"  # new category
    cur.loc[cur.index[:400], "x"] = np.nan  # more missing
    got = compare(ref, cur)
    reference = compute_profile(ref, SPECS)
    counts = ref["colour"].value_counts()
    rate = {"colour": 0.0, "flag": 0.0} | {"colour": float((counts == 1).sum() / len(ref))}
    want = check_features(
        reference,
        profile_frame(cur, reference),
        SPECS,
        MonitorQualityConfig(schema=False),
        expectations=Expectations(len(ref), None, rate),
    )
    assert [(c.check, c.feature, c.status) for c in got.quality.checks] == [
        (c.check, c.feature, c.status) for c in want
    ]
    breached = {(c.check, c.feature) for c in got.quality.breaches}
    assert {("unseen", "colour"), ("missing_rate", "x")} <= breached


def test_result_is_typed_and_serialisable() -> None:
    ref, cur = frames(1_000, 1_000)
    got = compare(ref, cur)
    assert isinstance(got, DatasetComparison)
    assert got.detected  # x, colour moved: 2 of 5 features ≥ 30%
    data = got.to_dict()
    assert data["reference_rows"] == 1_000 and data["detected"] is True
    assert [s["name"] for s in data["skipped"]] == ["seen"]  # a timestamp: not compared
    assert {f["name"]: f["kind"] for f in data["features"]} == {s.name: s.kind for s in SPECS}


def test_columns_exclude_and_kind_overrides() -> None:
    ref, cur = frames(1_000, 1_000)
    got = compare(ref, cur, columns="x,count,colour", exclude=["colour"], categorical="count")
    assert [(f.name, f.kind) for f in got.features] == [("x", "numeric"), ("count", "categorical")]
    got = compare(ref, cur, columns=["colour"], numeric=["colour"])
    assert got.features[0].kind == "numeric"
    assert got.quality.breaches[0].check == "type_errors"  # text read as numbers


def test_inputs_files_globs_and_queries(tmp_path: Path) -> None:
    ref, cur = frames(1_000, 800)
    ref.iloc[:500].to_parquet(tmp_path / "ref-1.parquet")
    ref.iloc[500:].to_parquet(tmp_path / "ref-2.parquet")
    cur.to_csv(tmp_path / "cur.csv", index=False)
    from_frames = compare(ref, cur)
    from_files = compare(str(tmp_path / "ref-*.parquet"), tmp_path / "cur.csv")
    query = f"sql:SELECT * FROM read_parquet('{tmp_path}/*.parquet')"
    from_query = compare(query, str(tmp_path / "cur.csv"))
    for got in (from_files, from_query):
        assert got.reference_rows == 1_000 and got.current_rows == 800
        assert [f.drifted for f in got.drift.features] == [
            f.drifted for f in from_frames.drift.features
        ]
    folder = compare(tmp_path, tmp_path / "ref-1.parquet")
    assert folder.reference_rows == 1_000 and folder.current_rows == 500


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"columns": ["nope"]}, "--columns names column(s) not in both data sets: nope"),
        ({"exclude": "x,nope"}, "--exclude names column(s) not in both data sets: nope"),
        ({"categorical": ["x"], "numeric": ["x"]}, "named both categorical and numeric"),
        ({"columns": ["seen"]}, "no column left to compare"),
    ],
)
def test_bad_options(kwargs: dict[str, object], message: str) -> None:
    ref, cur = frames(200, 200)
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        compare(ref, cur, **kwargs)  # type: ignore[arg-type]


def test_bad_data(tmp_path: Path) -> None:
    ref, cur = frames(200, 200)
    with pytest.raises(InvalidInputError, match="does not exist"):
        compare(tmp_path / "missing.parquet", cur)
    with pytest.raises(InvalidInputError, match="no column in common"):
        compare(ref, cur.rename(columns=lambda c: c.upper()))
    with pytest.raises(InvalidInputError, match=r"the current data .* has no rows"):
        compare(ref, cur.iloc[:0])
    with pytest.raises(InvalidInputError, match="DuckDB cannot read the reference data"):
        compare("sql:SELECT FROM nowhere", cur)
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(InvalidInputError, match="cannot tell the format"):
        compare(tmp_path / "x.json", cur)
    (tmp_path / "broken.parquet").write_text("a,b")
    with pytest.raises(InvalidInputError, match="DuckDB cannot read the current data"):
        compare(ref, tmp_path / "broken.parquet")
    with pytest.raises(InvalidInputError, match="a list"):
        compare(ref, [1, 2])  # type: ignore[arg-type]


def test_plan_features_lists_one_sided_columns() -> None:
    features, skipped = plan_features(
        {"a": "DOUBLE", "b": "VARCHAR", "only_ref": "INTEGER", "blob": "BLOB"},
        {"a": "DOUBLE", "b": "VARCHAR", "only_cur": "BOOLEAN", "blob": "BLOB"},
    )
    assert [(f.name, f.kind) for f in features] == [("a", "numeric"), ("b", "categorical")]
    assert [(s.name, s.reason.split(" (")[0]) for s in skipped] == [
        ("only_ref", "only in the reference"),
        ("only_cur", "only in the current data"),
        ("blob", "not a number, text or boolean"),
    ]


def test_compare_is_exported_lazily() -> None:
    code = (
        "import sys, opsloop.monitor as m; before = 'duckdb' in sys.modules; "
        "from opsloop.monitor import compare; print(before, compare.__module__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "opsloop.monitor.datasets"]


def test_compare_stays_the_function_after_a_monitor_run_imports_its_modules() -> None:
    # the previous-window comparison once lived in `opsloop.monitor.compare`, and importing
    # it replaced the package attribute `compare` with that module
    import opsloop.monitor as m
    import opsloop.monitor.previous  # noqa: F401

    assert callable(m.compare) and m.compare.__module__ == "opsloop.monitor.datasets"


def test_meanwhile_runs_on_the_callers_thread_while_duckdb_reads(tmp_path: Path) -> None:
    import threading

    ref, cur = frames(500, 400)
    seen: list[str] = []
    result = compare(ref, cur, meanwhile=lambda: seen.append(threading.current_thread().name))
    assert seen == [threading.current_thread().name]
    assert result.detected == compare(ref, cur).detected


def test_a_failing_meanwhile_stops_the_statement_and_is_raised() -> None:
    import time

    import duckdb

    from opsloop.monitor.datasets import _while_reading

    def fail() -> None:
        raise ValueError("meanwhile failed")

    with duckdb.connect() as con:
        endless = "SELECT count(*) FROM range(1000000000000) a WHERE hash(a.range) = 42"
        started = time.perf_counter()
        with pytest.raises(ValueError, match="meanwhile failed"):
            _while_reading(lambda: con.execute(endless).fetchall(), con, fail)
        assert time.perf_counter() - started < 30  # interrupted, not run to its end
        assert con.execute("SELECT 1").fetchall() == [(1,)]  # the connection is usable


def test_an_error_while_reading_reaches_the_caller(tmp_path: Path) -> None:
    (tmp_path / "ref.csv").write_text("x\n1\n2\n")
    (tmp_path / "cur.csv").write_text("x\n1\n2\n")
    path = tmp_path / "ref.csv"
    bad = f"sql:SELECT CASE WHEN x > 1 THEN error('boom') ELSE x END AS x FROM '{path}'"
    with pytest.raises(InvalidInputError, match=r"DuckDB failed reading the data: .*boom"):
        compare(bad, str(tmp_path / "cur.csv"))
