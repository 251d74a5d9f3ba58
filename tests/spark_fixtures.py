"""The Spark session the tests share (the `spark` fixture in conftest.py): local[2], few
shuffle partitions (small data), so that one session start (~10 s) serves every test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SPARK_MASTER = "local[2]"
SPARK_CONF = {"spark.sql.shuffle.partitions": "4", "spark.default.parallelism": "2"}


def spark_engine(prediction_root: Path, labels_root: Path, **settings: Any) -> Any:
    """A SparkEngine on the tests' session."""
    from opsloop.engines.spark import SparkEngine

    return SparkEngine(
        prediction_root, labels_root, master=SPARK_MASTER, conf=SPARK_CONF, **settings
    )
