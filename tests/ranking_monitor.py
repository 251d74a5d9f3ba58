"""A ranking project to monitor (tests/unit/monitor/ranking/test_job.py, and on DuckDB
tests/integration/test_monitor_ranking_duckdb.py): the restaurants example, a version
registered with its ranking reference and deployed, the lists a nightly run logs
(contract 4) and the visits that arrive (contract 5)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from opsloop.data.window import Window
from opsloop.monitor.ranking.reference import ARTIFACT, ranking_reference
from opsloop.project import Project
from opsloop.ranking.data import RankingData, TopK
from opsloop.ranking.popularity import PopularityRecommender
from opsloop.registry.base import TrainingRecord
from opsloop.registry.memory import MemoryRegistry
from opsloop.scaffold import init_project
from opsloop.store import OpsStore

if TYPE_CHECKING:
    from opsloop.engines.base import Engine

K = 10
MODEL = "restaurants"
START = pd.Timestamp("2025-01-01", tz="UTC")
CUTOFF = START + pd.Timedelta(days=150)  # the model is fitted on the visits before it
# Nothing changes: the reference is the visits of the users with even ids in the 14 days
# from the cut-off, the monitored window the same days' visits of the others.
WINDOW = Window(CUTOFF.to_pydatetime(), (CUTOFF + pd.Timedelta(days=14)).to_pydatetime())


def even(users: pd.Series) -> pd.Series:
    return users.str[1:].astype(int) % 2 == 0  # u000042


def make_root(folder: Path) -> Path:
    """The restaurants example at 3,000 users × 300 restaurants."""
    return init_project(folder / "p", example="restaurants", users=3000, restaurants=300)


def tables(root: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    data = root / "data"
    return (
        pd.read_parquet(data / "visits.parquet"),
        pd.read_parquet(data / "users.parquet"),
        pd.read_parquet(data / "restaurants.parquet"),
    )


def open_project(root: Path, *, engine: Engine | None = None) -> Project:
    """The project on an in-memory registry and ops store and `engine` (None: the
    project's own, DuckDB over `.opsloop/`), monitored by answer time over 14-day
    windows, with version 1 (a per-area popularity model) registered with its ranking
    reference and deployed."""
    p = Project(
        root,
        registry=MemoryRegistry(),
        store=OpsStore("sqlite://"),
        engine=engine,
        actor="tester",
    )
    monitor = p.config.monitor.model_copy(
        update={
            "clock": "answered",
            "window": timedelta(days=14),
            "drift": p.config.monitor.drift.model_copy(update={"min_rows": 100}),
            "performance": p.config.monitor.performance.model_copy(
                update={"min_labels": 100, "floor": 0.03}
            ),
        }
    )
    # no `predict:` schedule: the agent's nightly run is another helper's (rankbatch)
    p.config = p.runtime.config = p.config.model_copy(update={"monitor": monitor, "predict": None})
    p.runtime.clock = lambda: WINDOW.end
    visits, users, items = tables(root)
    t = visits["visited_at"]
    train = RankingData(
        visits[t < CUTOFF], users, items, "user_id", "restaurant_id", "visited_at", "rating"
    )
    model = PopularityRecommender(segment_column="area").fit(train)
    period = visits[(t >= CUTOFF) & (t < pd.Timestamp(WINDOW.end))]
    evaluation = period[even(period["user_id"])]
    reference = ranking_reference(
        train, model.recommend(train, np.unique(evaluation["user_id"]), K), k=K, visits=evaluation
    )
    p.registry.register(
        TrainingRecord(
            model_name=MODEL,
            estimator=model,
            features=[],
            task="ranking",
            params={},
            metrics={},
            tags={},
            target="restaurant_id",
            dataset=pd.DataFrame(),
            dataset_digest="test",
            input_example=pd.DataFrame(),
            artifacts={ARTIFACT: reference.to_json()},
            experiment=MODEL,
        )
    )
    p.store.record_deployment(MODEL, "1", reason="test")
    return p


def nightly(root: Path) -> TopK:
    """The lists a nightly run at the cut-off makes for every user."""
    visits, users, items = tables(root)
    before = visits[visits["visited_at"] < pd.Timestamp(WINDOW.start)]
    now = RankingData(before, users, items, "user_id", "restaurant_id", "visited_at", "rating")
    model = PopularityRecommender(segment_column="area").fit(now)
    return model.recommend(now, users["user_id"].to_numpy(), K)


def list_rows(top: TopK, at: datetime) -> pd.DataFrame:
    """Contract 4: one prediction-log row per (user, rank), plus the fallback list (k rows
    with a null user), as `opsloop predict` logs a ranking run."""
    n = len(top.users)
    items = top.item_ids()
    fallback = items[0]
    users = np.concatenate([top.users.astype(object), [None]])  # the fallback: no user
    return pd.DataFrame(
        {
            "prediction_id": [None if u is None else str(u) for u in np.repeat(users, K)],
            "request_id": "run-1",
            "ts": pd.Timestamp(at),
            "event_ts": pd.Timestamp(at),
            "model_version": "1",
            "route": "batch",
            "prediction": np.concatenate([items.ravel(), fallback]),
            "score": np.concatenate([top.scores.ravel(), np.linspace(1, 0.1, K)]),
            "user_id": np.repeat(users, K),
            "rank": np.tile(np.arange(1, K + 1, dtype=np.int16), n + 1),
            "restaurant_id": np.concatenate([items.ravel(), fallback]),
            "model": MODEL,
            "version": "1",
            "run_id": "run-1",
        }
    )


def visit_rows(root: Path) -> pd.DataFrame:
    """Contract 5: the window's visits (of the users with odd ids) as label rows."""
    visits, _, _ = tables(root)
    t = visits["visited_at"]
    got = visits[(t >= pd.Timestamp(WINDOW.start)) & (t < pd.Timestamp(WINDOW.end))]
    got = got[~even(got["user_id"])]
    return pd.DataFrame(
        {
            "prediction_id": got["user_id"].astype(str),
            "label": got["restaurant_id"].astype(str),
            "label_ts": got["visited_at"],
            "rating": got["rating"].astype(float),
        }
    ).reset_index(drop=True)
