"""How many candidates the two-stage recommender needs: quality and cost of candidate sizes.

For each data set and each candidate configuration (`CONFIGS`: overrides of the
`TwoStageRecommender` parameters), a time-split evaluation: NDCG@k and recall@k of the top
k, the **candidate recall** on the evaluation window (share of the relevant (user, item)
pairs stage one proposes: the ceiling of any ranker), the candidate rows per evaluation
user (what stage two scores) and the CPU seconds of fit and of recommend.

Data sets: ``example`` — the restaurants example (`opsloop.examples.restaurants`, seed 7
as `opsloop init` draws it; 90 days of history ending at the newest visit, the last 14
judged, ratings >= 3 relevant, as the template's opsloop.yaml); ``synthetic`` — the tests'
world (tests/ranking_fixtures.py; 100 days, the next 14 judged); ``movielens`` — MovieLens
100K as in `recommender_movielens.py` (last 28 days, ratings >= 4). The two-stage model is
fitted with ``--seeds`` seeds; the mean and the spread over seeds are printed, and the
difference in NDCG@k from the first configuration, paired by user (each user's NDCG
averaged over the seeds), with its 95% interval.

    nice -n 10 python benchmarks/recommender_candidates.py --data example movielens \
        [--configs default small] [--users 50000 --items 5000] [--seeds 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests"), str(HERE.parent / "src")]  # this checkout

from machine import machine  # noqa: E402

# candidate sizes tried (overrides of TwoStageRecommender's defaults)
CONFIGS: dict[str, dict[str, int]] = {
    # the sizes before 2026-12-07's speed work (at most 200 candidates per user)
    "earlier": {"n_area": 40, "n_global": 10, "n_category": 20, "n_local": 20, "n_covisit": 30},
    "default": {},  # n_area 30, n_global 5, n_category 15, n_local 10, n_covisit 20: 145
    "small": {"n_area": 20, "n_global": 5, "n_category": 10, "n_local": 10, "n_covisit": 20},
    "smaller": {"n_area": 15, "n_global": 5, "n_category": 8, "n_local": 8, "n_covisit": 15},
}


@dataclass(frozen=True)
class Case:
    """A data set, its split and how the two-stage recommender is wired to it."""

    data: Any
    cutoff: Any
    horizon: Any
    min_rating: float | None
    columns: dict[str, Any]


def example_case(users: int, items: int) -> Case:
    import pandas as pd

    from opsloop.examples.restaurants import generate
    from opsloop.ranking.data import RankingData

    drawn = generate(users=users, restaurants=items, seed=7)
    visits = drawn.visits
    end = visits["visited_at"].max() + pd.Timedelta(microseconds=1)
    start = end - pd.Timedelta(days=90)
    visits = visits[visits["visited_at"] >= start].reset_index(drop=True)
    data = RankingData(
        interactions=visits,
        users=drawn.users[drawn.users["signup_date"] < end],
        items=drawn.restaurants[drawn.restaurants["opening_date"] < end],
        user_column="user_id",
        item_column="restaurant_id",
        time_column="visited_at",
        rating_column="rating",
    )
    columns = {"area_column": "area", "category_column": "cuisine"}
    columns["item_date_column"] = "opening_date"
    return Case(data, end - pd.Timedelta(days=14), pd.Timedelta(days=14), 3.0, columns)


def synthetic_case(users: int, items: int) -> Case:
    import pandas as pd

    from ranking_fixtures import START, synthetic_world

    data = synthetic_world(users, items, seed=0)
    columns = {"area_column": "area", "category_column": "cuisine"}
    columns["item_date_column"] = "opening_date"
    return Case(data, START + pd.Timedelta(days=100), pd.Timedelta(days=14), None, columns)


def movielens_case(cache: Path) -> Case:
    import pandas as pd
    from recommender_movielens import movielens, wheel_path

    data = movielens(wheel_path(None, cache))
    times = data.interactions["time"]
    horizon = pd.Timedelta(days=28)
    cutoff = times.max() - horizon + pd.Timedelta(seconds=1)
    return Case(
        data, cutoff, horizon, 4.0, {"area_column": "occupation", "category_column": "genre"}
    )


def candidate_stats(model: Any, split: Any) -> tuple[float, float]:
    """(candidate recall on the evaluation window, candidate rows per evaluation user) of
    the fitted `model`, seen items excluded as `recommend` does."""
    import numpy as np

    from opsloop.ranking._arrays import contains
    from opsloop.ranking._candidates import generate
    from opsloop.ranking._context import build_context
    from opsloop.ranking._history import encode

    history = encode(split.train)
    ctx = build_context(split.train, history, model.settings_)
    relevant = split.relevant
    position = history.positions(relevant.users)
    known = position >= 0
    rows, found, wanted = 0, 0, 0
    n = history.n_items
    for lo in range(0, len(position), 10_000):
        part = np.flatnonzero(known[lo : lo + 10_000]) + lo
        cand = generate(ctx, model.settings_, position[part])
        keys = position[part][cand.row] * n + cand.item
        unseen = ~contains(ctx.user_item.keys, keys)
        keys = np.sort(keys[unseen])
        rows += len(keys)
        for i in part:
            mine = relevant.indices[relevant.indptr[i] : relevant.indptr[i + 1]]
            found += int(contains(keys, position[i] * n + mine).sum())
            wanted += len(mine)
    wanted += int(relevant.counts()[~known].sum())
    return found / max(wanted, 1), rows / max(int(known.sum()), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["example", "movielens"])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS))
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--cache", default=str(Path.home() / ".cache" / "opsloop-bench"))
    args = parser.parse_args()

    import numpy as np

    from opsloop.ranking.metrics import per_user_metrics
    from opsloop.ranking.models import PopularityRecommender, TwoStageRecommender
    from opsloop.ranking.split import time_split

    print(machine())
    for name in args.data:
        if name == "example":
            case = example_case(args.users, args.items)
        elif name == "synthetic":
            case = synthetic_case(args.users, args.items)
        else:
            case = movielens_case(Path(args.cache))
        split = time_split(case.data, case.cutoff, case.horizon, min_rating=case.min_rating)
        base = per_user_metrics(
            PopularityRecommender()
            .fit(split.train)
            .recommend(split.train, split.relevant.users, args.k),
            split.relevant,
            k=args.k,
        )
        print(
            f"\n{name}: {len(case.data.users):,} users, {len(case.data.items):,} items, "
            f"{len(case.data.interactions):,} interactions; {len(split.relevant.users):,} "
            f"users judged; global popularity NDCG@{args.k} {np.nanmean(base.ndcg):.4f}"
        )
        first: Any = None  # per-user NDCG (all seeds) of the first configuration
        for config in args.configs:
            ndcg, recall, fit_cpu, rank_cpu, users_ndcg = [], [], [], [], []
            for seed in range(args.seeds):
                model = TwoStageRecommender(
                    **case.columns, **CONFIGS[config], n_threads=1, seed=seed
                )
                c0 = time.process_time()
                model.fit(split.train)
                c1 = time.process_time()
                top = model.recommend(split.train, split.relevant.users, args.k)
                fit_cpu.append(c1 - c0)
                rank_cpu.append(time.process_time() - c1)
                measured = per_user_metrics(top, split.relevant, k=args.k)
                ndcg.append(float(np.nanmean(measured.ndcg)))
                users_ndcg.append(measured.ndcg)
                recall.append(float(np.nanmean(measured.recall)))
            found, per_user = candidate_stats(model, split)
            mean_ndcg = np.mean(users_ndcg, axis=0)  # per user, over seeds
            first = mean_ndcg if first is None else first
            diff = (mean_ndcg - first)[~np.isnan(first)]
            paired = f"{diff.mean():+.4f} +- {1.96 * diff.std() / np.sqrt(len(diff)):.4f}"
            print(
                f"  {config:12s} NDCG@{args.k} {np.mean(ndcg):.4f} (+-{np.std(ndcg):.4f})  "
                f"recall@{args.k} {np.mean(recall):.4f}  candidate recall {found:.4f}  "
                f"{per_user:5.1f} rows/user  NDCG vs {args.configs[0]} {paired} (paired, 95%)  "
                f"fit {np.mean(fit_cpu):.1f} s, "
                f"recommend {np.mean(rank_cpu):.1f} s CPU"
            )


if __name__ == "__main__":
    main()
