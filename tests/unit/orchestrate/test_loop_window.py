"""The loop's data window: trained on exactly what was asked (--from/--to, --as-of), or the
training window before the data's newest event (`retrain.anchor: data`); recorded with the
version and in `opsloop status`; warnings (load() shrank, holdout too small) in the outcome
and the events. In-memory backends, the tiny project's real code, data of 2023."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from opsloop.data.window import Window, WindowRequest
from opsloop.orchestrate.loop import run_loop
from opsloop.project import Project
from opsloop.registry.memory import MemoryRegistry
from opsloop.store import OpsStore
from tinyproject import tiny_frame, write_tiny_project

NEWEST = datetime(2023, 6, 30, 12, tzinfo=UTC)


def project(tmp_path: Path, *, anchor: str = "now", rows: int = 1500) -> Project:
    from opsloop.engines.memory import MemoryEngine

    root = write_tiny_project(tmp_path / "p", rows=rows)
    frame = tiny_frame(rows, days=90)
    frame["event_time"] += NEWEST - frame["event_time"].max().to_pydatetime()
    frame.to_parquet(root / "data" / "history.parquet", index=False)
    yaml = (root / "opsloop.yaml").read_text()
    (root / "opsloop.yaml").write_text(
        yaml.replace("training_window: 30d,", f"training_window: 30d, anchor: {anchor},")
    )
    return Project(
        root, registry=MemoryRegistry(), store=OpsStore("sqlite://"), engine=MemoryEngine()
    )


def in_window(p: Project, window: Window) -> int:
    import pandas as pd

    t = pd.read_parquet(p.root / "data" / "history.parquet")["event_time"]
    return int(((t >= window.start) & (t < window.end)).sum())


def test_from_to_trains_on_exactly_that_window_and_records_it(tmp_path: Path) -> None:
    p = project(tmp_path)
    o = p.train(start="2023-04-15", end="2023-06-15T00:00:00Z")
    window = Window(datetime(2023, 4, 15, tzinfo=UTC), datetime(2023, 6, 15, tzinfo=UTC))
    assert o.window == window.key and o.anchor == "asked" and not o.skipped
    assert o.requested == {"from": window.start.isoformat(), "to": window.end.isoformat()}
    assert o.rows["total"] == in_window(p, window) > 800
    tags = p.registry.get_version("tiny", o.version).tags
    assert tags["opsloop.window"] == window.key and tags["opsloop.window_anchor"] == "asked"
    assert tags["opsloop.rows"] == str(o.rows["total"])
    first, last = (datetime.fromisoformat(tags[f"opsloop.event_{k}"]) for k in ("start", "end"))
    assert window.start <= first < last < window.end
    (trained,) = p.store.list_events("tiny", kinds=["trained"])
    assert trained.evidence["requested"] == o.requested
    assert trained.evidence["event_time"] == {"min": first.isoformat(), "max": last.isoformat()}
    training = p.status_view().champion.training  # type: ignore[union-attr]
    assert training is not None and training.window == window.key
    assert (training.rows, training.event_end) == (o.rows["total"], last.isoformat())


def test_as_of_trains_on_the_training_window_ending_then(tmp_path: Path) -> None:
    p = project(tmp_path)
    o = p.train(as_of=datetime(2023, 6, 1, tzinfo=UTC))
    window = Window.last(timedelta(days=30), end=datetime(2023, 6, 1, tzinfo=UTC))
    assert o.window == window.key and o.rows["total"] == in_window(p, window)
    assert o.requested == {"as_of": "2023-06-01T00:00:00+00:00"}


def test_anchor_now_on_old_data_fails_and_anchor_data_trains_on_its_last_window(
    tmp_path: Path,
) -> None:
    import pytest

    from opsloop.errors import OpsloopError

    stale = project(tmp_path / "now")
    with pytest.raises(OpsloopError):  # the last 30 days before now hold no row of 2023
        stale.train()
    p = project(tmp_path / "data", anchor="data")
    o = p.train()
    end = NEWEST + timedelta(seconds=1)
    window = Window(end - timedelta(days=30), end)
    assert (o.window, o.anchor) == (window.key, "data")
    assert o.rows["total"] == in_window(p, window) > 400
    assert p.registry.get_version("tiny", o.version).tags["opsloop.event_end"] == (
        NEWEST.isoformat()
    )


def test_a_shrunken_window_warns_in_the_outcome_and_the_events(tmp_path: Path) -> None:
    p = project(tmp_path)
    p.train(start="2023-04-01", end="2023-07-01")  # the whole history: the champion
    o = p.train(as_of="2023-04-20", force=True)  # ~ 19 of its 90 days
    (shrank,) = p.events(kinds=["training_data_shrank"])
    assert shrank.evidence["champion_rows"] == 1500 and shrank.evidence["rows"] == o.rows["total"]
    assert shrank.evidence["window"] == o.window
    assert shrank.summary in o.warnings
    run = p.store.list_runs("tiny")[0]
    load = next(s for s in run.stages if s["name"] == "load")
    assert load["detail"]["warnings"] == [shrank.summary]


def test_a_small_holdout_warns_in_the_gate_report_and_the_events(tmp_path: Path) -> None:
    p = project(tmp_path, rows=300)  # holdout 60 rows < gate.holdout_min_rows 100
    o = p.train(start="2023-01-01", end="2023-07-01")
    (event,) = p.events(kinds=["holdout_too_small"])
    assert event.version == o.version and event.evidence["holdout_rows"] == o.rows["holdout"]
    assert "holdout too small" in event.summary and event.summary in "; ".join(o.warnings)
    report = p.gate_report(o.version)
    assert report.warnings and report.warnings[0].startswith(
        f"holdout too small: {o.rows['holdout']} rows"
    )
    big = project(tmp_path / "big")
    big.train(start="2023-01-01", end="2023-07-01")
    assert not big.events(kinds=["holdout_too_small"])


def test_a_retraining_request_trains_on_the_window_it_names(tmp_path: Path) -> None:
    p = project(tmp_path)
    asked = WindowRequest.parse(start="2023-05-01", end="2023-06-01")
    request = p.request_retrain(reason="as of May", window=asked)
    assert request.window == asked.to_dict()
    assert p.retrain_requests()[-1].window == asked.to_dict()
    result = p.tick()
    assert result.trained is not None
    assert result.trained.window == Window(asked.start, asked.end).key  # type: ignore[arg-type]
    _, now = p.retrain_now(reason="now", window=WindowRequest.parse(as_of="2023-06-01"))
    assert now.requested == {"as_of": "2023-06-01T00:00:00+00:00"}


def test_run_loop_takes_a_plain_window_as_asked(tmp_path: Path) -> None:
    p = project(tmp_path)
    window = Window(datetime(2023, 5, 1, tzinfo=UTC), datetime(2023, 6, 1, tzinfo=UTC))
    o = run_loop(p.runtime, window=window)
    assert o.window == window.key and o.anchor == "asked"
