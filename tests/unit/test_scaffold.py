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
    with pytest.raises(InvalidInputError, match="one of \\['churn', 'restaurants'\\]"):
        init_project(tmp_path, example="fraud")
    assert list_examples() == ["churn", "restaurants"]
    with pytest.raises(InvalidInputError, match="--users and --restaurants size the restaurants"):
        init_project(tmp_path, example="churn", users=10)
    assert not (tmp_path / "opsloop.yaml").exists()


def test_init_restaurants_writes_a_ranking_project(tmp_path: Path) -> None:
    root = init_project(tmp_path / "r", example="restaurants", users=600, restaurants=60)
    for name in (
        "opsloop.yaml", "model.py", "README.md", ".gitignore", "regression_users.parquet",
        "data/users.parquet", "data/restaurants.parquet", "data/visits.parquet",
    ):  # fmt: skip
        assert (root / name).is_file(), name
    cfg = load_config(root / "opsloop.yaml")
    assert cfg.task == "ranking" and cfg.ranking is not None
    columns = (cfg.id_column, cfg.target, cfg.time_column)
    assert columns == ("user_id", "restaurant_id", "visited_at")
    assert (cfg.ranking.k, cfg.ranking.rating_column) == (10, "rating")
    assert cfg.gate.primary.metric == "ndcg_at_k"
    assert [s.column for s in cfg.gate.slices] == ["area", "history"]
    users = pd.read_parquet(root / "data" / "users.parquet")
    visits = pd.read_parquet(root / "data" / "visits.parquet")
    assert len(users) == 600 and len(pd.read_parquet(root / "data" / "restaurants.parquet")) == 60
    golden = pd.read_parquet(root / "regression_users.parquet")
    assert list(golden.columns) == ["user_id"] and golden["user_id"].is_unique
    assert golden["user_id"].isin(visits["user_id"]).all() and len(golden) >= 100
    readme = (root / "README.md").read_text()
    assert "600 users" in readme and f"{len(visits):,} visits" in readme
    assert "2025-01-01 to 2025-06-29" in readme and "{" not in readme


def test_write_events(tmp_path: Path) -> None:
    path = write_events(tmp_path, pd.DataFrame({"a": [1]}), "batch-1")
    assert path == tmp_path / "data" / "batch-1.parquet" and path.is_file()
