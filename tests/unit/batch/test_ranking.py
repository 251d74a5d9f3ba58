"""The nightly top-k of a ranking project (`opsloop.batch.ranking` through
`Project.predict`): every user's list equals the recommender's own, in contract 3's
columns and types, with the fallback list; chunks give the lists of one call; the log
gets one row per (user, rank); bad input is refused with nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from opsloop.batch.rankprep import unknown_user
from opsloop.errors import DataValidationError, StateError
from opsloop.ranking.models import PopularityRecommender, TwoStageRecommender
from rankproject import (
    MODEL,
    USERS,
    RecordingRecommender,
    context_of,
    copy_project,
    load_all,
    memory_ranking_project,
    ranking_template,
    recorded_calls,
    register,
)

COLUMNS = ["user_id", "rank", "restaurant_id", "score", "model", "version", "run_id"]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ranking_template(tmp_path_factory.mktemp("rank") / "template")


@pytest.fixture
def project(template: Path, tmp_path: Path):
    return memory_ranking_project(copy_project(template, tmp_path / "p"))


def _visible(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")]


def _expected(model, data, users, k: int = 10) -> pd.DataFrame:
    """The recommender's own lists for `users`, as rows (user, rank, item, score)."""
    top = model.recommend(data, np.asarray(users, dtype=object), k)
    items = top.item_ids()
    rows = [
        (user, rank + 1, items[i, rank], top.scores[i, rank])
        for i, user in enumerate(top.users)
        for rank in range(k)
        if items[i, rank] is not None
    ]
    return pd.DataFrame(rows, columns=["user_id", "rank", "restaurant_id", "score"])


def test_every_users_list_is_the_recommenders_with_the_fallback(project) -> None:
    p = project
    data = load_all(p)
    model = PopularityRecommender(segment_column="area").fit(data)
    version = register(p, model)
    result = p.predict(publish=True)  # predict.input (the users table) and predict.output
    run = result.run

    table = pq.read_table(result.output)
    assert table.column_names == COLUMNS
    types = dict(zip(table.column_names, table.schema.types, strict=True))
    users_type = pq.read_schema(p.root / "data" / "users.parquet").field("user_id").type
    assert pa.types.is_large_string(users_type)  # pandas' text, read by DuckDB as VARCHAR
    assert types["user_id"] == pa.string() and types["restaurant_id"] == pa.string()
    assert types["rank"] == pa.int16()
    assert types["score"] == pa.float64() and types["version"] == pa.string()
    out = table.to_pandas()
    assert set(out["version"]) == {version} and set(out["run_id"]) == {run.run_id}
    assert set(out["model"]) == {MODEL}

    lists = out[out["user_id"].notna()].sort_values(["user_id", "rank"], ignore_index=True)
    users = sorted(pd.read_parquet(p.root / "data" / "users.parquet")["user_id"])
    assert lists["user_id"].nunique() == len(users) == USERS
    context = context_of(data, pd.Timedelta(p.config.retrain.training_window))
    want = _expected(model, context, users)
    for column in ("user_id", "rank", "restaurant_id"):
        assert lists[column].tolist() == want[column].tolist(), column
    np.testing.assert_allclose(lists["score"], want["score"], rtol=0, atol=0)
    assert (lists.groupby("user_id")["rank"].max() <= 10).all()

    fallback = out[out["user_id"].isna()].sort_values("rank", ignore_index=True)
    assert fallback["rank"].tolist() == list(range(1, 11))
    nobody = _expected(model, context, ["someone-new"])
    assert fallback["restaurant_id"].tolist() == nobody["restaurant_id"].tolist()
    np.testing.assert_allclose(fallback["score"], nobody["score"])

    assert run.rows == len(out) == len(lists) + 10
    ranking = run.details["ranking"]
    assert (ranking["users"], ranking["k"], ranking["fallback_rows"]) == (USERS, 10, 10)
    assert ranking["list_rows"] == len(lists) and ranking["unknown_users"] == 0
    assert ranking["context"]["anchor"] == "data"
    assert result.inference == "recommender"
    (event,) = p.events(kinds=["batch_predicted"])
    assert event.summary.startswith(f"top-10 lists for {USERS} users ({len(out)} rows)")
    assert (event.evidence["users"], event.evidence["k"]) == (USERS, 10)

    # the log: one row per (user, rank), the user id as prediction_id, the fallback left out
    assert result.log_rows == len(lists)
    log = pd.concat(pd.read_parquet(f) for f in _visible(p.paths.predictions))
    assert len(log) == len(lists)
    assert list(log.columns) == [
        "prediction_id", "request_id", "ts", "event_ts", "model_version", "route",
        "user_id", "rank", "restaurant_id", "prediction", "score", "model", "version", "run_id",
    ]  # fmt: skip
    assert (log["prediction_id"] == log["user_id"].astype(str)).all()
    assert (log["prediction"] == log["restaurant_id"]).all()
    assert set(log["route"]) == {"batch"} and set(log["model_version"]) == {version}

    current = p.batch_current()
    assert current.run.run_id == run.run_id and current.read().num_rows == len(out)


@pytest.mark.parametrize("build", [PopularityRecommender, TwoStageRecommender])
def test_chunks_of_users_give_the_lists_of_one_call(project, tmp_path: Path, build) -> None:
    p = project
    kwargs = {"area_column": "area", "category_column": "cuisine", "max_iter": 10}
    model = build(**kwargs) if build is TwoStageRecommender else build()
    register(p, model.fit(load_all(p)))
    whole = p.predict(output=tmp_path / "whole", input=str(p.root / "data" / "users.parquet"))
    chunked = p.predict(
        output=tmp_path / "chunked", input=str(p.root / "data" / "users.parquet"), batch_rows=7
    )
    assert chunked.run.details["ranking"]["users"] == USERS
    keys = ["user_id", "rank", "restaurant_id", "score"]

    def rows(result) -> pd.DataFrame:
        out = pd.read_parquet(result.output)[keys]
        return out.sort_values(["user_id", "rank"], na_position="first", ignore_index=True)

    pd.testing.assert_frame_equal(rows(whole), rows(chunked))
    assert pq.ParquetFile(next(iter(chunked.output.glob("*.parquet")))).metadata.num_row_groups > 1


def test_a_users_query_and_unknown_users(project) -> None:
    p = project
    register(p, PopularityRecommender().fit(load_all(p)))
    users = p.root / "data" / "users.parquet"
    query = (
        f"sql:SELECT user_id FROM '{users}' WHERE user_id < 'u000010' "
        "UNION ALL SELECT 'u999999' UNION ALL SELECT 'u000001'"  # new, and a repeated one
    )
    result = p.predict(query, p.root / "out")
    out = pd.read_parquet(result.output)
    listed = out[out["user_id"].notna()]
    assert listed["user_id"].nunique() == 11 and result.run.details["ranking"]["users"] == 11
    assert result.run.details["ranking"]["unknown_users"] == 1
    fallback = out[out["user_id"].isna()].sort_values("rank")["restaurant_id"].tolist()
    new = listed[listed["user_id"] == "u999999"].sort_values("rank")["restaurant_id"].tolist()
    assert new == fallback  # a user the recommender does not know gets the fallback list


def test_bad_input_is_refused_before_anything_is_written(project, tmp_path: Path) -> None:
    p = project
    register(p, PopularityRecommender().fit(load_all(p)))
    users = pd.read_parquet(p.root / "data" / "users.parquet")
    cases = {
        "no_column": (users.rename(columns={"user_id": "id"}), "has no user column 'user_id'"),
        "nulls": (
            users.assign(user_id=users["user_id"].where(users.index > 2)),
            r"3 row\(s\) without",
        ),
        "numbers": (users.assign(user_id=np.arange(len(users))), "holds user ids as number"),
    }
    for name, (frame, message) in cases.items():
        path = tmp_path / f"{name}.parquet"
        frame.to_parquet(path)
        with pytest.raises(DataValidationError, match=message) as caught:
            p.predict(str(path), tmp_path / "out")
        assert caught.value.fix, name
    assert not (tmp_path / "out").exists() or not _visible(tmp_path / "out")
    assert not p.paths.predictions.exists() or not _visible(p.paths.predictions)
    runs = p.store.list_batch_runs(MODEL)
    assert len(runs) == 3 and {r.status for r in runs} == {"failed"}
    assert "has no user column" in runs[-1].error


def test_a_version_that_is_not_a_recommender_is_refused(project) -> None:
    p = project
    version = register(p, {"not": "a recommender"})
    with pytest.raises(StateError, match=f"version {version} of 'restaurants' is not a recom"):
        p.predict()
    assert not p.paths.predictions.exists() or not _visible(p.paths.predictions)


def test_unknown_user_is_in_neither_table_and_of_the_ids_kind() -> None:
    from opsloop.ranking.data import RankingData

    inter = pd.DataFrame({"u": [3, 9], "i": [1, 1], "t": pd.to_datetime(["2026-01-01"] * 2)})
    data = RankingData(inter, pd.DataFrame({"u": [1, 2]}), pd.DataFrame({"i": [1]}), "u", "i", "t")
    (value,) = unknown_user(data)
    assert value == 10 and isinstance(value, np.integer)
    text = RankingData(
        inter.assign(u=["__opsloop_fallback__", "b"]),
        pd.DataFrame({"u": ["a"]}),
        pd.DataFrame({"i": [1]}),
        "u",
        "i",
        "t",
    )
    assert unknown_user(text).tolist() == ["__opsloop_fallback___"]


def test_the_scheduled_job_runs_the_ranking_run(project) -> None:
    from datetime import UTC, datetime

    from opsloop.orchestrate.batchjob import predict_if_due

    p = project
    register(p, PopularityRecommender().fit(load_all(p)))
    notes: list[str] = []
    done = predict_if_due(p.runtime, datetime.now(UTC), notes)
    assert done is not None and done.publication is not None  # predict.publish: true
    run = done.run
    assert notes == [f"batch prediction {run.run_id}: {run.rows} rows by version 1 (published)"]
    assert p.batch_current().run.details["ranking"]["users"] == USERS


INT_IDS = """
from ranking_fixtures import synthetic_world


def load(window):
    return synthetic_world(n_users=150, n_items=25, days=60, seed=1)


def build():
    return None
"""


def test_whole_number_ids_keep_their_type_with_a_dataframe_input(tmp_path: Path) -> None:
    from opsloop.engines.memory import MemoryEngine
    from opsloop.project import Project
    from opsloop.registry.memory import MemoryRegistry
    from opsloop.store import OpsStore

    (tmp_path / "model.py").write_text(INT_IDS)
    (tmp_path / "opsloop.yaml").write_text(
        "model: ints\ntask: ranking\nid_column: user_id\ntarget: item_id\n"
        "time_column: visited_at\nranking: {user_column: user_id, item_column: item_id, k: 5}\n"
        "gate: {metrics: [{metric: ndcg_at_k}]}\nmonitor: {performance: {metric: ndcg_at_k}}\n"
        "retrain: {training_window: 30d, anchor: data}\n"
    )
    p = Project(
        tmp_path, registry=MemoryRegistry(), store=OpsStore("sqlite://"), engine=MemoryEngine()
    )
    register(p, PopularityRecommender().fit(load_all(p)))
    users = pd.DataFrame({"user_id": np.arange(160, dtype=np.int64)})  # 150..159: new
    result = p.predict(users, tmp_path / "out")
    table = pq.read_table(result.output)
    assert table.schema.field("user_id").type == pa.int64()
    assert table.schema.field("item_id").type == pa.int64()
    out = table.to_pandas()
    assert out["user_id"].isna().sum() == 5 and out["user_id"].nunique() == 160
    ranking = result.run.details["ranking"]
    assert (ranking["users"], ranking["unknown_users"], ranking["k"]) == (160, 10, 5)
    assert result.run.input == "DataFrame (160 rows)"


def test_the_fallback_list_comes_from_the_first_chunks_call(project, tmp_path: Path) -> None:
    """No call of its own (a second build of the recommender's statistics): the unknown
    user rides with the first chunk's users, and its list is the one a call of its own
    gives."""
    p = project
    data = load_all(p)
    model = TwoStageRecommender(area_column="area", category_column="cuisine", max_iter=10)
    model.fit(data)
    calls = tmp_path / "calls.jsonl"
    register(p, RecordingRecommender(model, calls))
    result = p.predict(output=tmp_path / "out", batch_rows=128)  # 300 users: 3 chunks
    context = context_of(data, pd.Timedelta(p.config.retrain.training_window))
    nobody = unknown_user(context)
    made = recorded_calls(calls)
    assert [c["users"] for c in made] == [129, 128, 44]
    assert made[0]["last"] == str(nobody[0]) and made[1]["last"] != str(nobody[0])
    out = pd.read_parquet(result.output)
    fallback = out[out["user_id"].isna()].sort_values("rank", ignore_index=True)
    alone = _expected(model, context, nobody)
    assert fallback["restaurant_id"].tolist() == alone["restaurant_id"].tolist()
    np.testing.assert_array_equal(fallback["score"], alone["score"])
    assert result.run.details["ranking"]["users"] == USERS
    assert result.run.details["ranking"]["unknown_users"] == 0
    assert out["user_id"].notna().sum() == result.run.details["ranking"]["list_rows"]
