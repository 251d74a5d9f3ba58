"""Adding labels through `Project.add_labels` (the CLI's path): checked against the classes
the trained version recorded, nothing stored on an invalid file, and the answer counting
the labels that matched a logged prediction and those still waiting for one."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from opsloop.data.labels import LabelValidationError
from opsloop.engines.memory import MemoryEngine
from opsloop.orchestrate.labels import LabelsAdded, label_contract
from opsloop.project import Project
from opsloop.registry.memory import MemoryRegistry
from opsloop.store import OpsStore
from tinyproject import write_tiny_project


def project(tmp_path: Path) -> Project:
    return Project(
        write_tiny_project(tmp_path / "p"),
        registry=MemoryRegistry(),
        store=OpsStore("sqlite://"),
        engine=MemoryEngine(),
        actor="tester",
    )


def stored(p: Project) -> list[Path]:
    return sorted(p.paths.labels.glob("*.parquet")) if p.paths.labels.exists() else []


def test_the_trained_event_records_the_classes_the_labels_are_checked_against(
    tmp_path: Path,
) -> None:
    p = project(tmp_path)
    assert label_contract(p.store, p.name, p.config.task).classes is None  # nothing trained
    p.store.add_event("trained", p.name, version="0", evidence={})  # before classes were kept
    older = label_contract(p.store, p.name, p.config.task)
    assert (older.classes, older.version) == (None, "0")
    p.train()
    trained = p.events(kinds=["trained"])[-1]
    assert trained.evidence["target"] == {"task": "binary_classification", "classes": [0, 1]}
    contract = label_contract(p.store, p.name, p.config.task)
    assert contract.classes == (0, 1) and contract.version == trained.version


def test_invalid_labels_store_nothing_and_say_why(tmp_path: Path) -> None:
    p = project(tmp_path)
    p.train()
    bad = pd.DataFrame({"row_id": ["a", "b", None, "d"], "label": [1, "yes", 0, 2]})
    with pytest.raises(LabelValidationError) as info:
        p.add_labels(bad)
    assert "3 of 4 label rows are invalid" in str(info.value)
    assert "label='yes'" in str(info.value) and "label=2" in str(info.value)
    assert stored(p) == [] and p.events(kinds=["labels_added"]) == []
    assert p.store.list_arrivals(p.name, source="labels") == []
    kept = p.add_labels(bad, skip_invalid=True)
    version = p.events(kinds=["trained"])[-1].version
    assert kept == LabelsAdded(
        rows=1,
        matched=0,
        waiting=1,
        rejected=3,
        duplicates=0,
        checked_against=f"one of the classes of version {version} [0, 1]",
    )
    assert p.events(kinds=["labels_added"])[-1].evidence["rejected"] == 3


def test_the_answer_counts_matched_and_waiting_labels(tmp_path: Path) -> None:
    p = project(tmp_path)
    p.train()
    engine = p.engine
    assert isinstance(engine, MemoryEngine)
    engine.add_predictions(pd.DataFrame({"prediction_id": ["a", "b", "c"]}))
    added = p.add_labels(pd.DataFrame({"row_id": ["a", "b", "x", "a"], "label": ["1", True, 0, 1]}))
    assert (added.rows, added.matched, added.waiting, added.duplicates) == (3, 2, 1, 1)
    frame = pd.read_parquet(stored(p)[0])
    assert frame["label"].tolist() == [1, 1, 0] and frame["label"].dtype == "int64"
    event = p.events(kinds=["labels_added"])[-1]
    assert event.summary == "3 labels added (2 matched a logged prediction, 1 waiting)"
    assert (event.evidence["matched"], event.evidence["waiting"]) == (2, 1)
