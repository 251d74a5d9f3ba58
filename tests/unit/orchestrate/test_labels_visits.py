"""A recommender's labels are visits (`Project.add_labels`, `opsloop labels add`): stored as
prediction_id (the user), label (the item), label_ts (the visit's time) and rating, with the
answer counting the visits whose user has a published list of their own."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from opsloop.cli import app
from opsloop.data.visits import VisitValidationError
from opsloop.project import Project
from opsloop.registry.memory import MemoryRegistry
from opsloop.store import OpsStore
from ranking_output import output_table, publish, record_run, write_ranking_project

VISITS = pd.DataFrame(
    {
        "user_id": ["u1", "u1", "u3"],
        "restaurant_id": ["r7", "r8", "r7"],
        "visited_at": ["2026-12-07T12:30:00Z", "2026-12-07T19:45:00Z", "2026-12-07T20:00:00Z"],
        "rating": [4, None, 5],
    }
)


def project(tmp_path: Path) -> Project:
    root = write_ranking_project(tmp_path / "p")
    return Project(root, registry=MemoryRegistry(), store=OpsStore("sqlite://"), actor="tester")


def published(p: Project, users: dict[str, list[str]]) -> None:
    table = output_table("run-a", "1", users, ["r1"])
    record_run(p.store, p.root, "run-a", "1", table)
    publish(p.store, "run-a")


def parts(p: Project) -> list[Path]:
    return sorted(p.paths.labels.glob("*.parquet")) if p.paths.labels.exists() else []


def test_visits_are_stored_in_the_labels_store_columns(tmp_path: Path) -> None:
    p = project(tmp_path)
    added = p.add_labels(VISITS)
    assert (added.rows, added.matched, added.waiting) == (3, 0, 3)  # nothing published yet
    assert "'visited_at' (the visit's date-time)" in added.checked_against
    [part] = parts(p)
    stored = pq.read_table(part)
    assert stored.schema.names == ["prediction_id", "label", "label_ts", "rating"]
    assert [str(t) for t in stored.schema.types] == [
        "string",
        "string",
        "timestamp[us, tz=UTC]",
        "double",
    ]
    rows = stored.to_pylist()
    assert [(r["prediction_id"], r["label"], r["rating"]) for r in rows] == [
        ("u1", "r7", 4.0),
        ("u1", "r8", None),
        ("u3", "r7", 5.0),
    ]
    assert rows[1]["label_ts"] == pd.Timestamp("2026-12-07T19:45:00Z")
    [event] = p.events(kinds=["labels_added"])
    assert (
        event.summary == "3 visits added as labels (0 by a user with a published list, 3 waiting)"
    )
    [arrival] = p.store.list_arrivals(p.name, source="labels")
    assert arrival.rows == 3


def test_matched_counts_the_visits_of_users_with_a_published_list(tmp_path: Path) -> None:
    p = project(tmp_path)
    published(p, {"u1": ["r1", "r2"], "u2": ["r2", "r1"]})
    added = p.add_labels(VISITS)
    assert (added.matched, added.waiting) == (2, 1)  # u1 twice; u3 had the fallback list


def test_invalid_visits_store_nothing_and_say_why(tmp_path: Path) -> None:
    p = project(tmp_path)
    bad = VISITS.assign(rating=[4, 6, 5], user_id=["u1", "u1", None])
    with pytest.raises(VisitValidationError) as info:
        p.add_labels(bad)
    assert "2 of 3 visit rows are invalid" in str(info.value)
    assert "1 × rating outside [1, 5]" in str(info.value) and "1 × missing user" in str(info.value)
    assert parts(p) == [] and p.events(kinds=["labels_added"]) == []
    kept = p.add_labels(bad, skip_invalid=True)
    assert (kept.rows, kept.rejected) == (1, 2)


def test_the_cli_adds_a_visits_file(tmp_path: Path) -> None:
    root = write_ranking_project(tmp_path / "p")
    store = OpsStore(f"sqlite:///{root / '.opsloop' / 'ops.db'}")  # the project's own store
    table = output_table("run-a", "1", {"u3": ["r1"]}, ["r1"])
    record_run(store, root, "run-a", "1", table)
    publish(store, "run-a")
    store.close()
    visits = tmp_path / "visits.csv"
    VISITS.to_csv(visits, index=False)
    runner = CliRunner()
    result = runner.invoke(app, ["labels", "add", str(visits), "-p", str(root)])
    assert result.exit_code == 0, result.output
    assert "Added 3 visits from" in result.output
    assert "1 by a user with a published list, 2 waiting" in result.output
    again = runner.invoke(app, ["labels", "add", str(visits), "-p", str(root), "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["matched"] == 1
    bad = tmp_path / "bad.csv"
    VISITS.assign(visited_at=["soon", "2026-12-07", "2026-12-07"]).to_csv(bad, index=False)
    refused = runner.invoke(app, ["labels", "add", str(bad), "-p", str(root)])
    assert refused.exit_code == 1
    assert "1 × time not a date-time" in refused.output and "visited_at='soon'" in refused.output


def test_the_inbox_path_hands_a_recommenders_file_to_the_visits(tmp_path: Path) -> None:
    from opsloop.engines.labels import read_label_file
    from opsloop.engines.memory import MemoryEngine
    from opsloop.orchestrate.labels import store_labels

    p = project(tmp_path)
    visits = tmp_path / "visits.parquet"
    VISITS.to_parquet(visits)
    added = store_labels(  # what `orchestrate/inbox.py` calls for each file
        read_label_file(visits),
        config=p.config,
        store=p.store,
        engine=MemoryEngine(),
        labels_root=p.paths.labels,
        part_name="part-inbox-x.parquet",
    )
    assert (added.rows, added.waiting) == (3, 3)
    stored = pq.read_table(p.paths.labels / "part-inbox-x.parquet")
    assert stored.column("label").to_pylist() == ["r7", "r8", "r7"]
