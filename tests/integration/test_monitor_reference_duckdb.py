"""`monitor.reference: cycle:365d` on the DuckDB engine over real Parquet files: a feature
with a yearly (summer) pattern, logged by event time on real past dates, drifts against the
training reference but not against the same week one year earlier; a genuine shift still
drifts against it; a window with no log a year before falls back to training and says so;
shadow answers are not part of a reference; backfill uses the references too."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from opsloop.data.window import Window
from opsloop.engines.duckdb import DuckDBEngine
from opsloop.monitor.job import evaluate_window, load_version
from opsloop.project import Project
from opsloop.registry.memory import MemoryRegistry
from opsloop.serve import PredictionLogWriter
from opsloop.store import OpsStore
from tinyproject import tiny_frame, write_tiny_project
from unit.monitor.test_reference import with_reference

SUMMER = [datetime(year, 7, 15, 12, tzinfo=UTC) for year in (2024, 2025, 2026)]
HOUR = timedelta(hours=1)


def log_hour(
    p: Project, root: Path, start: datetime, *, shift: float, seed: int, route: str = "stable"
) -> None:
    """400 answers in the hour of event time from `start` (answered now: a batch scoring
    of past records), x1 shifted by `shift`."""
    frame = tiny_frame(400, seed=seed, prefix=f"y{seed}")
    frame["x1"] = frame["x1"] + shift
    version = "1" if route == "stable" else "2"
    pred, score = p.registry.load("tiny", "1").predict_frame(frame)
    log = pd.DataFrame(
        {
            "prediction_id": frame["row_id"],
            "request_id": uuid.uuid4().hex,
            "ts": pd.Timestamp(datetime.now(UTC)),
            "event_ts": pd.Timestamp(start) + pd.to_timedelta(range(400), unit="s"),
            "model_version": version,
            "route": route,
            "x1": frame["x1"],
            "x2": frame["x2"],
            "color": frame["color"],
            "prediction": pred,
            "score": score,
        }
    )
    writer = PredictionLogWriter(root, "tiny")
    writer.submit(log)
    writer.close()


def test_a_yearly_pattern_against_the_same_week_a_year_before(tmp_path: Path) -> None:
    root = write_tiny_project(tmp_path / "y")
    yaml = (root / "opsloop.yaml").read_text()
    (root / "opsloop.yaml").write_text(
        yaml.replace("  window: 1h\n", "  window: 1h\n  reference: cycle:365d\n")
    )
    p = Project(
        root,
        registry=MemoryRegistry(),
        store=OpsStore("sqlite://"),
        engine=DuckDBEngine(tmp_path / "pred", tmp_path / "labels"),
    )
    p.train()
    last, this, next_ = SUMMER
    log_hour(p, tmp_path / "pred", last, shift=1.5, seed=1)  # summers are +1.5
    log_hour(p, tmp_path / "pred", last, shift=10.0, seed=9, route="shadow")  # not a reference
    log_hour(p, tmp_path / "pred", this, shift=1.5, seed=2)
    log_hour(p, tmp_path / "pred", next_, shift=3.0, seed=3)  # a genuine shift on the season
    rt = p.runtime
    assert rt.config.monitor.reference == "cycle:365d"

    def report(runtime, start):  # type: ignore[no-untyped-def]
        return evaluate_window(runtime, Window(start, start + HOUR), load_version(runtime, "1"))

    training = report(with_reference(rt, "training"), this)
    assert "x1" in training.drift.drifted_features and training.drift.detected

    seasonal = report(rt, this)
    assert seasonal.drift.drifted_features == [] and not seasonal.drift_detected
    x1 = seasonal.references["x1"]
    assert (x1.kind, x1.requested, x1.start, x1.end) == ("cycle", "cycle:365d", last, last + HOUR)
    assert x1.rows == 400  # the shadow answers of that hour are not in the reference
    assert seasonal.references["score"].rows == 400

    shifted = report(rt, next_)
    assert shifted.drift.drifted_features == ["x1"] and shifted.drift.detected

    first = report(rt, last)  # nothing was logged a year earlier (2024 is a leap year: 2023-07-16)
    used = first.references["x1"]
    assert (used.kind, used.fallback) == ("training", True)
    assert used.reason is not None and used.reason.startswith(
        "0 rows of x1 logged in 2023-07-16 12:00"
    )
    assert any("fell back to training" in n for n in first.notes)

    # backfill: each window against its own year-earlier hour, stored with the reference
    done = p.backfill_monitor(start=this, end=this + HOUR, every=HOUR)
    (result,) = done.monitored
    features = {f.name: f for f in result.summary_model.features}
    assert not result.drift_detected and features["x1"].reference is not None
    assert features["x1"].reference.kind == "cycle" and features["x1"].reference.rows == 400
    html = Path(str(done.report_path)).read_text(encoding="utf-8")
    assert "cycle 2024-07-15 12:00 → 2024-07-15 13:00, 400 rows" in html
