"""The labels inbox: each file ingested once (by content), bad files moved aside with an
event and never a crash, and the `labels` trigger on the labelled rows since the last
training."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from opsloop.engines.labels import ingest_labels
from opsloop.project import Project
from tinyproject import write_tiny_project

RETRAIN = "retrain: {on: [drift, performance], training_window: 30d, cooldown: 1h}"
LABELS = (
    "retrain: {on: [labels], labels: {min_rows: 300}, training_window: 30d, "
    "cooldown: 0s}\ndata: {inbox: {path: 'inbox/*'}}\n"
)


def project(tmp_path: Path, retrain: str = LABELS) -> Project:
    from opsloop.engines.memory import MemoryEngine
    from opsloop.registry.memory import MemoryRegistry
    from opsloop.store import OpsStore

    root = write_tiny_project(tmp_path / "p")
    text = (root / "opsloop.yaml").read_text().replace(RETRAIN, retrain)
    (root / "opsloop.yaml").write_text(text)
    (root / "inbox").mkdir()
    return Project(
        root,
        registry=MemoryRegistry(),
        store=OpsStore("sqlite://"),
        engine=MemoryEngine(),
        actor="tester",
    )


def labels(n: int, prefix: str = "a") -> pd.DataFrame:
    return pd.DataFrame(
        {"row_id": [f"{prefix}-{i}" for i in range(n)], "label": [i % 2 for i in range(n)]}
    )


def stored(p: Project) -> pd.DataFrame:
    files = sorted(p.paths.labels.glob("*.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files]) if files else pd.DataFrame()


def test_a_file_is_ingested_once_and_moved_away(tmp_path: Path) -> None:
    p = project(tmp_path)
    labels(120).to_csv(p.root / "inbox" / "day1.csv", index=False)
    (p.root / "inbox" / ".day2.csv").write_text("half-written")  # skipped: hidden
    (p.root / "inbox" / "day2.csv.tmp").write_text("half-written")  # skipped: .tmp
    result = p.tick()
    assert [(x["status"], x["rows"]) for x in result.labels] == [("ingested", 120)]
    assert not (p.root / "inbox" / "day1.csv").exists()
    assert (p.root / ".opsloop" / "inbox" / "processed" / "day1.csv").is_file()
    assert len(stored(p)) == 120
    event = p.events(kinds=["labels_added"])[-1]
    assert event.evidence["via"] == "inbox" and event.evidence["rows"] == 120
    assert p.tick().labels == []


def test_a_crash_anywhere_in_an_ingest_does_not_count_twice(tmp_path: Path) -> None:
    p = project(tmp_path)
    frame = labels(80)
    frame.to_parquet(p.root / "inbox" / "batch.parquet", index=False)
    content = (p.root / "inbox" / "batch.parquet").read_bytes()
    import hashlib

    digest = hashlib.sha256(content).hexdigest()
    # crashed after storing the labels, before recording them
    ingest_labels(
        frame,
        p.paths.labels,
        id_column="row_id",
        target="label",
        part_name=f"part-inbox-{digest[:32]}.parquet",
    )
    assert p.tick().labels[0]["status"] == "ingested"
    assert len(stored(p)) == 80
    # crashed after recording, before moving the file away: it is there again
    (p.root / "inbox" / "batch.parquet").write_bytes(content)
    again = p.tick()
    assert [x["status"] for x in again.labels] == ["duplicate"]
    assert len(stored(p)) == 80
    assert sum(a.rows for a in p.store.list_arrivals("tiny", source="labels")) == 80
    assert p.events(kinds=["labels_duplicate"])[-1].evidence["sha256"] == digest
    assert not (p.root / "inbox" / "batch.parquet").exists()  # moved (no name clash)
    assert len(list((p.root / ".opsloop" / "inbox" / "processed").iterdir())) == 2


def test_bad_files_are_rejected_with_an_event_and_do_not_stop_the_agent(tmp_path: Path) -> None:
    p = project(tmp_path)
    labels(50).to_csv(p.root / "inbox" / "good.csv", index=False)
    pd.DataFrame({"id": ["x"], "y": [1]}).to_csv(p.root / "inbox" / "columns.csv", index=False)
    (p.root / "inbox" / "corrupt.parquet").write_bytes(b"not parquet at all")
    (p.root / "inbox" / "notes.txt").write_text("hello")
    result = p.tick()
    status = {Path(x["file"]).name: x["status"] for x in result.labels}
    assert status == {
        "good.csv": "ingested",
        "columns.csv": "rejected",
        "corrupt.parquet": "rejected",
        "notes.txt": "rejected",
    }
    rejected = {Path(e.evidence["source"]).name: e for e in p.events(kinds=["labels_rejected"])}
    assert set(rejected) == {"columns.csv", "corrupt.parquet", "notes.txt"}
    assert "row_id" in rejected["columns.csv"].evidence["error"]
    assert "cannot read label file" in rejected["corrupt.parquet"].evidence["error"]
    assert ".txt" in rejected["notes.txt"].evidence["error"]
    moved = Path(rejected["columns.csv"].evidence["moved_to"])
    assert moved.parent == p.root / ".opsloop" / "inbox" / "rejected" and moved.is_file()
    assert len(stored(p)) == 50  # the good file only
    assert any("rejected columns.csv" in n for n in result.notes)
    assert sorted(x.name for x in (p.root / "inbox").iterdir()) == []


def test_a_file_with_an_invalid_label_is_rejected_whole_with_its_event(tmp_path: Path) -> None:
    p = project(tmp_path)
    p.train()  # records the classes [0, 1]
    frame = labels(40).astype(object)
    frame.loc[7, "label"] = "yes"
    frame.loc[9, "row_id"] = None
    frame.to_csv(p.root / "inbox" / "mixed.csv", index=False)
    labels(10, "ok").to_csv(p.root / "inbox" / "ok.csv", index=False)
    result = p.tick()
    status = {Path(x["file"]).name: x["status"] for x in result.labels}
    assert status == {"mixed.csv": "rejected", "ok.csv": "ingested"}
    assert [x["matched"] for x in result.labels if x["status"] == "ingested"] == [0]
    event = p.events(kinds=["labels_rejected"])[-1]
    error = event.evidence["error"]
    assert "2 of 40 label rows are invalid; nothing was stored" in error
    assert "label='yes'" in error and "1 × missing id" in error
    assert Path(event.evidence["moved_to"]).parent == p.root / ".opsloop" / "inbox" / "rejected"
    assert len(stored(p)) == 10  # nothing of the rejected file
    assert sum(a.rows for a in p.store.list_arrivals("tiny", source="labels")) == 10


def test_labels_trigger_fires_on_the_rows_since_the_last_training(tmp_path: Path) -> None:
    p = project(tmp_path)
    p.train()
    labels(200, "a").to_csv(p.root / "inbox" / "a.csv", index=False)
    first = p.tick()
    assert first.fired == []
    assert any("200 of 300 labelled rows" in n for n in first.notes)
    assert p.add_labels(labels(150, "b")).rows == 150  # the CLI's path counts
    second = p.tick()
    assert [f.trigger for f in second.fired] == ["labels"]
    assert second.fired[0].evidence["rows"] == 350
    assert second.fired[0].evidence["arrivals"] == 2
    assert second.trained is not None
    third = p.tick()  # the training reset the count
    assert third.fired == [] and any("0 of 300" in n for n in third.notes)


def test_new_data_arrivals_are_not_labels(tmp_path: Path) -> None:
    p = project(tmp_path)
    p.train()
    p.store.add_arrival(
        "tiny",
        source="OPSLOOP_TINY_NEW_DATA",
        seq=1,
        ts=pd.Timestamp.now(tz="UTC").to_pydatetime(),
        rows=5000,
        payload={},
    )
    assert p.tick().fired == []


def test_a_file_that_cannot_be_moved_aside_is_reported_once(tmp_path: Path) -> None:
    p = project(tmp_path, LABELS.replace("path: 'inbox/*'", "path: 'inbox/*', rejected: blocked"))
    (p.root / "blocked").write_text("a file where the folder should be")
    (p.root / "inbox" / "bad.csv").write_text("id,y\n1,1\n")
    first, second = p.tick(), p.tick()
    assert [x["status"] for x in first.labels + second.labels] == ["rejected", "rejected"]
    assert first.labels[0]["moved_to"] is None
    assert any("cannot move bad.csv" in n for n in second.notes)
    assert len(p.events(kinds=["labels_rejected"])) == 1
