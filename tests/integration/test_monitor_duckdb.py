"""The monitor job on the DuckDB engine over real Parquet files: a small window's numeric
features are judged by the exact KS (raw values read from the log), and strings logged in a
numeric column are type errors in the quality checks, not a failed query."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from opsloop.engines.duckdb import DuckDBEngine
from opsloop.project import Project
from opsloop.registry.memory import MemoryRegistry
from opsloop.serve import PredictionLogWriter
from opsloop.store import OpsStore
from tinyproject import tiny_frame, write_tiny_project


def test_monitor_job_exact_ks_and_type_errors_on_duckdb(tmp_path: Path) -> None:
    engine = DuckDBEngine(tmp_path / "pred", tmp_path / "labels")
    p = Project(
        write_tiny_project(tmp_path / "d"),
        registry=MemoryRegistry(),
        store=OpsStore("sqlite://"),
        engine=engine,
    )
    p.train()
    traffic = tiny_frame(400, seed=3, prefix="d", days=0.01)
    pred, score = p.registry.load("tiny", "1").predict_frame(traffic)
    log = pd.DataFrame(
        {
            "prediction_id": traffic["row_id"],
            "request_id": uuid.uuid4().hex,
            "ts": pd.Timestamp(datetime.now(UTC)),
            "model_version": "1",
            "route": "stable",
            "x1": traffic["x1"].map(repr),
            "x2": traffic["x2"],
            "color": traffic["color"],
            "prediction": pred,
            "score": score,
        }
    )
    log.loc[:4, "x1"] = "oops"  # a producer that logged text in a numeric column
    writer = PredictionLogWriter(tmp_path / "pred", "tiny")
    writer.submit(log)
    writer.close()

    result = p.monitor()
    features = {f["name"]: f for f in result.summary["drift"]["features"]}
    assert features["x1"]["test"] == "ks_exact" and features["x2"]["test"] == "ks_exact"
    assert result.summary["drift"]["prediction"]["test"] == "ks_exact"
    assert features["x1"]["n"] == 400 and not features["x1"]["drifted"]
    quality = result.summary["quality"]
    breaches = [
        (c["check"], c["feature"], c["value"]) for c in quality["checks"] if c["status"] == "breach"
    ]
    assert quality["passed"] is False and breaches == [("type_errors", "x1", 5 / 400)]
    assert [e.kind for e in p.events(kinds=["quality_failed"])] == ["quality_failed"]
