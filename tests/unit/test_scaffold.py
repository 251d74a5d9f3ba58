from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from opsloop.config import load_config
from opsloop.errors import InvalidInputError, StateError
from opsloop.scaffold import init_project, list_examples, write_events


def test_init_writes_a_valid_project(tmp_path: Path) -> None:
    root = init_project(tmp_path / "p", rows=500)
    for name in ("opsloop.yaml", "model.py", "README.md", ".gitignore", "data/history.parquet"):
        assert (root / name).is_file(), name
    cfg = load_config(root / "opsloop.yaml")
    assert (cfg.model, cfg.target, cfg.id_column) == ("churn", "churned", "customer_id")
    assert cfg.retrain.on == ("drift", "performance")
    assert len(pd.read_parquet(root / "data" / "history.parquet")) == 500
    assert "opsloop" not in (root / "model.py").read_text().split('"""')[-1]  # plain user code


def test_init_writes_the_readmes_example_labels(tmp_path: Path) -> None:
    """The README's five-minute block scores customer c-1 and then adds labels.parquet."""
    root = init_project(tmp_path / "p", rows=100)
    labels = pd.read_parquet(root / "labels.parquet")
    assert labels.to_dict("list") == {"customer_id": ["c-1"], "churned": [1]}


def test_refuses_existing_project_unless_forced(tmp_path: Path) -> None:
    init_project(tmp_path, rows=100)
    with pytest.raises(StateError, match="--force"):
        init_project(tmp_path, rows=100)
    init_project(tmp_path, rows=120, force=True)
    assert len(pd.read_parquet(tmp_path / "data" / "history.parquet")) == 120


def test_unknown_example(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="one of \\['churn'\\]"):
        init_project(tmp_path, example="fraud")
    assert list_examples() == ["churn"]


def test_write_events(tmp_path: Path) -> None:
    path = write_events(tmp_path, pd.DataFrame({"a": [1]}), "batch-1")
    assert path == tmp_path / "data" / "batch-1.parquet" and path.is_file()
