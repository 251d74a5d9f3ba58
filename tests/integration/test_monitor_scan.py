"""One monitoring run reads its window in as few passes over the prediction log as DuckDB
allows (`Engine.scan_window`), and what that scan returns equals the single-purpose engine
methods it replaces, on both engines."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from opsloop.engines.duckdb import DuckDBEngine
from opsloop.engines.memory import MemoryEngine
from opsloop.monitor.drift import exact_features
from opsloop.project import Project
from opsloop.registry.memory import MemoryRegistry
from opsloop.serve import PredictionLogWriter
from opsloop.store import OpsStore
from tinyproject import prediction_log, tiny_frame, write_tiny_project


class _Counting:
    """A DuckDB connection that counts the statements reading the prediction log."""

    def __init__(self, con: duckdb.DuckDBPyConnection, root: str, seen: list[str]) -> None:
        self._con, self._root, self._seen = con, root, seen

    def __enter__(self) -> _Counting:
        return self

    def __exit__(self, *exc: object) -> None:
        self._con.close()

    def execute(self, sql: str, params: Any = None) -> Any:
        if self._root in sql:
            self._seen.append(sql)
        return self._con.execute(sql, params)


class CountingDuckDBEngine(DuckDBEngine):
    """The real DuckDB engine, counting its engine calls and its statements over the log."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.statements: list[str] = []
        self.calls: list[str] = []

    def _connect(self) -> Any:
        return _Counting(super()._connect(), str(self.prediction_root), self.statements)

    def __getattribute__(self, name: str) -> Any:
        if name in {
            "read_window",
            "read_scores",
            "read_values",
            "profile_window",
            "reconstruction_error",
            "scan_window",
        }:
            object.__getattribute__(self, "calls").append(name)
        return object.__getattribute__(self, name)


def _project(tmp_path: Path) -> tuple[Project, CountingDuckDBEngine]:
    root = write_tiny_project(tmp_path / "d")
    engine = CountingDuckDBEngine(tmp_path / "pred", tmp_path / "labels")
    p = Project(root, registry=MemoryRegistry(), store=OpsStore("sqlite://"), engine=engine)
    engine.labels_root = p.paths.labels
    p.train()
    return p, engine


@pytest.mark.parametrize("rows", [400, 6000])  # exact KS on raw values, or sketches only
def test_one_monitor_run_scans_the_log_at_most_four_times(tmp_path: Path, rows: int) -> None:
    p, engine = _project(tmp_path)
    traffic = tiny_frame(rows, seed=3, prefix="s", days=0.01)
    writer = PredictionLogWriter(tmp_path / "pred", "tiny")
    writer.submit(prediction_log(p, traffic, "1"))
    writer.close()
    p.add_labels(traffic[["row_id", "label"]].iloc[: rows // 2])
    engine.calls.clear()
    engine.statements.clear()

    result = p.monitor()

    summary = result.summary
    assert summary["n_rows"] == rows and summary["n_labelled"] == rows // 2
    # every reader is in play: labels, CBPE scores, the multivariate error
    assert summary["performance_value"] is not None
    assert summary["estimated_performance"]["n"] == rows
    assert summary["multivariate"]["n"] == rows
    exact = rows <= p.config.monitor.drift.exact_max_rows
    assert (summary["drift"]["prediction"]["test"] == "ks_exact") is exact
    # one engine call; DESCRIBE, the profile (+ multivariate error), the rows, and the raw
    # values only when a feature is judged on them (was: five calls, eight statements)
    assert engine.calls == ["scan_window"]
    kinds = [s.split()[0] for s in engine.statements]
    assert kinds == ["DESCRIBE", "SELECT", "CREATE", *(["(SELECT"] if exact else [])]


def _log(tmp_path: Path) -> tuple[DuckDBEngine, MemoryEngine, Any, datetime, datetime]:
    """Two versions and shadow rows in a partitioned log, with labels for some rows."""
    from opsloop.core.profile import compute_profile
    from opsloop.data.features import FeatureSpec
    from opsloop.monitor.multivariate import fit_transform

    specs = [FeatureSpec("x", "numeric", "float64"), FeatureSpec("c", "categorical", "string")]
    rng = np.random.default_rng(0)
    t0 = datetime(2026, 3, 1, 22, 30, tzinfo=UTC)
    writer = PredictionLogWriter(tmp_path / "pred", "m")
    memory = MemoryEngine()
    for h in range(3):
        n = 300
        part = pd.DataFrame(
            {
                "prediction_id": [f"{h}-{k}" for k in range(n)],
                "request_id": "r",
                "ts": [pd.Timestamp(t0 + timedelta(hours=h, seconds=k)) for k in range(n)],
                "model_version": "1" if h != 1 else "2",
                "route": ["shadow" if k < 20 else "stable" for k in range(n)],
                "x": rng.normal(h, 1, n),
                "c": rng.choice(["a", "b", "z"], n),
                "prediction": rng.integers(0, 2, n),
                "score": np.where(rng.random(n) < 0.1, np.nan, rng.random(n)),
            }
        )
        writer.submit(part)
        memory.add_predictions(part)
    writer.close()
    labels = pd.DataFrame(
        {
            "prediction_id": [f"{h}-{k}" for h in range(3) for k in range(0, 300, 3)],
            "label": 1,
            "label_ts": pd.Timestamp(t0),
        }
    )
    (tmp_path / "labels").mkdir()
    labels.to_parquet(tmp_path / "labels" / "part-0.parquet")
    memory.add_labels(labels)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 2000), "c": rng.choice(["a", "b"], 2000)})
    profile = compute_profile(reference, specs)
    transform = fit_transform(reference, specs)
    duck = DuckDBEngine(tmp_path / "pred", tmp_path / "labels")
    return duck, memory, (profile, transform), t0 - timedelta(minutes=1), t0 + timedelta(hours=3)


@pytest.mark.parametrize("engine_name", ["duckdb", "memory"])
@pytest.mark.parametrize("scores", [True, False])
def test_the_scan_equals_the_single_purpose_reads(
    tmp_path: Path, engine_name: str, scores: bool
) -> None:
    duck, memory, (reference, transform), start, end = _log(tmp_path)
    engine: Any = duck if engine_name == "duckdb" else memory
    from opsloop.config import MonitorConfig

    drift = MonitorConfig().drift
    scan = engine.scan_window(
        "m",
        start,
        end,
        reference,
        version="1",
        scores=scores,
        transform=transform,
        exact=lambda current: exact_features(reference, current, drift),
        limit=drift.exact_max_rows,
    )
    profile = engine.profile_window("m", start, end, reference, version="1")
    assert scan.profile.n_rows == profile.n_rows == 560
    assert scan.profile.newest == profile.newest
    for name, fa in scan.profile.features.items():
        fb = profile.features[name]
        # DuckDB adds a window's floats in no fixed order: sums agree to rounding
        assert replace(fa, sum=0.0, sum_sq=0.0) == replace(fb, sum=0.0, sum_sq=0.0)
        assert fa.sum == pytest.approx(fb.sum, rel=1e-9, abs=1e-9)
        assert fa.sum_sq == pytest.approx(fb.sum_sq, rel=1e-9, abs=1e-9)
    labelled = engine.read_window("m", start, end, version="1", labelled_only=True)
    assert len(scan.labelled) == len(labelled) == 2 * 93
    for column in ("prediction", "label"):
        assert scan.labelled[column].tolist() == labelled[column].tolist()
    np.testing.assert_array_equal(
        scan.labelled["score"].to_numpy(dtype=float), labelled["score"].to_numpy(dtype=float)
    )
    if scores:
        np.testing.assert_array_equal(scan.scores, engine.read_scores("m", start, end, version="1"))
    else:
        assert scan.scores is None
    names = exact_features(reference, profile, drift)
    assert names == ["x"]
    assert scan.values == engine.read_values(
        "m", start, end, names, version="1", limit=drift.exact_max_rows
    )
    n, value = engine.reconstruction_error("m", start, end, transform, version="1")
    assert scan.error is not None and scan.error[0] == n == 560
    assert scan.error[1] == pytest.approx(value, rel=1e-9)
    # an empty window, and a log that does not exist
    empty = engine.scan_window(
        "m",
        end + timedelta(days=2),
        end + timedelta(days=3),
        reference,
        scores=scores,
        transform=transform,
        exact=lambda c: exact_features(reference, c, drift),
        limit=10,
    )
    assert empty.profile.n_rows == 0 and len(empty.labelled) == 0 and empty.values is None
    assert empty.error == (0, None)
    none = DuckDBEngine(tmp_path / "none", tmp_path / "labels").scan_window(
        "m", start, end, reference, scores=True, transform=transform
    )
    assert none.profile.n_rows == 0 and none.error == (0, None) and len(none.scores) == 0
