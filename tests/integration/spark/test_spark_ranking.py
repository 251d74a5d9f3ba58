"""A ranking run on Spark (local[2], `mapInArrow`) against DuckDB on the same users and
version: the same lists, fallback list, log rows and recorded counts; bad user ids refused
the same way, nothing written."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from opsloop.batch.rankprep import unknown_user
from opsloop.errors import DataValidationError
from opsloop.project import Project
from opsloop.ranking.models import TwoStageRecommender
from rankproject import USERS, copy_project, load_all, ranking_template, register
from spark_fixtures import SPARK_CONF, SPARK_MASTER

STACK = f"""
stacks:
  sparky:
    engine: spark
    spark:
      master: "{SPARK_MASTER}"
      conf: {SPARK_CONF!r}
"""
KEYS = ["user_id", "rank", "restaurant_id", "score"]


@pytest.fixture(scope="module")
def project(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Project:
    from opsloop.engines.memory import MemoryEngine
    from opsloop.registry.memory import MemoryRegistry
    from opsloop.store import OpsStore

    base = tmp_path_factory.mktemp("sparkrank")
    root = copy_project(ranking_template(base / "template"), base / "p")
    config = root / "opsloop.yaml"
    config.write_text(config.read_text().replace("stack: local", "stack: sparky") + STACK)
    p = Project(root, registry=MemoryRegistry(), store=OpsStore("sqlite://"), engine=MemoryEngine())
    model = TwoStageRecommender(area_column="area", category_column="cuisine", max_iter=10)
    register(p, model.fit(load_all(p)))
    return p


def _log(p: Project, run_id: str) -> pd.DataFrame:
    files = (p.root / ".opsloop" / "predictions" / "model=restaurants").glob("*/*/*.parquet")
    log = pd.concat([pd.read_parquet(f) for f in files])
    log = log[log["request_id"] == f"batch-{run_id}"].drop(columns=["request_id", "run_id"])
    return log.drop(columns=["ts", "event_ts"]).sort_values(["user_id", "rank"], ignore_index=True)


def test_spark_makes_the_lists_duckdb_makes(project: Project, tmp_path: Path) -> None:
    p = project
    duck = p.predict(output=tmp_path / "duck", engine="duckdb")
    spark = p.predict(output=tmp_path / "spark", batch_rows=1000)  # the stack's engine
    assert (spark.run.details["engine"], duck.run.details["engine"]) == ("spark", "duckdb")
    assert spark.run.rows == duck.run.rows and spark.log_rows == duck.log_rows
    assert spark.inference == duck.inference == "recommender"
    a, b = (r.run.details["ranking"] for r in (duck, spark))
    assert a.pop("context") == b.pop("context") and a == b and b["users"] == USERS
    names = sorted(f.name for f in spark.output.iterdir())
    assert names == [f"part-{i:05d}.parquet" for i in range(spark.run.details["files"])]

    x, y = (pd.read_parquet(r.output) for r in (duck, spark))
    assert list(x.columns) == list(y.columns) and x.dtypes.to_dict() == y.dtypes.to_dict()
    order = {"by": ["user_id", "rank"], "na_position": "first", "ignore_index": True}
    x, y = (f.sort_values(**order) for f in (x, y))
    pd.testing.assert_frame_equal(x[KEYS], y[KEYS])
    assert y["user_id"].isna().sum() == 10
    pd.testing.assert_frame_equal(_log(p, duck.run.run_id), _log(p, spark.run.run_id))
    assert not list((p.root / ".opsloop" / "predictions").glob("**/.spark-*"))


def test_bad_user_ids_are_refused_on_spark_too(project: Project, tmp_path: Path) -> None:
    p = project
    users = pd.read_parquet(p.root / "data" / "users.parquet")
    users.assign(user_id=users["user_id"].where(users.index > 0)).to_parquet(tmp_path / "n.parquet")
    with pytest.raises(DataValidationError, match="1 row\\(s\\) without a user id"):
        p.predict(str(tmp_path / "n.parquet"), tmp_path / "out")
    users.rename(columns={"user_id": "id"}).to_parquet(tmp_path / "c.parquet")
    with pytest.raises(DataValidationError, match="has no user column 'user_id'"):
        p.predict(str(tmp_path / "c.parquet"), tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_each_task_scores_on_one_thread_and_makes_the_fallback_list(
    project: Project, tmp_path: Path
) -> None:
    """Spark runs a task per core: the recommender scores on the task's one core (not one
    thread per core of the machine in each task), and the fallback list comes from a
    task's first call with its users — the driver does not ask for it again."""
    import cloudpickle

    import rankproject

    p = project
    model = TwoStageRecommender(area_column="area", category_column="cuisine", max_iter=10)
    calls = tmp_path / "calls.jsonl"
    recording = rankproject.RecordingRecommender(model.fit(load_all(p)), calls)
    cloudpickle.register_pickle_by_value(rankproject)  # the workers cannot import tests/
    try:
        version = register(p, recording, champion=False)
        spark = p.predict(output=tmp_path / "spark", version=version, batch_rows=1000)
    finally:
        cloudpickle.unregister_pickle_by_value(rankproject)
    made = rankproject.recorded_calls(calls)
    assert model.n_threads is None  # the driver's copy is untouched
    assert made and all(c["threads"] == 1 for c in made)
    assert {c["pid"] for c in made}.isdisjoint({os.getpid()})  # none on the driver
    nobody = str(unknown_user(load_all(p))[0])
    firsts = [c for c in made if c["last"] == nobody]
    assert 1 <= len(firsts) <= 2 and all(c["users"] > 1 for c in firsts)  # one per task
    assert sum(c["users"] for c in made) == USERS + len(firsts)
    duck = p.predict(output=tmp_path / "duck", version=version, engine="duckdb")
    x, y = (pd.read_parquet(r.output) for r in (duck, spark))
    order = {"by": ["user_id", "rank"], "na_position": "first", "ignore_index": True}
    pd.testing.assert_frame_equal(x.sort_values(**order)[KEYS], y.sort_values(**order)[KEYS])
