"""The Spark engine (local[2]) against the DuckDB engine on the same prediction-log files:
identical profiles (so identical drift verdicts), reconstruction errors equal to rounding,
the same rows, scores, values, spans, label counts and feedback.

Property-style: each seed draws another log (values with NaN, ±inf and extremes, a numeric
feature logged as text, unseen and long-tail categories, booleans, versions, shadow rows,
several hours and days). One log per module keeps the Spark jobs few (~1 s each here)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from opsloop.batch.logfile import write_log
from opsloop.config.monitor import DriftConfig
from opsloop.core.profile import Profile, compute_profile
from opsloop.data.features import FeatureSpec
from opsloop.engines.duckdb import DuckDBEngine
from opsloop.engines.labels import ingest_labels
from opsloop.monitor.drift import detect_drift
from opsloop.monitor.multivariate import fit_transform
from spark_fixtures import spark_engine

SPECS = [
    FeatureSpec("x", "numeric", "float64"),
    FeatureSpec("i", "numeric", "int64"),
    FeatureSpec("t", "numeric", "float64"),  # logged as text: type errors
    FeatureSpec("c", "categorical", "string"),
    FeatureSpec("cc", "categorical", "string"),  # > 64 categories: the join branch
    FeatureSpec("b", "boolean", "bool"),
]
T0 = datetime(2026, 3, 1, 21, 30, tzinfo=UTC)
LONG = [f"k{j:03d}" for j in range(90)]


def features(n: int, rng: np.random.Generator, shift: float = 0.0) -> pd.DataFrame:
    x = rng.normal(5 + shift, 2, n)
    x[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "x": x,
            "i": rng.integers(-3, 40, n),
            "t": rng.normal(0, 1, n),
            "c": rng.choice(["a", "b", "c", "it's", "new"], n, p=[0.4, 0.3, 0.2, 0.05, 0.05]),
            "cc": rng.choice([*LONG, "unseen"], n),
            "b": rng.random(n) < 0.3 + shift / 10,
        }
    )


def reference_profile() -> Profile:
    rng = np.random.default_rng(0)
    frame = features(3000, rng).assign(
        c=lambda d: d["c"].replace("new", "a"), cc=lambda d: d["cc"].replace("unseen", "k000")
    )
    return compute_profile(frame, SPECS)


REFERENCE = reference_profile()
TRANSFORM = fit_transform(
    features(3000, np.random.default_rng(1)).assign(c=lambda d: d["c"].replace("new", "a")),
    SPECS,
)


def write_logs(root: Path, labels: Path, seed: int) -> None:
    """Three batches of log rows over two days, versions 1 and 2, some shadow rows, and
    labels for a share of them (one corrected)."""
    rng = np.random.default_rng(seed)
    start = 0
    for hours, version, shift, n in ((0, "1", 0.0, 700), (1, "1", 1.0, 500), (26, "2", 0.5, 400)):
        frame = features(n, rng, shift)
        frame.loc[:5, "x"] = [np.inf, -np.inf, 1e12, -1e12, 0.0, 5.0]
        frame["t"] = frame["t"].map(lambda v: f"{v:.3f}").astype(object)
        frame.loc[frame.index[:7], "t"] = "oops"
        frame.loc[frame.index[7:9], "t"] = None
        ts = T0 + timedelta(hours=hours)
        ids = [f"p{start + j}" for j in range(n)]
        start += n
        log = pd.DataFrame(
            {
                "prediction_id": ids,
                "request_id": [f"r{j // 50}" for j in range(n)],
                "ts": pd.Timestamp(ts) + pd.to_timedelta(rng.integers(0, 3_000, n), unit="s"),
                "event_ts": pd.Timestamp(ts) - pd.to_timedelta(rng.integers(0, 7_200, n), unit="s"),
                "model_version": version,
                "route": rng.choice(["stable", "shadow", "canary"], n, p=[0.7, 0.2, 0.1]),
            }
        )
        log = pd.concat([log, frame], axis=1)
        log["prediction"] = (rng.random(n) < 0.4).astype(int)
        log["score"] = rng.random(n)
        write_log(root, "m", log)
    ids = [f"p{j}" for j in range(0, start, 3)]
    got = pd.DataFrame({"id": ids, "y": rng.integers(0, 2, len(ids))})
    ingest_labels(got, labels, id_column="id", target="y")
    ingest_labels(got.head(20).assign(y=lambda d: 1 - d["y"]), labels, id_column="id", target="y")


def assert_same(a: Profile, b: Profile) -> None:
    """Equal profiles: counts, sketches, nulls, extremes and type errors exactly; the sums to
    rounding (added in another order)."""
    assert (a.n_rows, a.newest, a.features.keys()) == (b.n_rows, b.newest, b.features.keys())
    for name, fa in a.features.items():
        fb = b.features[name]
        exact = ("count", "null_count", "counts", "sketch", "unseen", "min", "max", "type_errors")
        assert [getattr(fa, k) for k in exact] == [getattr(fb, k) for k in exact], name
        tol = 1e-11 * np.sqrt(fa.non_null * max(fa.sum_sq, 0.0)) + 1e-9
        assert fa.sum == pytest.approx(fb.sum, rel=1e-9, abs=tol), name
        assert fa.sum_sq == pytest.approx(fb.sum_sq, rel=1e-9, abs=1e-9), name


@pytest.fixture(scope="module", params=[11])
def pair(request: Any, spark: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    root = tmp_path_factory.mktemp(f"log{request.param}")
    write_logs(root / "pred", root / "labels", request.param)
    return (
        DuckDBEngine(root / "pred", root / "labels"),
        spark_engine(root / "pred", root / "labels"),
    )


WINDOWS = [
    (T0 - timedelta(hours=3), T0 + timedelta(hours=3)),
    (T0 - timedelta(days=1), T0 + timedelta(days=3)),
    (T0 + timedelta(days=10), T0 + timedelta(days=11)),  # empty
]
CASES = [
    (WINDOWS[0], {}),
    (WINDOWS[1], {"version": "1"}),
    (WINDOWS[1], {"served": True}),
    (WINDOWS[1], {"clock": "answered"}),
    (WINDOWS[2], {}),
]


def test_profiles_and_drift_verdicts_are_identical(pair: tuple[Any, Any]) -> None:
    duck, spark = pair
    for window, kwargs in CASES:
        a = duck.profile_window("m", *window, REFERENCE, **kwargs)
        b = spark.profile_window("m", *window, REFERENCE, **kwargs)
        assert_same(a, b)
        cfg = DriftConfig()
        da, db = (detect_drift(REFERENCE, p, SPECS, cfg) for p in (a, b))
        assert [(f.name, f.status, f.drifted, f.statistic) for f in da.features] == [
            (f.name, f.status, f.drifted, f.statistic) for f in db.features
        ]
        assert (da.share, da.detected) == (db.share, db.detected)
    assert spark.profile_window("other", *WINDOWS[0], REFERENCE) == REFERENCE.empty()


def test_rows_scores_values_span_and_labels_are_the_same(pair: tuple[Any, Any]) -> None:
    duck, spark = pair
    start, end = WINDOWS[1]
    a, b = (e.read_window("m", start, end, version="1") for e in (duck, spark))
    assert list(a.columns) == list(b.columns)
    key = ["ts", "prediction_id"]
    a, b = (f.sort_values(key, kind="stable").reset_index(drop=True) for f in (a, b))
    assert a["prediction_id"].tolist() == b["prediction_id"].tolist()
    assert a["ts"].tolist() == b["ts"].tolist() and a["event_ts"].tolist() == b["event_ts"].tolist()
    assert a["label"].astype("Float64").equals(b["label"].astype("Float64"))
    assert np.array_equal(a["x"].to_numpy(float), b["x"].to_numpy(float), equal_nan=True)
    labelled = [e.read_window("m", start, end, labelled_only=True) for e in (duck, spark)]
    assert len(labelled[0]) == len(labelled[1]) > 0
    sa, sb = (np.sort(e.read_scores("m", start, end)) for e in (duck, spark))
    assert np.array_equal(sa, sb)
    va, vb = (
        e.read_values("m", start, end, ["x", "t", "nope"], limit=50_000) for e in (duck, spark)
    )
    assert {k: sorted(v) for k, v in va.items()} == {k: sorted(v) for k, v in vb.items()}
    for clock in ("event", "answered"):
        assert duck.log_span("m", clock=clock) == spark.log_span("m", clock=clock)
    assert duck.log_span("m", version="9") is None and spark.log_span("m", version="9") is None
    assert duck.count_labels() == spark.count_labels() > 0
    ids = ["p0", "p1", "p1", "zzz"]
    assert duck.count_logged("m", ids) == spark.count_logged("m", ids) == 2


def test_reconstruction_error_scans_and_feedback_agree(pair: tuple[Any, Any]) -> None:
    duck, spark = pair
    start, end = WINDOWS[1]
    na, ea = duck.reconstruction_error("m", start, end, TRANSFORM, served=True)
    nb, eb = spark.reconstruction_error("m", start, end, TRANSFORM, served=True)
    assert na == nb > 0 and ea == pytest.approx(eb, rel=1e-9)

    exact = lambda p: ["x"]  # noqa: E731
    sa, sb = (
        e.scan_window(
            "m", start, end, REFERENCE, scores=True, transform=TRANSFORM, exact=exact, limit=100
        )
        for e in (duck, spark)
    )
    assert_same(sa.profile, sb.profile)
    assert len(sa.labelled) == len(sb.labelled) and list(sa.labelled.columns) == list(
        sb.labelled.columns
    )
    assert np.array_equal(np.sort(sa.scores), np.sort(sb.scores))
    assert sa.error[0] == sb.error[0] and sa.error[1] == pytest.approx(sb.error[1], rel=1e-9)
    assert len(sa.values["x"]) == len(sb.values["x"]) == 100

    every = timedelta(days=1)
    series = [
        list(e.scan_windows("m", T0 - every, every, range(4), REFERENCE)) for e in (duck, spark)
    ]
    assert [i for i, _ in series[0]] == [i for i, _ in series[1]] == [0, 1, 2]
    for (_, a), (_, b) in zip(*series, strict=True):
        assert_same(a.profile, b.profile)
        assert len(a.labelled) == len(b.labelled)

    fa, fb = (
        e.read_feedback(
            "m", start, end, ["x", "c", "b", "route"], exclude=["p0", "p3"], max_rows=90
        )
        for e in (duck, spark)
    )
    assert (fa.labelled, fa.duplicates, fa.capped) == (fb.labelled, fb.duplicates, fb.capped)
    assert list(fa.frame.columns) == list(fb.frame.columns)
    assert fa.frame["prediction_id"].tolist() == fb.frame["prediction_id"].tolist()
    assert fa.frame["label"].tolist() == fb.frame["label"].tolist()


def test_a_session_leaves_no_warehouse_in_the_working_folder(pair: tuple[Any, Any]) -> None:
    """opsloop reads and writes paths, not catalog tables: its sessions keep Spark's
    warehouse folder out of the folder the command ran in."""
    from opsloop.engines.spark_session import get_session
    from spark_fixtures import SPARK_CONF, SPARK_MASTER

    spark = get_session(SPARK_MASTER, SPARK_CONF)
    assert not spark.conf.get("spark.sql.warehouse.dir").startswith(str(Path.cwd()))
    assert not (Path.cwd() / "spark-warehouse").exists()
