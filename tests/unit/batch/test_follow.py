"""Following the published ranking output: each newly published run loaded once and
swapped in, a rollback back to the run served before without reading it again, and a run
that cannot be read leaving the served one in place."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from opsloop.batch.follow import PublishedLists
from opsloop.config import load_config
from opsloop.errors import NotFoundError
from opsloop.store import OpsStore
from ranking_output import output_table, publish, record_run, rollback, write_ranking_project

World = tuple[Path, OpsStore, PublishedLists]


@pytest.fixture
def world(tmp_path: Path) -> World:
    root = write_ranking_project(tmp_path / "p")
    store = OpsStore("sqlite://")
    follower = PublishedLists(load_config(root / "opsloop.yaml"), store, interval=0.05)
    return root, store, follower


def run(store: OpsStore, root: Path, run_id: str, version: str, first: str) -> None:
    table = output_table(run_id, version, {"u1": [first, "r2"], "u2": ["r3", first]}, ["r9"])
    record_run(store, root, run_id, version, table)


def test_nothing_published_serves_nothing_and_says_why(world: World) -> None:
    _, _, follower = world
    state = follower.refresh()
    assert state.lists is None and "has no published batch output" in (state.error or "")


def test_publish_and_rollback_swap_whole_runs(world: World) -> None:
    root, store, follower = world
    run(store, root, "run-a", "1", "ra")
    run(store, root, "run-b", "2", "rb")
    publish(store, "run-a")
    a = follower.refresh().lists
    assert a is not None and a.run_id == "run-a" and a.get("u1").items[0].item == "ra"
    assert follower.refresh().lists is a  # the same run: not read again
    publish(store, "run-b")
    state = follower.refresh()
    assert state.lists is not None and state.lists.get("u1").items[0].item == "rb"
    assert state.publication is not None and state.publication.revision == 2
    assert (state.error, state.stale) == (None, False)
    rollback(store)
    back = follower.refresh()
    assert back.lists is a  # kept loaded: the rollback swaps without reading the files
    assert back.publication is not None and back.publication.kind == "rolled_back"


def test_a_run_that_cannot_be_read_leaves_the_served_run_in_place(world: World) -> None:
    root, store, follower = world
    run(store, root, "run-a", "1", "ra")
    run(store, root, "run-b", "2", "rb")
    publish(store, "run-a")
    assert follower.refresh().lists is not None
    shutil.rmtree(root / "recommendations" / "run-b")  # e.g. cleaned up by hand
    publish(store, "run-b")
    state = follower.refresh()
    assert state.lists is not None and state.lists.run_id == "run-a"
    assert state.stale and state.seen is not None and state.seen.run_id == "run-b"
    assert "run-b" in (state.error or "")
    run(store, root, "run-c", "3", "rc")
    (root / "recommendations" / "run-c" / "part-0.parquet").write_bytes(b"not parquet")
    publish(store, "run-c")
    corrupt = follower.refresh()
    assert corrupt.lists is not None and corrupt.lists.run_id == "run-a"
    assert "run-c" in (corrupt.error or "") and corrupt.seen is not None


def test_the_background_thread_follows_and_stops(world: World) -> None:
    import time

    root, store, follower = world
    run(store, root, "run-a", "1", "ra")
    publish(store, "run-a")
    follower.start()
    try:
        assert follower.state.lists is not None  # start() loads before it returns
        run(store, root, "run-b", "2", "rb")
        publish(store, "run-b")
        for _ in range(400):  # until the thread has seen it (no timing asserted)
            lists = follower.state.lists
            if lists is not None and lists.run_id == "run-b":
                break
            time.sleep(0.05)
        assert follower.state.lists is not None and follower.state.lists.run_id == "run-b"
    finally:
        follower.stop()


def test_only_a_recommender_can_be_followed(tmp_path: Path) -> None:
    from tinyproject import write_tiny_project

    config = load_config(write_tiny_project(tmp_path / "t") / "opsloop.yaml")
    with pytest.raises(NotFoundError, match="not a recommender"):
        PublishedLists(config, OpsStore("sqlite://"))


@pytest.mark.postgres
def test_a_run_folder_not_on_this_machine_is_read_from_the_runs_own_table(
    tmp_path: Path, postgres_url: str
) -> None:
    from datetime import UTC, datetime

    from opsloop.batch.pgtable import write_run_table
    from opsloop.batch.pgview import RunTable
    from opsloop.config.batch import parse_output_table
    from pg_output import schema, target

    with schema(postgres_url) as name:
        text = target(postgres_url, name, "recs")
        root = write_ranking_project(tmp_path / "p", output_table=text)
        out = parse_output_table(text)
        table = output_table("run-a", "1", {"u1": ["ra", "r2"], "u2": ["r3"]}, ["r9"])
        folder = root / "recommendations" / "run-a"
        store = OpsStore("sqlite://")
        details = {"table": RunTable.written(out, "run-a", table.num_rows).to_dict()}
        record_run(store, root, "run-a", "1", table, details=details)
        files = sorted(folder.glob("*.parquet"))
        write_run_table(
            out,
            "restaurants",
            "run-a",
            files,
            batch_rows=100,
            empty=table.schema,
            written=datetime.now(UTC),
        )
        publish(store, "run-a")
        shutil.rmtree(folder)  # the web app runs on another machine than the nightly job
        follower = PublishedLists(load_config(root / "opsloop.yaml"), store)
        lists = follower.refresh().lists
        assert lists is not None and lists.run_id == "run-a"
        assert [r.item for r in lists.get("u1").items] == ["ra", "r2"]
        assert lists.get("nobody").fallback and lists.get("nobody").items[0].item == "r9"
