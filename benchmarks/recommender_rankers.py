"""Stage two of the two-stage recommender: scikit-learn's HistGradientBoostingClassifier
(pointwise, opsloop's choice) vs LightGBM's LambdaMART (``LGBMRanker``, listwise), on the
same candidates, features and sampled rows, same number of trees, leaves and learning rate.

LightGBM is not an opsloop dependency: run with it importable (``pip install lightgbm``
into another environment and put it on PYTHONPATH). Printed per data set and ranker:
NDCG@10, recall@10, fit and rank seconds, means over ``--seeds`` seeds. Data sets: the
tests' synthetic restaurant world (``--users`` x ``--items``) and, with ``--wheel``,
MovieLens 100K as in benchmarks/recommender_movielens.py.

    nice -n 10 python benchmarks/recommender_rankers.py [--users 20000 --items 2000] [--wheel W]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests"), str(HERE.parent / "src")]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from machine import machine  # noqa: E402

from opsloop.ranking.evaluate import evaluate  # noqa: E402
from opsloop.ranking.twostage import TwoStageRecommender  # noqa: E402


class LambdaMARTRecommender(TwoStageRecommender):
    """The same recommender with LightGBM's lambdarank objective in stage two."""

    def _fit_ranker(self, x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> Any:
        from lightgbm import LGBMRanker

        _, sizes = np.unique(groups, return_counts=True)  # rows of a user are contiguous
        model = LGBMRanker(
            n_estimators=self.max_iter,
            learning_rate=self.learning_rate,
            num_leaves=self.max_leaf_nodes,
            random_state=self.seed,
            n_jobs=self.n_threads or 0,
            verbose=-1,
        )
        return model.fit(x, y.astype(int), group=sizes)

    def _score(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model_.predict(x), dtype=np.float64)


def compare(
    name: str, data: Any, cutoff: Any, horizon: Any, params: dict[str, Any], seeds: int, **kw: Any
) -> None:
    for label, cls in (
        ("HGB (pointwise)", TwoStageRecommender),
        ("LambdaMART", LambdaMARTRecommender),
    ):
        runs = [
            evaluate(cls(seed=s, **params), data, cutoff, horizon, k=10, **kw) for s in range(seeds)
        ]
        ndcg = np.array([r.ndcg for r in runs])
        recall = np.array([r.recall for r in runs])
        print(
            f"{name:28s} {label:16s} NDCG@10 {ndcg.mean():.4f} (+-{ndcg.std():.4f})  recall@10 "
            f"{recall.mean():.4f}  fit {np.mean([r.fit_seconds for r in runs]):.1f} s  rank "
            f"{np.mean([r.recommend_seconds for r in runs]):.1f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=2_000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--wheel")
    parser.add_argument("--threads", type=int, default=1, help="both rankers' threads")
    args = parser.parse_args()
    from ranking_fixtures import START, synthetic_world

    print(machine())
    world = synthetic_world(args.users, args.items, seed=0)
    restaurants = {
        "area_column": "area",
        "category_column": "cuisine",
        "item_date_column": "opening_date",
        "n_threads": args.threads,
    }
    compare(
        f"synthetic {args.users}x{args.items}",
        world,
        START + pd.Timedelta(days=100),
        pd.Timedelta(days=14),
        restaurants,
        args.seeds,
    )
    if args.wheel:
        from recommender_movielens import movielens

        data = movielens(Path(args.wheel))
        horizon = pd.Timedelta(days=28)
        cutoff = data.interactions["time"].max() - horizon + pd.Timedelta(seconds=1)
        compare(
            "MovieLens 100K",
            data,
            cutoff,
            horizon,
            {"area_column": "occupation", "category_column": "genre", "n_threads": args.threads},
            args.seeds,
            min_rating=4.0,
        )


if __name__ == "__main__":
    main()
