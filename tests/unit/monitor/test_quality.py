"""Data quality of a monitoring window from the profile's aggregates (NumPy engine)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from opsloop.config import MonitorConfig, MonitorQualityConfig, VolumeConfig
from opsloop.core.profile import compute_profile, profile_frame
from opsloop.data.features import FeatureSpec
from opsloop.data.schema import infer_data_schema
from opsloop.monitor.quality import (
    Expectations,
    check_window,
    contract_from_yaml,
    learn_expectations,
    lower_bound,
)
from opsloop.monitor.run import run_monitor

FEATURES = [
    FeatureSpec("x", "numeric", "float64"),
    FeatureSpec("c", "categorical", "string"),
    FeatureSpec("b", "boolean", "bool"),
]
END = datetime(2026, 5, 1, 12, tzinfo=UTC)
START = END - timedelta(hours=1)


def frame(n: int, seed: int, *, missing: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(10, 2, n)
    x[rng.random(n) < missing] = np.nan
    return pd.DataFrame(
        {
            "x": x,
            "c": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]),
            "b": rng.random(n) < 0.4,
            "ts": END - pd.to_timedelta(rng.uniform(60, 3600, n), unit="s"),
        }
    )


REF_FRAME = frame(4000, 0).assign(
    ts=lambda d: pd.date_range(END - timedelta(days=40), periods=len(d), freq="15min")
)
REFERENCE = compute_profile(REF_FRAME, FEATURES)
CONTRACT = contract_from_yaml(
    infer_data_schema(REF_FRAME[["x", "c", "b"]], target="b", task="regression")
)
EXPECT = learn_expectations(REF_FRAME, FEATURES, "ts")


def check(window: pd.DataFrame, cfg: MonitorQualityConfig | None = None, **kw):  # type: ignore[no-untyped-def]
    return check_window(
        REFERENCE,
        profile_frame(window, REFERENCE),
        FEATURES,
        cfg or MonitorQualityConfig(),
        window_start=START,
        window_end=END,
        contract=kw.get("contract", CONTRACT),
        expectations=kw.get("expectations", EXPECT),
    )


def status(report, name: str, feature: str | None = None) -> str:  # type: ignore[no-untyped-def]
    return next(c.status for c in report.checks if c.check == name and c.feature == feature)


def test_a_clean_window_passes_every_check() -> None:
    report = check(frame(1000, 1))
    assert report.passed, [c for c in report.checks if c.status != "ok"]
    names = {(c.check, c.feature) for c in report.checks}
    assert {
        ("schema", "x"),
        ("missing_rate", "c"),
        ("out_of_range", "x"),
        ("unseen", "c"),
        ("type_errors", "x"),
        ("type_errors", "b"),
        ("volume", None),
    } <= names
    assert ("freshness", None) not in names  # only with max_age
    json.dumps(report.to_dict())


def test_learned_expectations() -> None:
    assert EXPECT.rows_per_hour == pytest.approx(4000 / ((4000 - 1) / 4))  # every 15 minutes
    rare = pd.DataFrame({"c": ["a"] * 90 + [f"u{i}" for i in range(10)]})
    learned = learn_expectations(rare, [FeatureSpec("c", "categorical", "string")], None)
    assert learned.unseen_rate == {"c": 0.1} and learned.rows_per_hour is None
    assert Expectations.from_json(EXPECT.to_json()) == EXPECT


def test_type_errors_are_counted_and_not_missing() -> None:
    w = frame(1000, 2).astype({"x": object, "b": object})
    w.loc[:19, "x"] = "oops"
    w.loc[20:24, "x"] = " 7.5 "  # text that is a number is no type error
    w.loc[25:29, "b"] = "maybe"
    report = check(w)
    cur = profile_frame(w, REFERENCE).features
    assert cur["x"].type_errors == 20 and cur["x"].null_count == 20
    assert cur["b"].type_errors == 5
    assert status(report, "type_errors", "x") == "breach"
    assert status(report, "type_errors", "b") == "breach"
    assert status(report, "missing_rate", "x") == "ok"  # type errors are not "missing"
    relaxed = MonitorQualityConfig(max_type_errors=0.05)
    assert status(check(w, relaxed), "type_errors", "x") == "ok"


def test_missing_rate_against_the_reference_with_sampling_noise() -> None:
    assert status(check(frame(2000, 3, missing=0.3)), "missing_rate", "x") == "breach"
    # 2 of 10 missing: 20% > 5%, but not beyond sampling noise at 99%
    small = frame(10, 4)
    small.loc[:1, "x"] = np.nan
    assert status(check(small), "missing_rate", "x") == "ok"
    per_feature = MonitorQualityConfig(features={"x": {"missing_tolerance": 0.5}})
    assert status(check(frame(2000, 3, missing=0.3), per_feature), "missing_rate", "x") == "ok"


def test_out_of_range_from_the_underflow_and_overflow_bins() -> None:
    w = frame(1000, 5)
    w.loc[:49, "x"] = REFERENCE.features["x"].max + 5  # 5% above the reference max
    w.loc[50:59, "x"] = -1e9
    report = check(w)
    c = next(c for c in report.checks if c.check == "out_of_range")
    assert c.status == "breach" and c.value == pytest.approx(0.06)
    assert "10 below, 50 above" in c.detail


def test_unseen_categories_with_the_references_own_rate() -> None:
    w = frame(1000, 6)
    w.loc[:99, "c"] = "zzz"
    assert status(check(w), "unseen", "c") == "breach"
    lenient = Expectations(4000, None, {"c": 0.2})  # a reference full of one-off categories
    assert status(check(w, expectations=lenient), "unseen", "c") == "ok"


def test_schema_from_the_pandera_contract() -> None:
    assert CONTRACT["x"].dtype == "float64" and not CONTRACT["x"].nullable
    w = frame(500, 7).drop(columns="c")
    w.loc[:2, "x"] = np.nan
    report = check(w)
    assert status(report, "schema", "c") == "breach"  # absent from the logged rows
    assert status(report, "schema", "x") == "breach"  # nulls where the contract has none
    assert "3 null(s)" in next(
        c.detail for c in report.checks if c.feature == "x" and c.check == "schema"
    )


def test_schema_range_checks_from_min_and_max() -> None:
    import pandera.pandas as pa

    schema = pa.DataFrameSchema(
        {
            "x": pa.Column(
                float, checks=[pa.Check.in_range(0, 20), pa.Check.lt(18)], nullable=True
            ),
            "c": pa.Column(str, checks=[pa.Check.isin(["a", "b", "c"])]),
        }
    ).to_yaml()
    contract = contract_from_yaml(schema)
    assert contract["x"].minimum == (0.0, True) and contract["x"].maximum == (18.0, False)
    assert contract["c"].unevaluated == ("isin",)
    w = frame(500, 8)
    w.loc[0, "x"] = 18.0
    report = check(w, contract=contract)
    detail = next(c.detail for c in report.checks if c.check == "schema" and c.feature == "x")
    assert status(report, "schema", "x") == "breach" and "maximum 18" in detail
    assert "isin" in next(
        c.detail for c in report.checks if c.check == "schema" and c.feature == "c"
    )


def test_volume_learned_and_configured() -> None:
    # the reference: 4 rows/hour, so a 1 h window expects ≥ 0.4: too few to judge
    assert status(check(frame(0, 9)), "volume") == "insufficient_data"
    busy = Expectations(4000, 1000.0, {})
    assert status(check(frame(50, 9), expectations=busy), "volume") == "breach"  # < 100
    assert status(check(frame(500, 9), expectations=busy), "volume") == "ok"
    bounded = MonitorQualityConfig(volume=VolumeConfig(min_rows=10, max_rows=100))
    assert status(check(frame(500, 9), bounded), "volume") == "breach"
    assert status(check(frame(50, 9), bounded), "volume") == "ok"


def test_freshness_from_the_newest_prediction() -> None:
    cfg = MonitorQualityConfig(max_age="30m")
    w = frame(100, 10)
    w["ts"] = END - timedelta(minutes=45)
    report = check(w, cfg)
    c = next(c for c in report.checks if c.check == "freshness")
    assert c.status == "breach" and c.value == 45 * 60
    w["ts"] = END - timedelta(minutes=5)
    assert status(check(w, cfg), "freshness") == "ok"
    assert status(check(frame(0, 10), cfg), "freshness") == "breach"  # nothing in 1 h
    long = MonitorQualityConfig(max_age="1d")
    assert status(check(frame(0, 10), long), "freshness") == "insufficient_data"


def test_an_empty_window_breaches_nothing_it_cannot_judge() -> None:
    report = check(frame(0, 11).iloc[:, :0])  # not even the columns (memory engine)
    assert report.passed
    assert {c.status for c in report.checks} == {"insufficient_data"}


def test_lower_bound_is_one_sided_clopper_pearson() -> None:
    for k, n in [(1, 10), (5, 100), (37, 1000), (1000, 1000)]:
        two_sided = stats.binomtest(k, n).proportion_ci(confidence_level=0.98, method="exact")
        assert lower_bound(k, n, 0.99) == pytest.approx(two_sided.low, rel=1e-9)
    assert lower_bound(0, 100, 0.99) == 0.0


def test_run_monitor_reports_quality_in_the_summary() -> None:
    w = frame(1000, 12).astype({"x": object})
    w.loc[:9, "x"] = "n/a"
    ref = REFERENCE
    report = run_monitor(
        reference=ref,
        current=profile_frame(w, ref),
        labelled=w.iloc[:0],
        features=FEATURES,
        task="binary_classification",
        cfg=MonitorConfig(),
        window_start=START,
        window_end=END,
        contract=CONTRACT,
        expectations=EXPECT,
    )
    summary = json.loads(json.dumps(report.to_dict()))
    assert summary["quality"]["passed"] is False
    breach = [c for c in summary["quality"]["checks"] if c["status"] == "breach"]
    assert [(c["check"], c["feature"]) for c in breach] == [("type_errors", "x")]
    assert set(breach[0]) == {"check", "feature", "status", "value", "expected", "detail"}
    assert any("data quality breached: type_errors (x)" in n for n in report.notes)
    off = MonitorConfig(quality=MonitorQualityConfig(enabled=False))
    quiet = run_monitor(
        reference=ref,
        current=profile_frame(w, ref),
        labelled=w.iloc[:0],
        features=FEATURES,
        task="binary_classification",
        cfg=off,
        window_start=START,
        window_end=END,
    )
    assert "quality" not in quiet.to_dict()


def test_a_damaged_contract_is_a_clear_error() -> None:
    from opsloop.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match=r"schema\.yaml"):
        contract_from_yaml("columns: [this is: not a schema")


def test_exceeds_decides_as_the_clopper_pearson_bound_without_scipy() -> None:
    from opsloop.monitor.quality import binomial_tail, exceeds

    for n in (1, 2, 7, 30, 100, 1_000, 100_000, 1_000_000):
        for k in sorted({1, 2, 3, n // 100, n // 20, n // 10, n // 3, n}):
            if not 1 <= k <= n:
                continue
            assert binomial_tail(k, n, 0.03) == pytest.approx(
                stats.binom.sf(k - 1, n, 0.03), rel=1e-7, abs=1e-300
            )
            for limit in (0.0, 0.001, 0.01, 0.05, 0.2, 0.5, 0.99):
                for confidence in (0.9, 0.99):
                    assert exceeds(k, n, limit, confidence) == (
                        lower_bound(k, n, confidence) > limit
                    ), (k, n, limit, confidence)
    for k in range(10_000, 10_400, 7):  # near the limit, where the tail decides
        assert exceeds(k, 1_000_000, 0.01, 0.99) == (lower_bound(k, 1_000_000, 0.99) > 0.01)
    assert not exceeds(0, 10, 0.0, 0.99) and not exceeds(5, 0, 0.1, 0.99)
