"""Which window a training loads (asked, anchored now or at the data), what is recorded
about it, and the shrink warning — on in-memory backends with the tiny project's real
load(), its data moved to 2023."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from opsloop.config import load_config
from opsloop.data.window import Window, WindowRequest, parse_instant
from opsloop.engines.memory import MemoryEngine
from opsloop.errors import InvalidInputError
from opsloop.registry.memory import MemoryRegistry
from opsloop.runtime import Runtime
from opsloop.store import OpsStore
from opsloop.train.window import DataAnchored, PlannedWindow, load_window, plan_window
from tinyproject import tiny_frame, write_tiny_project

NEWEST = datetime(2023, 6, 30, 12, 0, 0, tzinfo=UTC)  # the data's newest event
NOW = datetime(2026, 1, 1, tzinfo=UTC)  # the clock: years after the data


def history(n: int = 900, days: float = 90.0) -> pd.DataFrame:
    """`n` rows spread over `days` before NEWEST (the newest row exactly at NEWEST)."""
    frame = tiny_frame(n, days=days)
    shift = NEWEST - frame["event_time"].max().to_pydatetime()
    frame["event_time"] = frame["event_time"] + shift
    return frame


def runtime(tmp_path: Path, frame: pd.DataFrame, *, retrain: str = "") -> Runtime:
    root = write_tiny_project(tmp_path / "p")
    frame.to_parquet(root / "data" / "history.parquet", index=False)
    if retrain:
        yaml = (root / "opsloop.yaml").read_text()
        yaml = yaml.replace("training_window: 30d,", f"training_window: 30d, {retrain},")
        (root / "opsloop.yaml").write_text(yaml)
    return Runtime(
        load_config(root / "opsloop.yaml"),
        root,
        MemoryRegistry(),
        OpsStore("sqlite://"),
        MemoryEngine(),
        clock=lambda: NOW,
    )


def inside(frame: pd.DataFrame, start: datetime, end: datetime) -> int:
    t = frame["event_time"]
    return int(((t >= start) & (t < end)).sum())


def test_parse_instant_reads_iso_dates_and_durations_before_now() -> None:
    assert parse_instant("2023-05-01", "--from") == datetime(2023, 5, 1, tzinfo=UTC)
    assert parse_instant("2023-05-01T06:30+02:00", "--to") == datetime(
        2023, 5, 1, 4, 30, tzinfo=UTC
    )
    assert parse_instant("30d", "--as-of", now=NOW) == NOW - timedelta(days=30)
    with pytest.raises(InvalidInputError, match="--from: cannot read 'yesterday'"):
        parse_instant("yesterday", "--from")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": "2023-06-01", "end": "2023-05-01"}, "--to must be after --from"),
        ({"start": "2023-06-01", "end": "2023-06-01"}, "--to must be after --from"),
        ({"start": "2023-05-01", "as_of": "2023-06-01"}, "--as-of cannot be combined"),
        ({"start": "2023-05-01", "length": "7d"}, "--window cannot be combined with --from"),
        ({"as_of": "2023-06-01", "length": "soon"}, "--window: expected a duration"),
        ({"end": "June"}, "--to: cannot read 'June'"),
    ],
)
def test_bad_requests_are_clear_errors(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        WindowRequest.parse(**kwargs)  # type: ignore[arg-type]


def test_plan_window_by_precedence(tmp_path: Path) -> None:
    cfg = runtime(tmp_path, history()).config
    start, end = datetime(2023, 5, 1, tzinfo=UTC), datetime(2023, 6, 1, tzinfo=UTC)
    asked = plan_window(cfg, WindowRequest(start=start, end=end), NOW)
    assert asked == PlannedWindow(
        Window(start, end), "asked", {"from": start.isoformat(), "to": end.isoformat()}
    )
    as_of = plan_window(cfg, WindowRequest(as_of=end), NOW)
    assert as_of.window == Window(end - timedelta(days=30), end) and as_of.anchor == "asked"
    assert plan_window(cfg, WindowRequest(end=end), NOW).window == as_of.window
    assert plan_window(cfg, WindowRequest(start=start), NOW).window == Window(start, NOW)
    week = plan_window(cfg, WindowRequest(as_of=end, length=timedelta(days=7)), NOW)
    assert week.window == Window(end - timedelta(days=7), end)
    assert week.requested == {"as_of": end.isoformat(), "window": "1w"}
    now = plan_window(cfg, None, NOW)
    assert now == PlannedWindow(Window(NOW - timedelta(days=30), NOW), "now", {})
    data_cfg = cfg.model_copy(update={"retrain": cfg.retrain.model_copy(update={"anchor": "data"})})
    assert plan_window(data_cfg, None, NOW) == PlannedWindow(
        DataAnchored(timedelta(days=30)), "data", {}
    )
    with pytest.raises(InvalidInputError, match="not before the window's end"):
        plan_window(cfg, WindowRequest(start=NOW + timedelta(days=1)), NOW)


def test_anchor_data_loads_the_training_window_before_the_newest_event(tmp_path: Path) -> None:
    frame = history()
    rt = runtime(tmp_path, frame)
    detail: dict[str, object] = {}
    loaded = load_window(rt, PlannedWindow(DataAnchored(timedelta(days=30)), "data"), None, detail)
    end = NEWEST + timedelta(seconds=1)
    assert loaded.window == Window(end - timedelta(days=30), end)
    assert len(loaded.frame) == inside(frame, end - timedelta(days=30), end) > 250
    assert loaded.frame["event_time"].max() == NEWEST  # the newest row is in
    assert detail["probe"] == Window(datetime(1970, 1, 1, tzinfo=UTC), NOW).key  # first: all
    record = loaded.record
    assert (record.anchor, record.rows, record.event_end) == ("data", len(loaded.frame), NEWEST)
    assert record.tags()["opsloop.event_end"] == NEWEST.isoformat()
    # The next training starts its probe at the champion's newest event minus the window.
    champion = _version(rt, record.tags())
    detail = {}
    again = load_window(
        rt, PlannedWindow(DataAnchored(timedelta(days=30)), "data"), champion, detail
    )
    assert detail["probe"] == Window(NEWEST - timedelta(days=30), NOW).key
    assert again.window == loaded.window and len(again.frame) == len(loaded.frame)


def test_anchor_data_with_a_newest_event_gone_back_loads_the_exact_window(tmp_path: Path) -> None:
    frame = history()
    rt = runtime(tmp_path, frame)
    later = {"opsloop.event_end": (NEWEST + timedelta(days=60)).isoformat()}  # rows removed
    plan = PlannedWindow(DataAnchored(timedelta(days=30)), "data")
    loaded = load_window(rt, plan, _version(rt, later), {})
    end = NEWEST + timedelta(seconds=1)
    assert len(loaded.frame) == inside(frame, end - timedelta(days=30), end)


def test_a_window_with_far_fewer_rows_than_the_champion_warns(tmp_path: Path) -> None:
    rt = runtime(tmp_path, history())
    champion = _version(rt, {"opsloop.rows": "900", "opsloop.window": "W"})
    plan = plan_window(rt.config, WindowRequest(as_of=NEWEST - timedelta(days=80)), NOW)
    detail: dict[str, object] = {}
    loaded = load_window(rt, plan, champion, detail)
    (warning,) = loaded.warnings
    assert f"load() returned {len(loaded.frame)} rows" in warning and "of the 900 rows" in warning
    assert detail["warnings"] == [warning]
    (event,) = rt.store.list_events("tiny", kinds=["training_data_shrank"])
    assert event.evidence["rows"] == len(loaded.frame) < 450
    assert event.evidence["champion_rows"] == 900 and event.evidence["threshold"] == 0.5
    assert event.evidence["share"] == pytest.approx(len(loaded.frame) / 900, abs=1e-6)
    # enough rows, or the warning turned off: nothing
    assert not load_window(rt, plan_window(rt.config, None, NOW), None, {}).warnings
    full = plan_window(rt.config, WindowRequest(start=NEWEST - timedelta(days=100)), NOW)
    assert not load_window(rt, full, champion, {}).warnings
    off = runtime(tmp_path / "off", history(), retrain="warn_row_share: 0")
    assert not load_window(off, plan, _version(off, {"opsloop.rows": "900"}), {}).warnings


def _version(rt: Runtime, tags: dict[str, str]):  # type: ignore[no-untyped-def]
    from opsloop.registry.base import ModelVersion

    return ModelVersion(rt.model, "1", NOW, None, None, tags)
