"""The agent runs the `predict:` section's batch prediction when its schedule is due, once
per scheduled time (a failed run too), and publishes it when configured."""

from __future__ import annotations

from pathlib import Path

from opsloop.engines.memory import MemoryEngine
from opsloop.project import Project
from opsloop.registry.memory import MemoryRegistry
from opsloop.store import OpsStore
from tinyproject import tiny_frame, write_tiny_project

PREDICT = """\
predict:
  input: incoming/*.parquet
  output: scores
  schedule: "0 0 1 1 *"
"""


def _project(tmp_path: Path, extra: str = PREDICT) -> Project:
    root = write_tiny_project(tmp_path / "p", extra_yaml=extra)
    return Project(
        root, registry=MemoryRegistry(), store=OpsStore("sqlite://"), engine=MemoryEngine()
    )


def test_the_agent_predicts_once_per_scheduled_time_and_publishes(tmp_path: Path) -> None:
    p = _project(tmp_path)
    p.train()
    (p.root / "incoming").mkdir()
    frame = tiny_frame(120, seed=2, prefix="a", days=0.01).drop(columns=["label"])
    frame.to_parquet(p.root / "incoming" / "part-0.parquet")
    first = p.tick()
    assert first.predicted is not None and first.predicted.run.rows == 120
    assert first.predicted.publication is not None  # predict.publish defaults to true
    assert first.predicted.output.parent == p.root / "scores"
    assert p.batch_current().run == first.predicted.run
    assert any("batch prediction" in n for n in first.notes)
    assert p.tick().predicted is None  # this year's run is done
    assert len(p.batch_history()) == 1


def test_a_failed_scheduled_run_is_a_note_and_waits_for_the_next_time(tmp_path: Path) -> None:
    p = _project(tmp_path)
    p.train()
    tick = p.tick()  # incoming/ does not exist
    assert tick.predicted is None
    assert any("batch prediction due at" in n and "failed" in n for n in tick.notes)
    (run,) = p.store.list_batch_runs("tiny")
    assert run.status == "failed" and "does not exist" in (run.error or "")
    again = p.tick()
    assert not any("batch prediction" in n for n in again.notes)


def test_without_a_schedule_or_a_deployment_nothing_runs(tmp_path: Path) -> None:
    p = _project(tmp_path, "predict: {input: in.parquet, output: out}\n")
    assert p.tick().predicted is None  # nothing deployed
    p.train()
    assert p.tick().predicted is None  # no schedule
    assert p.store.list_batch_runs("tiny") == []


def test_the_scheduled_run_uses_predict_engine_over_the_stacks(tmp_path: Path) -> None:
    # the stack says Spark, the `predict:` section DuckDB: the section wins, as for
    # `opsloop predict` (before, the agent's run ignored `predict.engine`)
    extra = PREDICT + "  engine: duckdb\nstacks:\n  local:\n    engine: spark\n"
    p = _project(tmp_path, extra)
    p.train()
    (p.root / "incoming").mkdir()
    frame = tiny_frame(50, seed=3, prefix="e", days=0.01).drop(columns=["label"])
    frame.to_parquet(p.root / "incoming" / "part-0.parquet")
    done = p.tick().predicted
    assert done is not None and done.run.details["engine"] == "duckdb"
