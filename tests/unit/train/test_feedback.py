"""`data.feedback`: training learns from the labelled production rows of its window, on
in-memory backends — counted in the load stage, the `trained` event and the version's tags,
and part of the data fingerprint (new labels alone are a reason to retrain)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from opsloop.config import parse_config
from opsloop.engines.memory import MemoryEngine
from opsloop.errors import DataValidationError
from opsloop.project import Project
from opsloop.registry.memory import MemoryRegistry
from opsloop.store import OpsStore
from tinyproject import prediction_log, tiny_frame, write_tiny_project


def feedback_project(tmp_path: Path, feedback: str = "true") -> Project:
    root = write_tiny_project(tmp_path / "p", extra_yaml=f"data: {{feedback: {feedback}}}\n")
    return Project(
        root,
        registry=MemoryRegistry(),
        store=OpsStore("sqlite://"),
        engine=MemoryEngine(),
        actor="tester",
    )


def log(p: Project, frame: pd.DataFrame, *, event_days_ago: float = 0.1) -> None:
    """`frame` served by version 1, its event times `event_days_ago` (the answer now)."""
    rows = prediction_log(p, frame, "1")
    rows.insert(3, "event_ts", pd.Timestamp(datetime.now(UTC) - timedelta(days=event_days_ago)))
    p.engine.add_predictions(rows)  # type: ignore[attr-defined]


def label(p: Project, frame: pd.DataFrame) -> None:
    p.engine.add_labels(  # type: ignore[attr-defined]
        pd.DataFrame(
            {
                "prediction_id": frame["row_id"].astype(str),
                "label": frame["label"],
                "label_ts": pd.Timestamp(datetime.now(UTC)),
            }
        )
    )


def load_stage(p: Project) -> dict:
    run = p.store.list_runs(p.name)[0]
    return next(s for s in run.stages if s["name"] == "load")["detail"]


def test_the_shorthand_and_the_mapping() -> None:
    base = {"model": "m", "target": "y", "id_column": "i", "time_column": "t"}
    assert not parse_config(base).data.feedback.enabled
    assert parse_config({**base, "data": {"feedback": True}}).data.feedback.enabled
    full = parse_config({**base, "data": {"feedback": {"enabled": True, "max_rows": 10}}})
    assert full.data.feedback.max_rows == 10


def test_labelled_production_rows_of_the_window_are_trained_on(tmp_path: Path) -> None:
    p = feedback_project(tmp_path)
    first = p.train()
    assert first.rows["loaded"] == 1500 and first.rows["feedback"] == 0

    fresh = tiny_frame(120, seed=5, prefix="prod", days=1)
    old = tiny_frame(40, seed=6, prefix="old", days=1)
    history = pd.read_parquet(p.root / "data" / "history.parquet")
    again = history.head(25)  # ids load() returns too
    for frame in (fresh, again):
        log(p, frame)
    log(p, old, event_days_ago=45)  # outside the 30-day training window by event time
    for frame in (fresh, old, again):
        label(p, frame)

    second = p.train()  # new labels only: not skipped as "nothing changed"
    assert not second.skipped and second.version == "2"
    assert second.rows["loaded"] == 1500 and second.rows["feedback"] == 120
    assert second.rows["total"] == 1620
    counts = {"loaded": 1500, "feedback": 120, "duplicates": 25, "capped": 0}
    details = load_stage(p)
    assert details["rows"] == 1620
    assert {k: details["feedback"][k] for k in counts} == counts
    assert details["feedback"]["missing_columns"] == []
    trained = p.events(kinds=["trained"])[-1]
    assert trained.version == "2" and trained.evidence["rows"] == 1620
    assert {k: trained.evidence["feedback"][k] for k in counts} == counts
    tags = p.registry.get_version("tiny", "2").tags
    assert tags["opsloop.feedback_rows"] == "120" and tags["opsloop.loaded_rows"] == "1500"
    assert tags["opsloop.feedback_duplicates"] == "25"
    assert (
        tags["opsloop.data_fingerprint"]
        != p.registry.get_version("tiny", "1").tags["opsloop.data_fingerprint"]
    )

    third = p.train()  # same load(), same labels: nothing changed
    assert third.skipped and third.version == "2"


def test_feedback_rows_take_load_dtypes(tmp_path: Path) -> None:
    from opsloop.data.window import Window
    from opsloop.train.feedback import add_feedback

    p = feedback_project(tmp_path)
    p.train()
    fresh = tiny_frame(40, seed=8, prefix="prod", days=0.5)
    rows = prediction_log(p, fresh, "1")
    rows.insert(3, "event_ts", fresh["event_time"].dt.as_unit("ns"))  # another precision
    rows["x1"] = rows["x1"].astype("float32")  # another width than load()'s
    p.engine.add_predictions(rows)  # type: ignore[attr-defined]
    label(p, fresh)
    loaded = pd.read_parquet(p.root / "data" / "history.parquet")
    loaded["extra"] = 1  # a column load() returns that the log lacks: null
    window = Window.last(timedelta(days=30))
    merged, counts = add_feedback(p.runtime, window, loaded)
    assert counts is not None and counts.feedback == 40
    assert counts.missing_columns == ("extra",)
    assert merged.columns.tolist() == loaded.columns.tolist()
    assert merged.drop(columns="extra").dtypes.equals(loaded.drop(columns="extra").dtypes)
    production = merged.tail(40).reset_index(drop=True)
    assert production["row_id"].tolist() == fresh.sort_values("event_time")["row_id"].tolist()
    assert production["event_time"].tolist() == sorted(fresh["event_time"].tolist())
    assert production["label"].tolist() == fresh.sort_values("event_time")["label"].tolist()
    assert production["extra"].isna().all()


def test_max_rows_keeps_the_newest(tmp_path: Path) -> None:
    p = feedback_project(tmp_path, "{enabled: true, max_rows: 50}")
    p.train()
    fresh = tiny_frame(80, seed=9, prefix="prod", days=1)
    log(p, fresh)
    label(p, fresh)
    p.train()
    details = load_stage(p)["feedback"]
    assert (details["feedback"], details["capped"]) == (50, 30)


def test_off_by_default_records_nothing(memory_project: Project) -> None:
    p = memory_project
    fresh = tiny_frame(50, seed=5, prefix="prod", days=1)
    outcome = p.train()
    log(p, fresh)
    label(p, fresh)
    assert "feedback" not in outcome.rows and "feedback" not in load_stage(p)
    assert "opsloop.feedback_rows" not in p.registry.get_version("tiny", "1").tags
    assert p.train().skipped  # labels are not training data without data.feedback


def test_a_logged_value_of_another_type_is_a_clear_error(tmp_path: Path) -> None:
    p = feedback_project(tmp_path)
    p.train()
    fresh = tiny_frame(20, seed=5, prefix="prod", days=1)
    rows = prediction_log(p, fresh, "1")
    rows["x1"] = "high"
    p.engine.add_predictions(rows)  # type: ignore[attr-defined]
    label(p, fresh)
    with pytest.raises(DataValidationError) as info:
        p.train()
    assert "'x1'" in str(info.value) and "data.feedback" in str(info.value)
