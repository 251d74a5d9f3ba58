"""Reference profile of N rows of the churn example: NumPy `compute_profile` (what training
computes today, `train/register.py`) vs DuckDB (`engines.reference_sql`, what `opsloop
drift` computes), on the same pandas frame, alternating, `--runs` times; medians.

Also checks that the two agree where drift verdicts depend on them: the categorical counts
and the numeric bin edges (sketch keys).

    PYTHONPATH=src .venv/bin/python benchmarks/reference_profile.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime, timedelta


def main() -> None:
    import duckdb
    import numpy as np

    from opsloop.core.profile import compute_profile
    from opsloop.data.features import FeatureSpec, infer_features
    from opsloop.engines.reference_sql import reference_profile, sample
    from opsloop.examples.churn import TARGET, generate
    from opsloop.monitor.datasets import describe_source, source

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    end = datetime.now(UTC)
    frame = generate(args.rows, end - timedelta(days=30), end, seed=7).drop(columns=[TARGET])
    specs = infer_features(frame, exclude=["customer_id", "event_time"])
    frame["score"] = np.random.default_rng(0).random(len(frame))  # as training adds it
    specs.append(FeatureSpec("score", "numeric", "float64", False))
    timings: dict[str, list[float]] = {"numpy": [], "duckdb": []}
    for _ in range(args.runs):
        t0 = time.perf_counter()
        by_numpy = compute_profile(frame, specs)
        timings["numpy"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with duckdb.connect() as con:
            found = source(frame, "reference", con)
            columns = describe_source(con, found, "reference")
            by_duckdb = reference_profile(con, found.sql, specs, columns).profile
            for s in specs:
                if s.kind == "numeric":
                    by_duckdb.features[s.name].sample = sample(
                        con, found.sql, s.name, columns[s.name]
                    )
        timings["duckdb"].append(time.perf_counter() - t0)
        print(
            f"numpy {timings['numpy'][-1]:.2f} s, duckdb {timings['duckdb'][-1]:.2f} s "
            f"(load average {os.getloadavg()[0]:.1f})",
            flush=True,
        )
    np_s, db_s = (statistics.median(timings[k]) for k in ("numpy", "duckdb"))
    print(f"{args.rows:,} rows, {len(specs)} features: numpy {np_s:.2f} s, duckdb {db_s:.2f} s")
    print(f"duckdb / numpy time: {db_s / np_s:.2f}x")
    counts = all(
        by_numpy.features[s.name].counts == by_duckdb.features[s.name].counts
        for s in specs
        if s.kind != "numeric"
    )
    keys = all(
        by_numpy.features[s.name].edge_keys == by_duckdb.features[s.name].edge_keys
        for s in specs
        if s.kind == "numeric"
    )
    print(f"categorical counts equal: {counts}; numeric bin edges (sketch keys) equal: {keys}")


if __name__ == "__main__":
    main()
