"""Drift references (`monitor.reference`): a weekly seasonal feature drifts against the
training reference but not against the same hour one week earlier (`cycle:7d`); a genuine
shift still drifts against it; too few logged rows fall back to training and say so; the
per-feature choice wins; the result, the CLI and the HTML report show which was used."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pydantic import ValidationError

from opsloop.config import DriftReference, MonitorConfig
from opsloop.core.summaries import MonitorSummary
from opsloop.data.window import Window
from opsloop.engines.memory import MemoryEngine
from opsloop.monitor.job import evaluate_window, load_version, run_monitor_job
from opsloop.monitor.reference import reference_period
from opsloop.project import Project
from opsloop.runtime import Runtime
from tinyproject import prediction_log, tiny_frame

SATURDAY = datetime(2026, 5, 2, 12, tzinfo=UTC)  # a real past Saturday noon
HOUR = timedelta(hours=1)
WEEK = timedelta(days=7)


def log_hour(
    p: Project, start: datetime, *, shift: float, seed: int, route: str = "stable"
) -> None:
    """400 answers of version 1 in the hour from `start`, x1 shifted by `shift` (weekends
    are +1.5: the weekly pattern)."""
    frame = tiny_frame(400, seed=seed, prefix=f"s{seed}")
    frame["x1"] = frame["x1"] + shift
    log = prediction_log(p, frame, "1", ts=start + timedelta(minutes=30))
    log["route"] = route
    p.engine.add_predictions(log)  # type: ignore[attr-defined]


def with_reference(rt: Runtime, reference: str, **features: dict[str, Any]) -> Runtime:
    data = rt.config.monitor.model_dump(by_alias=True)
    data["reference"] = reference
    data["drift"]["features"] = features
    monitor = MonitorConfig.model_validate(data)
    return replace(rt, config=rt.config.model_copy(update={"monitor": monitor}))


@pytest.fixture
def seasonal(memory_project: Project) -> Project:
    p = memory_project
    p.train()
    log_hour(p, SATURDAY - WEEK, shift=1.5, seed=1)  # last Saturday
    log_hour(p, SATURDAY, shift=1.5, seed=2)  # this Saturday: the same season
    log_hour(p, SATURDAY + WEEK, shift=3.0, seed=3)  # next Saturday: a genuine shift
    return p


def drifted(rt: Runtime, start: datetime) -> dict[str, bool]:
    report = evaluate_window(rt, Window(start, start + HOUR), load_version(rt, "1"))
    return {f.name: f.drifted for f in report.drift.features} | {"detected": report.drift.detected}


def test_the_reference_text_is_checked() -> None:
    assert DriftReference.parse("cycle:365d") == DriftReference("cycle", timedelta(days=365))
    assert DriftReference.parse("rolling:28d").length == timedelta(days=28)
    assert MonitorConfig(reference=" cycle: 7d ").reference == "cycle:7d"
    cfg = MonitorConfig(reference="cycle:7d", drift={"features": {"x2": {"reference": "training"}}})
    assert cfg.drift_reference("x2").kind == "training"
    assert str(cfg.drift_reference("x1")) == "cycle:1w"
    for bad in ("weekly", "rolling", "cycle:0d", "training:1d", "cycle:abc"):
        with pytest.raises(ValidationError, match="expected a drift reference"):
            MonitorConfig(reference=bad)
    with pytest.raises(ValidationError, match=r"shorter than monitor\.window"):
        MonitorConfig(window="1d", drift={"features": {"x1": {"reference": "cycle:1h"}}})


def test_reference_periods() -> None:
    window = Window(SATURDAY, SATURDAY + HOUR)
    cycle = reference_period(DriftReference.parse("cycle:7d"), window)
    assert (cycle.start, cycle.end) == (SATURDAY - WEEK, SATURDAY - WEEK + HOUR)
    rolling = reference_period(DriftReference.parse("rolling:28d"), window)
    assert (rolling.start, rolling.end) == (SATURDAY - 4 * WEEK, SATURDAY)


def test_a_seasonal_feature_drifts_against_training_not_against_its_cycle(
    seasonal: Project,
) -> None:
    training = drifted(seasonal.runtime, SATURDAY)
    assert training["x1"] and training["detected"]  # the weekend pattern, every weekend

    cycle = with_reference(seasonal.runtime, "cycle:7d")
    same_season = drifted(cycle, SATURDAY)
    assert same_season == {"x1": False, "x2": False, "color": False, "detected": False}
    shifted = drifted(cycle, SATURDAY + WEEK)  # +1.5 on top of the season
    assert shifted["x1"] and shifted["detected"] and not shifted["x2"]


def test_the_result_records_each_features_reference(seasonal: Project, tmp_path: Path) -> None:
    rt = with_reference(seasonal.runtime, "cycle:7d", color={"reference": "training"})
    result = run_monitor_job(rt, window=Window(SATURDAY, SATURDAY + HOUR))
    s = MonitorSummary.parse(result.summary)
    refs = {f.name: f.reference for f in s.features}
    x1 = refs["x1"]
    assert x1 is not None and (x1.kind, x1.requested, x1.rows, x1.fallback) == (
        "cycle",
        "cycle:7d",
        400,
        False,
    )
    assert (
        x1.start == (SATURDAY - WEEK).isoformat() and x1.end == (SATURDAY - WEEK + HOUR).isoformat()
    )
    color = refs["color"]
    assert color is not None and (color.kind, color.requested, color.fallback) == (
        "training",
        "training",
        False,
    )
    assert color.rows is not None and color.rows > 400  # the training frame's rows
    assert color.start is not None  # the version's training window
    prediction = s.drift.prediction if s.drift else None
    assert prediction is not None and prediction.reference is not None
    assert prediction.reference.kind == "cycle" and prediction.reference.rows == 400

    html = Path(str(result.report_path)).read_text(encoding="utf-8")
    assert "cycle 2026-04-25 12:00 → 2026-04-25 13:00, 400 rows" in html

    from rich.console import Console

    from opsloop.cli.render import print_monitor

    console = Console(record=True, width=200)
    print_monitor(console, result)
    text = console.export_text()
    assert "reference" in text and "cycle 2026-04-25 12:00 → 2026-04-25 13:00 (400 rows)" in text


def test_too_few_logged_rows_fall_back_to_training_and_say_so(seasonal: Project) -> None:
    rt = with_reference(seasonal.runtime, "cycle:365d")  # nothing was logged a year ago
    window = Window(SATURDAY, SATURDAY + HOUR)
    report = evaluate_window(rt, window, load_version(rt, "1"))
    for name in ("x1", "x2", "color", "score"):
        used = report.references[name]
        assert (used.kind, used.requested, used.fallback) == ("training", "cycle:365d", True)
        assert used.reason is not None and used.reason.startswith(f"0 rows of {name} logged in")
    assert any("fell back to training" in n for n in report.notes)
    # the verdicts are the training reference's
    training = drifted(seasonal.runtime, SATURDAY)
    assert report.drift.drifted_features == [
        n for n, d in training.items() if d and n != "detected"
    ]
    summary = report.summary()
    x1 = next(f for f in summary.features if f.name == "x1")
    assert x1.reference is not None and x1.reference.label.startswith(
        "training (fallback from cycle:365d)"
    )


def test_a_period_with_fewer_rows_than_min_rows_falls_back(seasonal: Project) -> None:
    """drift.min_rows is 50 in the tiny project: 30 rows in the period are too few."""
    frame = tiny_frame(30, seed=9, prefix="few")
    start = SATURDAY + 2 * WEEK
    seasonal.engine.add_predictions(  # type: ignore[attr-defined]
        prediction_log(seasonal, frame, "1", ts=start - timedelta(hours=5))
    )
    log_hour(seasonal, start, shift=0.0, seed=4)
    rt = with_reference(seasonal.runtime, "rolling:1d")
    report = evaluate_window(rt, Window(start, start + HOUR), load_version(rt, "1"))
    used = report.references["x2"]
    assert used.fallback and used.reason is not None and "30 rows of x2" in used.reason


def test_the_reference_holds_no_shadow_answers() -> None:
    engine = MemoryEngine()
    ts = pd.Timestamp(SATURDAY)
    rows = pd.DataFrame(
        {
            "prediction_id": ["a", "b", "c"],
            "ts": [ts, ts, ts],
            "model_version": ["1", "2", "2"],
            "route": ["stable", "candidate", "shadow"],
            "x": [1.0, 2.0, 3.0],
            "score": [0.1, 0.2, 0.3],
        }
    )
    engine.add_predictions(rows)
    from opsloop.core.profile import compute_profile
    from opsloop.data.features import FeatureSpec

    layout = compute_profile(rows, [FeatureSpec("x", "numeric", "float64", False)])
    end = SATURDAY + HOUR
    assert engine.profile_window("m", SATURDAY, end, layout).features["x"].count == 3
    served = engine.profile_window("m", SATURDAY, end, layout, served=True)
    assert served.features["x"].count == 2 and served.features["x"].max == 2.0


def test_the_agent_fires_on_a_genuine_shift_only_and_records_the_reference(
    seasonal: Project,
) -> None:
    """`retrain.on: drift` with `cycle:7d`: the seasonal Saturday fires nothing, the
    shifted one fires with each drifted feature's reference in the firing's evidence."""
    from opsloop.orchestrate.agent import tick

    cycle = with_reference(seasonal.runtime, "cycle:7d")
    quiet = tick(replace(cycle, clock=lambda: SATURDAY + HOUR), force_monitor=True, train=False)
    assert quiet.monitored is not None and quiet.monitored.n_rows == 400
    assert not quiet.monitored.drift_share and quiet.fired == []
    # the multivariate band is centred on last Saturday's error, not the training one
    mv = quiet.monitored.summary_model.multivariate
    assert mv is not None and mv.reference is not None and not mv.drifted
    assert (mv.reference.kind, mv.reference.rows, mv.reference.fallback) == ("cycle", 400, False)

    shifted = tick(
        replace(cycle, clock=lambda: SATURDAY + WEEK + HOUR), force_monitor=True, train=False
    )
    drift = [f for f in shifted.fired if f.trigger == "drift"]
    assert len(drift) == 1
    x1 = drift[0].evidence["references"]["x1"]
    assert (x1["kind"], x1["requested"], x1["rows"]) == ("cycle", "cycle:7d", 400)
    assert x1["start"] == SATURDAY.isoformat()
    # against training, the seasonal Saturday is a drift (every weekend would fire); the
    # agent has monitored that event window already, so the job judges it again directly
    from opsloop.data.window import Window
    from opsloop.monitor.job import run_monitor_job

    training = run_monitor_job(seasonal.runtime, window=Window(SATURDAY, SATURDAY + HOUR))
    assert training.drift_detected


def test_the_band_around_another_centre_has_the_training_width_for_as_many_rows() -> None:
    from opsloop.core.transform import Band

    band = Band(
        center=1.0, sd=0.05, row_sd=0.4, sigma=3.0, chunk_rows=250, chunks=20, reference_rows=5000
    )
    lower, upper = band.bounds(400)
    around = band.bounds_around(400, 2.0, 5000)
    assert around == pytest.approx((2.0 - (upper - lower) / 2, 2.0 + (upper - lower) / 2))
    narrow, wide = band.bounds_around(400, 2.0, 100_000), band.bounds_around(400, 2.0, 100)
    assert wide[1] - wide[0] > around[1] - around[0] > narrow[1] - narrow[0]
