"""The recommenders at the nightly size: fit, then top-k for every user, timed separately.

The data is the tests' seeded synthetic restaurant world (tests/ranking_fixtures.py; the
issue-17 example generator replaces it once merged) at 50,000 users x 5,000 restaurants
by default. Printed: the data's size and generation time; for the popularity baseline
(global and per area) and the two-stage recommender, the seconds to fit and to rank the
top k of every user, the process's peak RSS after each, and the load average around each
phase; wall seconds and the process's CPU seconds (all threads): on a machine shared with
other jobs, the CPU seconds are what the phase costs. With ``--quality``, each is also
evaluated on a time-based split (fit before the cut-off, NDCG@k and recall@k on the next
14 days), on the same world.

    nice -n 10 python benchmarks/recommender_models.py [--users 50000 --items 5000 --quality]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests"), str(HERE.parent / "src")]  # this checkout

from machine import machine  # noqa: E402


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--quality", action="store_true", help="also a time-split evaluation")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="the two-stage model's n_threads (0: its default, fit on one thread, score on "
        "one worker per core)",
    )
    args = parser.parse_args()

    import pandas as pd

    from opsloop.ranking.evaluate import evaluate
    from opsloop.ranking.models import PopularityRecommender
    from ranking_fixtures import START, restaurant_two_stage, synthetic_world

    print(machine())
    started = time.perf_counter()
    world = synthetic_world(args.users, args.items, days=args.days, seed=0)
    print(
        f"data: {len(world.users):,} users, {len(world.items):,} items, "
        f"{len(world.interactions):,} visits over {args.days} days "
        f"(generated in {time.perf_counter() - started:.1f} s)"
    )
    users = world.users[world.user_column].to_numpy()
    models = {
        "popularity (global)": PopularityRecommender,
        "popularity (area)": lambda: PopularityRecommender(segment_column="area"),
        "two-stage (HGB)": lambda: restaurant_two_stage(n_threads=args.threads or None),
    }
    for name, make in models.items():
        model = make()
        before = load()
        t0, c0 = time.perf_counter(), time.process_time()
        model.fit(world)
        fit, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        top = model.recommend(world, users, args.k)
        rank, rank_cpu = time.perf_counter() - t0, time.process_time() - c0
        full = float((top.items >= 0).all(axis=1).mean())
        print(
            f"{name:22s} fit {fit:6.1f} s ({fit_cpu:.1f} s CPU)  top-{args.k} for {len(users):,} "
            f"users {rank:6.1f} s ({rank_cpu:.1f} s CPU)  "
            f"({full:.1%} full lists)  peak RSS {peak_mib():,.0f} MiB  load {before} -> {load()}"
        )
        summary = getattr(model, "training_", None)
        if summary is not None:
            print(f"{'':22s} {summary}")
    if args.quality:
        cutoff = START + pd.Timedelta(days=args.days - 20)
        horizon = pd.Timedelta(days=14)
        for name, make in models.items():
            result = evaluate(make(), world, cutoff, horizon, k=args.k)
            cold = "n/a" if result.cold_start_ndcg is None else f"{result.cold_start_ndcg:.4f}"
            print(
                f"{name:22s} NDCG@{args.k} {result.ndcg:.4f}  recall@{args.k} "
                f"{result.recall:.4f}  cold-start NDCG {cold} ({result.cold_start_users} users)"
                f"  over {result.users:,} users  (fit {result.fit_seconds:.1f} s, "
                f"rank {result.recommend_seconds:.1f} s)"
            )


if __name__ == "__main__":
    main()
