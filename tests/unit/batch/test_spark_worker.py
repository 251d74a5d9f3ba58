"""A Spark Python worker unpickles a run's scorer once, however many tasks and batches it
runs for that run, and keeps only the newest runs' scorers."""

from __future__ import annotations

import pickle

from opsloop.batch import spark_worker


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
