"""The nightly top-k of the restaurants example for real: DuckDB reads the users table,
the recommender's lists are published, a second version's are published over them, and
`opsloop batch rollback` (the CLI, on the project's SQLite ops store) makes the first
version's lists current again — the Parquet output, `current.json` and, with an output
table, the PostgreSQL view, which only ever shows one run. Versions are registered through
the registry API (the ranking train stage is another branch's)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from opsloop.batch import read_current
from opsloop.ranking.models import PopularityRecommender
from pg_output import execute, schema, target, view_runs
from rankproject import (
    MODEL,
    USERS,
    copy_project,
    load_all,
    memory_ranking_project,
    ranking_template,
    register,
)
from tinyproject import run_cli as run

KEYS = ["user_id", "rank", "restaurant_id"]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ranking_template(tmp_path_factory.mktemp("rankint") / "template")


@pytest.fixture
def project(template: Path, tmp_path: Path):
    """The example on the project's own SQLite ops store (the CLI's) and two versions:
    global popularity (1) and popularity within the user's area (2), whose lists differ."""
    p = memory_ranking_project(copy_project(template, tmp_path / "p"), file_store=True)
    data = load_all(p)
    first = register(p, PopularityRecommender().fit(data))
    second = register(p, PopularityRecommender(segment_column="area").fit(data), champion=False)
    return p, first, second


def _lists(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[KEYS].sort_values(KEYS[:2], na_position="first", ignore_index=True)


def test_publish_a_second_version_and_roll_back_with_the_cli(project) -> None:
    p, first, second = project
    one = p.predict(publish=True, version=first)
    two = p.predict(publish=True, version=second)
    lists_one, lists_two = (_lists(pd.read_parquet(r.output)) for r in (one, two))
    assert not lists_one.equals(lists_two)  # the check below could tell them apart
    assert read_current(p).run.run_id == two.run.run_id

    code, text = run("batch", "history", MODEL, "-p", str(p.root))
    assert code == 0 and one.run.run_id in text and two.run.run_id in text
    code, text = run("batch", "rollback", MODEL, "-p", str(p.root))
    assert code == 0 and f"to {one.run.run_id}" in text, text
    current = read_current(p)
    assert (current.run.run_id, current.run.version) == (one.run.run_id, first)
    back = current.to_pandas()
    assert set(back["version"]) == {first}
    pd.testing.assert_frame_equal(_lists(back), lists_one)
    assert back["user_id"].nunique() == USERS  # and the null user: the fallback list
    assert back["user_id"].isna().sum() == 10
    manifest = json.loads((p.root / "recommendations" / "current.json").read_text())
    assert manifest["run_id"] == one.run.run_id


@pytest.fixture
def out(postgres_url: str) -> Iterator[tuple[str, str]]:
    with schema(postgres_url) as name:
        yield postgres_url, name


@pytest.mark.postgres
def test_the_view_shows_one_versions_lists_only(project, out) -> None:
    p, first, second = project
    url, name = out
    table = target(url, name, "recs")
    one = p.predict(publish=True, version=first, output_table=table)
    two = p.predict(publish=True, version=second, output_table=table)
    assert view_runs(url, name, "recs") == {two.run.run_id: two.run.rows}
    columns = execute(
        url,
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = 'recs' ORDER BY ordinal_position",
        (name,),
    )
    assert columns == [
        ("user_id", "text"), ("rank", "smallint"), ("restaurant_id", "text"),
        ("score", "double precision"), ("model", "text"), ("version", "text"),
        ("run_id", "text"),
    ]  # fmt: skip
    fallback = execute(url, f"SELECT count(*) FROM {name}.recs WHERE user_id IS NULL")
    assert fallback == [(10,)]

    p.rollback_batch(reason="test")
    assert view_runs(url, name, "recs") == {one.run.run_id: one.run.rows}
    versions = execute(url, f"SELECT DISTINCT version FROM {name}.recs")
    assert versions == [(first,)]
    rows = execute(url, f"SELECT user_id, rank, restaurant_id FROM {name}.recs")
    view = pd.DataFrame(rows, columns=KEYS)
    pd.testing.assert_frame_equal(
        _lists(view).astype({"rank": "int64"}),
        _lists(pd.read_parquet(one.output)).astype({"rank": "int64"}),
        check_dtype=False,
    )


def test_the_cli_trains_predicts_publishes_and_rolls_back(tmp_path: Path) -> None:
    """The whole path as a user meets it, with MLflow: `opsloop train` registers the
    recommender, `opsloop predict` loads it back (verified artifact, model cache) and
    publishes the lists, a second version's lists are published, `opsloop batch rollback`
    returns to the first."""
    root = tmp_path / "r"
    code, out = run("init", str(root), "--example", "restaurants", "--users", "1000",
                    "--restaurants", "120")  # fmt: skip
    assert code == 0, out
    model = root / "model.py"  # one OpenMP thread: this 2-core machine is shared
    model.write_text(
        model.read_text().replace(
            "TwoStageRecommender(\n", "TwoStageRecommender(\n        n_threads=1,\n"
        )
    )
    p = str(root)
    code, out = run("train", "-p", p, "--json")
    assert code == 0 and json.loads(out)["promoted"] is True, out
    code, out = run("predict", "-p", p, "--publish", "--json")
    assert code == 0, out
    first = json.loads(out)
    assert first["inference"] == "recommender" and first["run"]["version"] == "1"
    assert first["run"]["details"]["ranking"]["users"] == 1000
    assert first["run"]["rows"] == first["log_rows"] + 10  # and the fallback list
    code, out = run("train", "-p", p, "--force", "--json")
    assert code == 0, out
    code, out = run("predict", "-p", p, "--version", "2", "--publish", "--json")
    assert code == 0 and json.loads(out)["run"]["version"] == "2", out
    code, out = run("batch", "rollback", MODEL, "-p", p)
    assert code == 0, out
    code, out = run("batch", "current", MODEL, "-p", p, "--json")
    assert code == 0 and json.loads(out)["run_id"] == first["run"]["run_id"], out
    lists = pd.read_parquet(first["run"]["output"])
    assert list(lists.columns) == [*KEYS, "score", "model", "version", "run_id"]
