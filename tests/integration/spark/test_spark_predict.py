"""Batch prediction on Spark (local[2], `mapInArrow`) against DuckDB on the same input and
version: identical output rows and prediction-log rows, the same recorded run, the same
contract error; then a window made only of Spark-scored batch predictions is monitored on
the Spark engine with the same verdicts as on DuckDB."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from opsloop.engines.duckdb import DuckDBEngine
from opsloop.errors import DataValidationError
from opsloop.project import Project
from opsloop.registry.memory import MemoryRegistry
from opsloop.store import OpsStore
from spark_fixtures import SPARK_CONF, SPARK_MASTER
from tinyproject import tiny_frame, write_tiny_project

STACK = f"""
stack: sparky
stacks:
  sparky:
    engine: spark
    spark:
      master: "{SPARK_MASTER}"
      conf: {SPARK_CONF!r}
"""


@pytest.fixture(scope="module")
def project(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = write_tiny_project(tmp_path_factory.mktemp("sparkpredict") / "t", extra_yaml=STACK)
    p = Project(root, registry=MemoryRegistry(), store=OpsStore("sqlite://"))
    p.train()
    return p


def log_of(p: Project, run_id: str) -> pd.DataFrame:
    files = (p.root / ".opsloop" / "predictions" / "model=tiny").glob("*/*/*.parquet")
    log = pd.concat([pd.read_parquet(f) for f in files])
    return log[log["request_id"] == f"batch-{run_id}"]


def test_spark_scores_like_duckdb_and_monitors_the_same(project: Project, tmp_path: Path) -> None:
    p = project
    frame = tiny_frame(600, seed=11, prefix="w", days=0.02)
    frame.drop(columns=["label"]).to_parquet(tmp_path / "rows.parquet")
    duck = p.predict(str(tmp_path / "rows.parquet"), tmp_path / "duck", engine="duckdb")
    spark = p.predict(str(tmp_path / "rows.parquet"), tmp_path / "spark")  # the stack's engine
    assert spark.run.details["engine"] == "spark" and duck.run.details["engine"] == "duckdb"
    assert spark.run.rows == duck.run.rows == spark.log_rows == 600
    assert spark.inference == duck.inference == "compiled"
    names = sorted(f.name for f in spark.output.iterdir())  # RunFolder's names, no markers
    assert names == [f"part-{i:05d}.parquet" for i in range(spark.run.details["files"])]

    a, b = (pd.read_parquet(r.output) for r in (duck, spark))
    assert list(a.columns) == list(b.columns)
    assert a.dtypes.to_dict() == b.dtypes.to_dict()
    a, b = (f.sort_values("row_id").reset_index(drop=True) for f in (a, b))
    same = ["row_id", "event_time", "prediction", "score", "model", "version"]
    pd.testing.assert_frame_equal(a[same], b[same])
    assert set(b["run_id"]) == {spark.run.run_id}

    la, lb = (log_of(p, r.run.run_id) for r in (duck, spark))
    assert list(la.columns) == list(lb.columns)
    la, lb = (f.sort_values("prediction_id").reset_index(drop=True) for f in (la, lb))
    logged = ["prediction_id", "event_ts", "model_version", "route", "x1", "x2", "color"]
    pd.testing.assert_frame_equal(
        la[[*logged, "prediction", "score"]], lb[[*logged, "prediction", "score"]]
    )
    assert not list((p.root / ".opsloop" / "predictions").glob("**/.spark-*"))

    # monitoring: the Spark engine (the stack's) and DuckDB see the same window
    p.add_labels(frame[["row_id", "label"]])
    on_spark = p.monitor()
    on_duck = Project(
        p.root,
        registry=p.registry,
        store=p.store,
        engine=DuckDBEngine(p.root / ".opsloop" / "predictions", p.root / ".opsloop" / "labels"),
    ).monitor()
    assert type(p.engine).__name__ == "SparkEngine"
    assert (
        (on_spark.n_rows, on_spark.n_labelled)
        == (on_duck.n_rows, on_duck.n_labelled)
        == (1200, 1200)
    )
    assert on_spark.drift_detected == on_duck.drift_detected is False
    assert on_spark.performance_value == pytest.approx(on_duck.performance_value, rel=1e-12)
    sa, sb = (m.summary_model for m in (on_spark, on_duck))
    assert sa.drifted_features == sb.drifted_features


def test_each_task_writes_its_files_and_the_run_counts_them(
    project: Project, tmp_path: Path
) -> None:
    """An input Spark reads as several partitions: one output and one log file per task,
    numbered from 0 in the run folder, every row in both, as DuckDB scores them."""
    p = project
    frame = tiny_frame(900, seed=12, prefix="m", days=0.02).drop(columns=["label"])
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        frame.iloc[i * 300 : (i + 1) * 300].to_parquet(folder / f"part-{i}.parquet")
    spark = p.predict(str(folder), tmp_path / "spark", engine="spark")
    duck = p.predict(str(folder), tmp_path / "duck", engine="duckdb")
    files = spark.run.details["files"]
    assert files >= 2 and spark.run.rows == spark.log_rows == 900
    assert sorted(f.name for f in spark.output.iterdir()) == [
        f"part-{i:05d}.parquet" for i in range(files)
    ]
    a, b = (pd.read_parquet(r.output).sort_values("row_id") for r in (duck, spark))
    pd.testing.assert_frame_equal(
        a.drop(columns="run_id").reset_index(drop=True),
        b.drop(columns="run_id").reset_index(drop=True),
    )
    logged = log_of(p, spark.run.run_id)
    assert len(logged) == 900 and set(logged["prediction_id"]) == set(frame["row_id"])


def test_the_contract_is_checked_before_spark_scores(project: Project, tmp_path: Path) -> None:
    bad = (
        tiny_frame(50, seed=3)
        .drop(columns=["label", "x2"])
        .assign(x1=lambda d: d["x1"].astype(str))
    )
    bad.to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(DataValidationError) as caught:
        project.predict(str(tmp_path / "bad.parquet"), tmp_path / "out", engine="spark")
    text = str(caught.value)
    assert "x1: expected a number" in text and "x2: expected a number" in text and "VARCHAR" in text
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    assert project.store.list_batch_runs("tiny")[0].status == "failed"


def test_a_dataframe_and_a_spark_sql_query_score_on_spark(project: Project, tmp_path: Path) -> None:
    frame = tiny_frame(80, seed=5, prefix="d", days=0.01).drop(columns=["label"])
    result = project.predict(frame, tmp_path / "out", engine="spark")
    got = pd.read_parquet(result.output).set_index("row_id").loc[frame["row_id"]]
    model = project.registry.load("tiny", result.run.version)
    pred, score = model.predict_frame(frame)
    assert got["prediction"].tolist() == list(pred)
    assert got["score"].to_numpy() == pytest.approx(score, rel=0, abs=0)
    frame.to_parquet(tmp_path / "in.parquet")
    query = f"sql:SELECT * FROM parquet.`{tmp_path / 'in.parquet'}` WHERE x1 > 0"
    on_query = project.predict(query, tmp_path / "out", engine="spark")
    assert on_query.run.rows == int((frame["x1"] > 0).sum()) and on_query.run.input == query


@pytest.mark.postgres
def test_spark_writes_the_postgres_table_as_duckdb_does(
    project: Project, tmp_path: Path, postgres_url: str
) -> None:
    """`--output-table` on Spark: the driver copies the run's files, the table's columns
    and types are DuckDB's, and the view shows the published run's rows."""
    from pg_output import execute, schema, target, view_runs

    frame = tiny_frame(90, seed=8, prefix="p", days=0.01).drop(columns=["label"])
    frame.to_parquet(tmp_path / "in.parquet")
    with schema(postgres_url) as name:
        table = target(postgres_url, name)
        runs = {
            engine: project.predict(
                str(tmp_path / "in.parquet"),
                tmp_path / engine,
                engine=engine,
                publish=True,
                output_table=table,
            ).run
            for engine in ("duckdb", "spark")
        }
        assert view_runs(postgres_url, name) == {runs["spark"].run_id: 90}
        types = {
            engine: execute(
                postgres_url,
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                (name, f"scores__run_{run.run_id.lower().replace('-', '_')}"),
            )
            for engine, run in runs.items()
        }
        assert types["spark"] == types["duckdb"] and len(types["spark"]) == 7
        rows = execute(postgres_url, f"SELECT row_id, prediction, score FROM {name}.scores")
        parquet = pd.read_parquet(runs["spark"].output)
        assert sorted(rows) == sorted(
            parquet[["row_id", "prediction", "score"]].itertuples(index=False, name=None)
        )
