"""A series of windows read in one pass (`Engine.scan_windows`) equals the windows read one
by one (`scan_window`), on DuckDB over a real Parquet log holding a 2013 history replayed
in 2026 (event times in 2013), and so do the monitoring reports judged from them."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from opsloop.data.window import Window
from opsloop.engines.duckdb import DuckDBEngine
from opsloop.monitor.drift import exact_features
from opsloop.monitor.job import evaluate_window, judge_scan, load_version
from opsloop.project import Project
from opsloop.registry.memory import MemoryRegistry
from opsloop.serve import PredictionLogWriter
from opsloop.store import OpsStore
from tinyproject import prediction_log, tiny_frame, write_tiny_project

T0 = datetime(2013, 1, 7, tzinfo=UTC)  # a Monday
WEEK = timedelta(weeks=1)
ANSWERED = datetime(2026, 6, 1, 12, tzinfo=UTC)
# rows per week: empty weeks, a small week (exact KS on raw values), a drifting week
WEEKS = {0: 400, 1: 0, 2: 6000, 3: 30, 4: 0, 5: 800}


def _replay(tmp_path: Path) -> tuple[Project, DuckDBEngine]:
    """The tiny model trained, and a 2013 history answered in June 2026 through the log
    writer (each row's event time from its record), with labels for every third row, a
    shadow version's answers and another version's rows in the same weeks."""
    root = write_tiny_project(tmp_path / "d")
    engine = DuckDBEngine(tmp_path / "pred", tmp_path / "labels")
    p = Project(root, registry=MemoryRegistry(), store=OpsStore("sqlite://"), engine=engine)
    engine.labels_root = p.paths.labels
    p.train()
    writer = PredictionLogWriter(tmp_path / "pred", "tiny")
    rng = np.random.default_rng(5)
    labelled = []
    for week, n in WEEKS.items():
        if not n:
            continue
        frame = tiny_frame(n, drift=1.0 if week == 5 else 0.0, seed=week, prefix=f"w{week}")
        log = prediction_log(p, frame, "1", ts=ANSWERED + timedelta(minutes=week))
        seconds = np.sort(rng.uniform(0, WEEK.total_seconds(), n))  # distinct: a fixed order
        log.insert(
            3, "event_ts", pd.DatetimeIndex(T0 + week * WEEK + pd.to_timedelta(seconds, "s"))
        )
        log.loc[log.index[:5], "route"] = "shadow"  # a candidate's mirrored answers
        log.loc[log.index[5:10], "model_version"] = "2"
        writer.submit(log)
        labelled.append(frame[["row_id", "label"]].iloc[::3])
    writer.close()
    p.add_labels(pd.concat(labelled, ignore_index=True))
    return p, engine


def _sorted(values: dict[str, list[float]] | None) -> dict[str, list[float]] | None:
    return None if values is None else {k: sorted(v) for k, v in values.items()}


def _same(a: Any, b: Any, path: str = "") -> None:
    """Equal, floats to rounding (DuckDB adds a group's floats in no fixed order)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), path
        for k in a:
            _same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and not math.isnan(a):
        assert b == pytest.approx(a, rel=1e-9, abs=1e-12), path
    elif isinstance(a, float):
        assert isinstance(b, float) and math.isnan(b), path
    else:
        assert a == b, path


def test_a_series_scan_equals_the_windows_scanned_one_by_one(tmp_path: Path) -> None:
    p, engine = _replay(tmp_path)
    rt = p.runtime
    inputs = load_version(rt, "1")
    assert inputs.transform is not None and inputs.cbpe is not None
    reference, drift = inputs.reference, rt.config.monitor.drift

    def exact(current: Any) -> list[str]:
        return exact_features(reference, current, drift)

    series = dict(
        engine.scan_windows(
            "tiny",
            T0,
            WEEK,
            list(range(len(WEEKS))),
            reference,
            version="1",
            scores=True,
            transform=inputs.transform,
            exact=exact,
            limit=drift.exact_max_rows,
        )
    )
    assert sorted(series) == [0, 2, 3, 5]  # weeks without rows are not yielded
    for i, scan in series.items():
        w = Window(T0 + i * WEEK, T0 + (i + 1) * WEEK)
        one = engine.scan_window(
            "tiny",
            w.start,
            w.end,
            reference,
            version="1",
            scores=True,
            transform=inputs.transform,
            exact=exact,
            limit=drift.exact_max_rows,
        )
        assert scan.profile.n_rows == one.profile.n_rows == WEEKS[i] - 10
        assert scan.profile.newest == one.profile.newest and one.profile.newest < w.end
        for name, fa in scan.profile.features.items():
            fb = one.profile.features[name]
            assert replace(fa, sum=0.0, sum_sq=0.0) == replace(fb, sum=0.0, sum_sq=0.0)
            assert fa.sum == pytest.approx(fb.sum, rel=1e-9, abs=1e-9)
        # rows come in `ts` order, and a replay answered many rows at the same `ts`: those
        # come in any order, in both reads
        columns = ["prediction", "score", "label"]
        pd.testing.assert_frame_equal(
            scan.labelled.sort_values(columns, ignore_index=True),
            one.labelled.sort_values(columns, ignore_index=True),
            check_dtype=False,
        )
        assert len(one.labelled) > 0  # labels join by id, the window by the event time
        assert scan.scores is not None and one.scores is not None
        np.testing.assert_array_equal(np.sort(scan.scores), np.sort(one.scores))
        assert _sorted(scan.values) == _sorted(one.values)
        assert (one.values is None) is (i == 2)  # the big week is judged on sketches
        assert scan.error is not None and one.error is not None
        assert scan.error[0] == one.error[0]
        assert scan.error[1] == pytest.approx(one.error[1], rel=1e-9)
        # and so the reports judged from them
        _same(judge_scan(rt, w, inputs, scan).to_dict(), evaluate_window(rt, w, inputs).to_dict())


def test_history_is_backfilled_and_spanned_by_its_own_dates(tmp_path: Path) -> None:
    """`--every 1w` over 2013: the weeks with rows are monitored by their 2013 dates,
    labels joined; the log's span on the event clock is 2013, on the answered one 2026."""
    p, engine = _replay(tmp_path)
    span = engine.log_span("tiny", version="1")
    assert span is not None and span[0] >= T0 and span[1] < T0 + 6 * WEEK
    answered = engine.log_span("tiny", version="1", clock="answered")
    assert answered is not None and answered[0] >= ANSWERED
    result = p.backfill_monitor(start=T0, end=T0 + 6 * WEEK, every=WEEK)
    assert [m.window_start for m in result.monitored] == [T0 + i * WEEK for i in (0, 2, 3, 5)]
    assert [s["window"][:10] for s in result.skipped] == ["2013-01-14", "2013-02-04"]
    week5 = result.monitored[-1]
    assert week5.n_rows == 790 and week5.n_labelled == 263 and week5.drift_detected
    assert week5.performance_value is not None
