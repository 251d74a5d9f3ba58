"""A Spark Python worker unpickles a run's scorer once, however many tasks and batches it
runs for that run, and keeps only the newest runs' scorers; a task writes its own output
and log files (nothing when it fails) and hands back its row count."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from opsloop.batch import spark_worker
from opsloop.errors import DataValidationError
from tinyproject import tiny_frame


class Shipped:
    """What `SparkContext.broadcast` hands a worker: the bytes behind `.value`, counted."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.reads = 0

    @property
    def value(self) -> bytes:
        self.reads += 1
        return self.payload


def test_a_scorer_is_unpickled_once_per_run_and_worker() -> None:
    spark_worker._scorers.clear()
    shipped = Shipped(pickle.dumps({"model": [1, 2, 3]}))
    first = spark_worker.loaded("run-a", shipped)
    for _ in range(5):  # later tasks and batches of the same run in this worker
        assert spark_worker.loaded("run-a", shipped) is first
    assert shipped.reads == 1 and first == {"model": [1, 2, 3]}
    # Spark Connect: the bytes travel with the function, still unpickled once
    assert spark_worker.loaded("run-b", pickle.dumps("b")) == "b"
    for i in range(spark_worker.KEEP + 2):
        spark_worker.loaded(f"run-{i}", pickle.dumps(i))
    assert spark_worker.loads() == spark_worker.KEEP
    assert "run-a" not in spark_worker._scorers  # the oldest runs' scorers were dropped


def _plan(p, version: str, tmp_path, token: str):
    import pyarrow as pa

    from opsloop.batch.rows import RunRows
    from opsloop.batch.scoring import scorer_for

    model = p.registry.load("tiny", version)
    scorer = scorer_for(model, p.registry.get_version("tiny", version).tags)
    rows = RunRows("tiny", version, "r1", "row_id", "event_time", tuple(model.feature_names))
    answered = datetime(2026, 12, 7, 1, tzinfo=UTC)
    plan = spark_worker.TaskPlan(
        token, rows, answered, pa.int64(), str(tmp_path / "out"), str(tmp_path / "log")
    )
    return scorer, plan


def _batches(frame, size: int):
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    return iter(table.to_batches(max_chunksize=size))


def test_a_task_writes_its_output_and_log_files_and_returns_its_count(memory_project, tmp_path):
    """Outside Spark (no TaskContext) a task is partition 0: its output and log rows are
    written as `part-00000.parquet` of each folder, equal to the model's own answers."""
    p = memory_project
    version = p.train().version
    frame = tiny_frame(300, seed=4, prefix="w", days=0.01).drop(columns=["label"])
    scorer, plan = _plan(p, version, tmp_path, "run-w")
    shipped = cloudpickle.dumps(scorer)  # as the driver ships it
    (summary,) = spark_worker.score_partition(_batches(frame, 64), shipped, plan)
    assert summary.to_pydict() == {"partition": [0], "rows": [300]}
    assert sorted(f.name for f in (tmp_path / "out").iterdir()) == ["part-00000.parquet"]
    assert sorted(f.name for f in (tmp_path / "log").iterdir()) == ["part-00000.parquet"]

    out = pd.read_parquet(tmp_path / "out").set_index("row_id").loc[frame["row_id"]]
    pred, score = scorer.model.predict_frame(frame)
    assert out["prediction"].tolist() == list(pred)
    np.testing.assert_array_equal(out["score"].to_numpy(), score)
    assert set(out["run_id"]) == {"r1"} and set(out["version"]) == {version}
    log = pd.read_parquet(tmp_path / "log")
    assert len(log) == 300 and set(log["route"]) == {"batch"}
    assert set(log["prediction_id"]) == set(frame["row_id"])


def test_a_failed_task_leaves_no_file(memory_project, tmp_path):
    p = memory_project
    version = p.train().version
    frame = tiny_frame(200, seed=5, prefix="f", days=0.01).drop(columns=["label"])
    frame.loc[150:, "x1"] = np.nan  # a missing value in a feature trained without any
    scorer, plan = _plan(p, version, tmp_path, "run-f")
    with pytest.raises(DataValidationError):
        list(spark_worker.score_partition(_batches(frame, 64), cloudpickle.dumps(scorer), plan))
    written = [f for d in ("out", "log") for f in (tmp_path / d).rglob("*") if f.is_file()]
    assert written == [] and (tmp_path / "out").is_dir()  # two batches were written first
