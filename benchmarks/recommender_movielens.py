"""The recommenders on real public data: MovieLens 100K (943 users, 1,682 movies, 100,000
ratings, 1997-98, GroupLens), as shipped inside RecBole's wheel on PyPI.

The data set's licence allows use but not redistribution, so it is not in this repository:
``--wheel PATH`` reads a downloaded ``recbole-1.2.1-py3-none-any.whl``, else the script runs
``pip download --no-deps recbole==1.2.1`` into ``--cache`` (nothing is installed: the files
are read from the zip). Split: the last ``--horizon`` days are the evaluation window,
everything before trains; relevant = rated at least ``--min-rating`` (default 4) in the
window, items the user rated before left out. Users: age (numeric), gender, occupation;
items: first genre (category), release year. The "area" of the two-stage recommender is
the user's occupation (the popularity segment); the baseline is reported globally and per
occupation.

    python benchmarks/recommender_movielens.py [--wheel PATH] [--k 10]
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src")]  # this checkout

from machine import machine  # noqa: E402

WHEEL = "recbole-1.2.1-py3-none-any.whl"
PREFIX = "recbole/dataset_example/ml-100k/ml-100k"


def wheel_path(given: str | None, cache: Path) -> Path:
    if given:
        return Path(given)
    path = cache / WHEEL
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "recbole==1.2.1",
                "-d",
                str(cache),
            ],
            check=True,
        )
    return path


def movielens(wheel: Path):  # type: ignore[no-untyped-def]
    import pandas as pd

    from opsloop.ranking.data import RankingData

    def read(ext: str) -> pd.DataFrame:
        with zipfile.ZipFile(wheel) as archive:
            raw = archive.read(f"{PREFIX}.{ext}").decode("latin-1")
        frame = pd.read_csv(io.StringIO(raw), sep="\t")
        frame.columns = [c.split(":")[0] for c in frame.columns]
        return frame

    inter = read("inter")
    inter["time"] = pd.to_datetime(inter.pop("timestamp").astype("int64"), unit="s")
    users = read("user")
    users["age"] = users["age"].astype(float)
    users = users.drop(columns=["zip_code"])
    items = read("item")
    items["genre"] = items["class"].str.split(" ").str[0]
    items["release_year"] = pd.to_numeric(items["release_year"], errors="coerce")
    items = items[["item_id", "genre", "release_year"]]
    return RankingData(
        interactions=inter,
        users=users,
        items=items,
        user_column="user_id",
        item_column="item_id",
        time_column="time",
        rating_column="rating",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel")
    parser.add_argument("--cache", default=str(Path.home() / ".cache" / "opsloop-bench"))
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--horizon", type=float, default=28.0)
    parser.add_argument("--min-rating", type=float, default=4.0)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()

    import numpy as np
    import pandas as pd

    from opsloop.ranking.evaluate import evaluate
    from opsloop.ranking.models import PopularityRecommender, TwoStageRecommender

    data = movielens(wheel_path(args.wheel, Path(args.cache)))
    times = data.interactions["time"]
    horizon = pd.Timedelta(days=args.horizon)
    cutoff = times.max() - horizon + pd.Timedelta(seconds=1)
    print(machine())
    print(
        f"MovieLens 100K: {len(data.users)} users, {len(data.items)} items, "
        f"{len(data.interactions):,} ratings, {times.min():%Y-%m-%d} .. {times.max():%Y-%m-%d}; "
        f"cut-off {cutoff:%Y-%m-%d}, horizon {args.horizon:g} days, relevant: rating >= "
        f"{args.min_rating:g}"
    )
    models = {
        "popularity (global)": lambda seed: PopularityRecommender(),
        "popularity (occupation)": lambda seed: PopularityRecommender(segment_column="occupation"),
        "two-stage (HGB)": lambda seed: TwoStageRecommender(
            area_column="occupation", category_column="genre", seed=seed
        ),
    }
    for name, make in models.items():
        runs = [
            evaluate(make(seed), data, cutoff, horizon, k=args.k, min_rating=args.min_rating)
            for seed in range(args.seeds if name.startswith("two") else 1)
        ]
        ndcg = np.array([r.ndcg for r in runs])
        recall = np.array([r.recall for r in runs])
        r = runs[0]
        cold = "n/a" if r.cold_start_ndcg is None else f"{r.cold_start_ndcg:.4f}"
        print(
            f"{name:24s} NDCG@{args.k} {ndcg.mean():.4f} (+-{ndcg.std():.4f})  recall@{args.k} "
            f"{recall.mean():.4f}  cold-start NDCG {cold} ({r.cold_start_users}/{r.users} users)"
            f"  fit {r.fit_seconds:.1f} s, rank {r.recommend_seconds:.2f} s"
        )


if __name__ == "__main__":
    main()
