"""Names and types that cannot break monitoring, on the DuckDB engine over real Parquet
files written by the real writer: features named like the log's partition directories
(`model`, `date`, `hour`) are monitored like any other, and a log whose `ts` came at
nanosecond precision (or in another time zone) is read."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from opsloop.core.profile import compute_profile
from opsloop.data.predlog import partition_dir
from opsloop.engines.duckdb import DuckDBEngine
from opsloop.errors import DataValidationError
from opsloop.project import Project
from opsloop.registry.memory import MemoryRegistry
from opsloop.serve import PredictionLogWriter
from opsloop.store import OpsStore
from tinyproject import prediction_log, tiny_frame, write_tiny_project

PARTITION_NAMED = ("model", "date", "hour")


def _with_partition_named(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = frame.copy()
    out["hour"] = rng.integers(0, 24, len(frame))
    out["date"] = rng.normal(10.0, 2.0, len(frame))
    out["model"] = rng.normal(-3.0, 1.0, len(frame))
    return out


def _project(tmp_path: Path) -> Project:
    root = write_tiny_project(tmp_path / "d")
    history = _with_partition_named(pd.read_parquet(root / "data" / "history.parquet"), 1)
    history.to_parquet(root / "data" / "history.parquet", index=False)
    p = Project(
        root,
        registry=MemoryRegistry(),
        store=OpsStore("sqlite://"),
        engine=DuckDBEngine(tmp_path / "pred", tmp_path / "labels"),
    )
    p.train()
    return p


def _log(p: Project, tmp_path: Path, log: pd.DataFrame) -> None:
    writer = PredictionLogWriter(tmp_path / "pred", "tiny")
    writer.submit(log)
    writer.close()


def test_features_named_like_partitions_are_monitored(tmp_path: Path) -> None:
    p = _project(tmp_path)
    names = {f.name for f in p.registry.load("tiny", "1").features}
    assert set(PARTITION_NAMED) <= names
    traffic = _with_partition_named(tiny_frame(600, seed=3, prefix="d", days=0.01), 2)
    _log(p, tmp_path, prediction_log(p, traffic, "1"))

    result = p.monitor()
    judged = {f["name"]: f for f in result.summary["drift"]["features"]}
    assert set(judged) == names
    for name in PARTITION_NAMED:
        assert judged[name]["n"] == 600 and not judged[name]["drifted"], judged[name]
    assert result.summary["quality"]["passed"] is True, result.summary["quality"]
    assert not result.summary["multivariate"]["drifted"], result.summary["multivariate"]


@pytest.mark.parametrize("tz", ["UTC", "Europe/Paris", None])
def test_nanosecond_and_zoned_timestamps_are_read(tmp_path: Path, tz: str | None) -> None:
    p = _project(tmp_path)
    traffic = _with_partition_named(tiny_frame(300, seed=4, prefix="n", days=0.01), 3)
    log = prediction_log(p, traffic, "1")
    now = pd.Timestamp.now(tz="UTC").as_unit("ns") - pd.Timedelta(minutes=1)
    ts = pd.Series(now + pd.to_timedelta(np.arange(len(log)), unit="ns"))
    log["ts"] = ts.dt.tz_convert(tz) if tz else ts.dt.tz_localize(None)
    assert str(log["ts"].dtype).startswith("datetime64[ns")
    _log(p, tmp_path, log)

    result = p.monitor()
    assert result.summary["n_rows"] == 300
    judged = {f["name"]: f["n"] for f in result.summary["drift"]["features"]}
    assert set(judged.values()) == {300}


def test_a_nanosecond_file_from_elsewhere_is_read(tmp_path: Path) -> None:
    """A Parquet file not written by the writer (naive nanosecond `ts`) beside one that was."""
    p = _project(tmp_path)
    traffic = _with_partition_named(tiny_frame(200, seed=5, prefix="e", days=0.01), 4)
    log = prediction_log(p, traffic, "1")
    now = pd.Timestamp.now(tz="UTC") - pd.Timedelta(minutes=1)
    _log(p, tmp_path, log.iloc[:100].assign(ts=now))
    other = log.iloc[100:].assign(ts=now.tz_localize(None).as_unit("ns"))
    directory = partition_dir(tmp_path / "pred", "tiny", now.to_pydatetime())
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(other, preserve_index=False), directory / "x.parquet")
    assert pq.read_schema(directory / "x.parquet").field("ts").type == pa.timestamp("ns")

    result = p.monitor()
    assert result.summary["n_rows"] == 200
    reference = compute_profile(traffic, p.registry.load("tiny", "1").features)
    start, end = (
        (now - pd.Timedelta(hours=2)).to_pydatetime(),
        now.to_pydatetime() + timedelta(hours=1),
    )
    hours = DuckDBEngine(tmp_path / "pred", tmp_path / "labels").profile_hours(
        "tiny", start, end, reference
    )
    assert list(hours) == [now.floor("h").to_pydatetime()]
    assert hours[now.floor("h").to_pydatetime()].features["hour"].count == 200


def test_reserved_meta_names_are_refused_at_training(tmp_path: Path) -> None:
    root = write_tiny_project(tmp_path / "d")
    history = pd.read_parquet(root / "data" / "history.parquet")
    history["score"] = 0.5
    history.to_parquet(root / "data" / "history.parquet", index=False)
    p = Project(root, registry=MemoryRegistry(), store=OpsStore("sqlite://"))
    with pytest.raises(DataValidationError) as err:
        p.train()
    assert "score" in str(err.value) and "rename" in str(err.value)
