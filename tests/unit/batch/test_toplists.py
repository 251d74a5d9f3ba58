"""A published ranking output as an index: each user's list in rank order, the fallback
list for users without one, and a run whose rows are not all its own refused."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest

from opsloop.batch.publish import read_current
from opsloop.batch.toplists import Ranked, TopLists, count_listed
from opsloop.config import ProjectConfig, load_config
from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.store import OpsStore
from ranking_output import output_table, publish, record_run, write_ranking_project


def index(table: pa.Table, run_id: str = "run-a") -> TopLists:
    return TopLists.from_table(
        table, user_column="user_id", item_column="restaurant_id", run_id=run_id
    )


def test_each_user_gets_their_list_in_rank_order_and_unknown_users_the_fallback() -> None:
    table = output_table("run-a", "3", {"u2": ["r5", "r1"], "u1": ["r1", "r2", "r3"]}, ["r9", "r8"])
    shuffled = table.take([4, 0, 6, 2, 1, 5, 3])  # the files' order is not the rank order
    lists = index(shuffled)
    assert (lists.users, lists.rows, lists.has_fallback) == (2, 7, True)
    mine = lists.get("u1")
    assert not mine.fallback
    assert [r.item for r in mine.items] == ["r1", "r2", "r3"]
    assert mine.items[0] == Ranked(1, "r1", 1.0)
    assert (mine.model, mine.version, mine.run_id) == ("restaurants", "3", "run-a")
    assert [r.item for r in lists.get("u2").items] == ["r5", "r1"]
    other = lists.get("u404")
    assert other.fallback and other.user == "u404"
    assert [r.item for r in other.items] == ["r9", "r8"]
    assert lists.find("u404") is None and "u1" in lists and "u404" not in lists


def test_integer_users_are_keyed_by_their_digits() -> None:
    table = output_table("run-a", "1", {"7": ["r1"]}, ["r2"])
    table = table.set_column(0, "user_id", pa.array([7, None], pa.int64()))
    assert [r.item for r in index(table).get("7").items] == ["r1"]


def test_without_a_fallback_list_an_unknown_user_is_not_found() -> None:
    lists = index(output_table("run-a", "1", {"u1": ["r1"]}, []))
    assert not lists.has_fallback
    with pytest.raises(NotFoundError, match="no fallback list"):
        lists.get("u2")


def test_rows_of_another_run_or_version_are_refused() -> None:
    a = output_table("run-a", "1", {"u1": ["r1"]}, ["r2"])
    b = output_table("run-b", "2", {"u2": ["r3"]}, ["r4"])
    with pytest.raises(InvalidInputError, match="rows of other runs, versions or models"):
        index(pa.concat_tables([a, b]))
    with pytest.raises(InvalidInputError, match="rows of other runs"):
        index(a, run_id="run-b")  # the published run is b, the files hold a


def test_a_rank_given_twice_or_missing_columns_are_refused() -> None:
    twice = output_table("run-a", "1", {"u1": ["r1", "r2"]}, ["r2"])
    twice = twice.set_column(1, "rank", pa.array([1, 1, 1], pa.int16()))
    with pytest.raises(InvalidInputError, match="same rank twice"):
        index(twice)
    with pytest.raises(InvalidInputError, match=r"lacks the column\(s\) \['score'\]"):
        index(output_table("run-a", "1", {"u1": ["r1"]}, []).drop_columns(["score"]))


@dataclass(frozen=True)
class Reads:
    """What `read_current` needs."""

    config: ProjectConfig
    store: OpsStore


def test_count_listed_counts_visits_of_listed_users_reading_a_run_once(tmp_path: Path) -> None:
    root = write_ranking_project(tmp_path / "p")
    store = OpsStore("sqlite://")
    table = output_table("run-c", "1", {"u1": ["r1"], "u2": ["r2"]}, ["r3"])
    record_run(store, root, "run-c", "1", table)
    publish(store, "run-c")
    current = read_current(Reads(load_config(root / "opsloop.yaml"), store))
    assert count_listed(current, "user_id", ["u1", "u1", "u3", "u2"]) == 3
    assert count_listed(current, "user_id", []) == 0
    shutil.rmtree(root / "recommendations" / "run-c")  # a recorded run never changes:
    assert count_listed(current, "user_id", ["u2"]) == 1  # its users were read once
