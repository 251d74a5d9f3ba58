"""What the register stage stores for a ranking version's monitoring
(`train.register.ranking_monitor_artifacts`): its ranking reference, at the project's k."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from opsloop.engines.memory import MemoryEngine
from opsloop.monitor.ranking.reference import ARTIFACT, RankingReference
from opsloop.project import Project
from opsloop.ranking.data import RankingData
from opsloop.ranking.popularity import PopularityRecommender
from opsloop.registry.memory import MemoryRegistry
from opsloop.scaffold import init_project
from opsloop.store import OpsStore
from opsloop.train.register import ranking_monitor_artifacts


def test_the_ranking_reference_is_stored_as_an_artifact(tmp_path: Path) -> None:
    root = init_project(tmp_path / "p", example="restaurants", users=600, restaurants=60)
    data = root / "data"
    visits = pd.read_parquet(data / "visits.parquet")
    users = pd.read_parquet(data / "users.parquet")
    items = pd.read_parquet(data / "restaurants.parquet")
    cutoff = visits["visited_at"].max() - pd.Timedelta(days=14)
    before = visits["visited_at"] < cutoff
    train = RankingData(
        visits[before], users, items, "user_id", "restaurant_id", "visited_at", "rating"
    )
    evaluation = visits[~before]
    model = PopularityRecommender().fit(train)
    top = model.recommend(train, np.unique(evaluation["user_id"]), 10)

    p = Project(root, registry=MemoryRegistry(), store=OpsStore("sqlite://"), engine=MemoryEngine())
    out = ranking_monitor_artifacts(p.runtime, train, top, visits=evaluation, ndcg=0.1)
    assert list(out) == [ARTIFACT]
    reference = RankingReference.from_json(out[ARTIFACT])
    assert reference.k == p.config.ranking.k == 10  # type: ignore[union-attr]
    assert reference.ndcg == 0.1 and reference.n_users == len(top.users)
    assert sum(reference.visit_counts.values()) == len(
        evaluation.drop_duplicates(["user_id", "restaurant_id"])
    )
