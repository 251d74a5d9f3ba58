"""A small `task: ranking` project on the synthetic restaurant world (tests/ranking_fixtures):
visits with naive times (read as UTC), a users and an items table, a regression set, and a
model.py whose build() is the two-stage recommender (one thread, small) or the global
popularity baseline (`set_recommender`)."""

from __future__ import annotations

from pathlib import Path

from ranking_fixtures import synthetic_world

BUILDS = {
    "two_stage": """    from opsloop.ranking.models import TwoStageRecommender

    return TwoStageRecommender(
        area_column="area",
        category_column="cuisine",
        item_date_column="opening_date",
        max_train_users=600,
        n_threads=1,
    )
""",
    "popularity": """    from opsloop.ranking.models import PopularityRecommender

    return PopularityRecommender()
""",
}

MODEL = """from pathlib import Path

import pandas as pd

from opsloop.ranking.data import RankingData

DATA = Path(__file__).parent / "data"


def load(window):
    visits = pd.read_parquet(DATA / "visits.parquet")
    start = pd.Timestamp(window.start).tz_convert(None)  # the data's times are naive UTC
    end = pd.Timestamp(window.end).tz_convert(None)
    times = visits["visited_at"]
    visits = visits[(times >= start) & (times < end)].reset_index(drop=True)
    return RankingData(
        interactions=visits,
        users=pd.read_parquet(DATA / "users.parquet"),
        items=pd.read_parquet(DATA / "items.parquet"),
        user_column="user_id",
        item_column="item_id",
        time_column="visited_at",
        rating_column="rating",
    )


def build():
{build}"""

CONFIG = """model: recs
task: ranking
id_column: user_id
target: item_id
time_column: visited_at
code: model.py
ranking:
  user_column: user_id
  item_column: item_id
  rating_column: rating
  k: 10
  holdout: 14d
gate:
  metrics:
{rules}
  slices:
    - {{name: area, column: area, min_rows: 30}}
    - {{name: history, column: history, min_rows: 30}}
  regression_set:
    path: regression_users.parquet
  resamples: 200
  holdout_min_rows: 50
  approval: auto
data:
  quality:
    min_rows: 50
monitor:
  performance:
    metric: ndcg_at_k
retrain:
  training_window: 60d
  anchor: data
"""

RULES = "    - {metric: ndcg_at_k, policy: non_inferiority, margin: 0.02}\n"


def write_ranking_project(
    root: Path,
    *,
    users: int = 600,
    items: int = 80,
    recommender: str = "two_stage",
    rules: str = RULES,
    seed: int = 2,
) -> Path:
    """The project at `root` (data drawn with `seed`; 60 days of visits)."""
    world = synthetic_world(users, items, days=60, visits_per_user=12, seed=seed)
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    world.interactions.to_parquet(data / "visits.parquet", index=False)
    world.users.to_parquet(data / "users.parquet", index=False)
    world.items.to_parquet(data / "items.parquet", index=False)
    top = world.interactions["user_id"].value_counts().index[:20]
    world.users.loc[world.users["user_id"].isin(top), ["user_id"]].to_parquet(
        root / "regression_users.parquet", index=False
    )
    (root / "opsloop.yaml").write_text(CONFIG.format(rules=rules.rstrip("\n")), encoding="utf-8")
    set_recommender(root, recommender)
    return root


def set_recommender(root: Path, recommender: str) -> None:
    """Rewrite model.py's build() (the code digest changes with it)."""
    (root / "model.py").write_text(MODEL.format(build=BUILDS[recommender]), encoding="utf-8")
