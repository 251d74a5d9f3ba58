"""Backfill: one series scan of the log (`Engine.scan_windows`) against a scan per window.

Builds the tiny test model (2 numeric + 1 categorical feature, binary classifier with
scores, CBPE and the multivariate check) and a Parquet prediction log of `--rows` rows
whose event times spread over `--windows` hours of 2013 (answered on one day of 2026, as a
replayed history), labels for half of the rows. Then, `--repeat` times each, interleaved:

- **reads**: `scan_windows` over every window vs `scan_window` per window (what the
  backfill did before): the engine's part, which the series scan changes;
- **backfill**: the whole `opsloop monitor --from --to --every 1h` — reads, judging
  (drift, quality, performance per window in Python) and storing each result with its
  JSON report — on the series scan vs per window, each into a fresh in-memory ops store.

Prints medians (wall and CPU seconds) and the ratios (per-window ÷ series) as JSON.

    .venv/bin/python benchmarks/backfill.py --series-only --repeat 3  # 1M rows, 1,000 windows
    .venv/bin/python benchmarks/backfill.py --rows 100000 --windows 100 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests"), str(HERE.parent / "src")]  # this checkout

T0 = datetime(2013, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def build(folder: Path, rows: int, windows: int) -> Any:
    """The trained tiny project over a DuckDB engine, and its replayed log."""
    import numpy as np
    import pandas as pd

    from opsloop.engines.duckdb import DuckDBEngine
    from opsloop.project import Project
    from opsloop.registry.memory import MemoryRegistry
    from opsloop.store import OpsStore
    from tinyproject import prediction_log, tiny_frame, write_tiny_project

    root = write_tiny_project(folder / "project")
    engine = DuckDBEngine(folder / "pred", folder / "labels")
    p = Project(root, registry=MemoryRegistry(), store=OpsStore("sqlite://"), engine=engine)
    engine.labels_root = p.paths.labels
    p.train()
    frame = tiny_frame(rows, seed=7)
    log = prediction_log(p, frame, "1", ts=datetime(2026, 1, 1, tzinfo=UTC))
    seconds = np.sort(np.random.default_rng(1).uniform(0, windows * 3600, rows))
    log.insert(3, "event_ts", pd.DatetimeIndex(T0 + pd.to_timedelta(seconds, unit="s")))
    part = folder / "pred" / "model=tiny" / "date=2026-01-01" / "hour=00"
    part.mkdir(parents=True)
    log.to_parquet(part / "part-0.parquet", index=False)
    p.add_labels(frame[["row_id", "label"]].iloc[: rows // 2])
    return p


def fresh(p: Any) -> Any:
    """The same project, model and log with a copy of the ops store as training left it
    (no monitor results yet: an empty ops store would be refused as a lost one)."""
    from opsloop.project import Project
    from opsloop.store import OpsStore

    store = OpsStore("sqlite://")
    with p.store.engine.connect() as src, store.engine.connect() as dst:
        src.connection.driver_connection.backup(dst.connection.driver_connection)
    return Project(p.root, registry=p.registry, store=store, engine=p.engine)


def reads_series(p: Any, windows: int) -> int:
    from opsloop.monitor.drift import exact_features
    from opsloop.monitor.job import load_version

    inputs = load_version(p.runtime, "1")
    drift = p.config.monitor.drift
    found = p.engine.scan_windows(
        "tiny",
        T0,
        HOUR,
        list(range(windows)),
        inputs.reference,
        version="1",
        scores=inputs.cbpe is not None,
        transform=inputs.transform,
        exact=lambda c: exact_features(inputs.reference, c, drift),
        limit=drift.exact_max_rows,
    )
    return sum(1 for _ in found)


def reads_per_window(p: Any, windows: int) -> int:
    from opsloop.monitor.drift import exact_features
    from opsloop.monitor.job import load_version

    inputs = load_version(p.runtime, "1")
    drift = p.config.monitor.drift
    count = 0
    for i in range(windows):
        scan = p.engine.scan_window(
            "tiny",
            T0 + i * HOUR,
            T0 + (i + 1) * HOUR,
            inputs.reference,
            version="1",
            scores=inputs.cbpe is not None,
            transform=inputs.transform,
            exact=lambda c: exact_features(inputs.reference, c, drift),
            limit=drift.exact_max_rows,
        )
        count += scan.profile.n_rows > 0
    return count


def backfill_series(p: Any, windows: int) -> int:
    """The backfill as `opsloop monitor --from` runs it (its workers may be forked, as the
    CLI allows; `--judge-workers 1` judges here, as the agent and the API do)."""
    result = fresh(p).backfill_monitor(
        start=T0, end=T0 + windows * HOUR, every=HOUR, version="1", fork_workers=True
    )
    return len(result.monitored)


def backfill_per_window(p: Any, windows: int) -> int:
    """The backfill as it was: read, judge and store each window in turn."""
    from opsloop.data.window import Window
    from opsloop.monitor.job import evaluate_window, load_version, record_window

    q = fresh(p)
    rt = q.runtime
    inputs = load_version(rt, "1")
    stored = 0
    for i in range(windows):
        window = Window(T0 + i * HOUR, T0 + (i + 1) * HOUR)
        report = evaluate_window(rt, window, inputs)
        if report.n_rows:
            record_window(rt, report, inputs.reference, "1", html=i == windows - 1)
            stored += 1
    return stored


def cpu_seconds() -> float:
    """CPU seconds of this process (all its threads) and of its children that ended (the
    backfill's judging workers, joined when it returns)."""
    return time.process_time() + workers_cpu_seconds()


def workers_cpu_seconds() -> float:
    """CPU seconds of this process's children that ended: the judging workers."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--windows", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--series-only",
        action="store_true",
        help="time the series side only (the per-window side takes > 15 min at 1M rows)",
    )
    parser.add_argument(
        "--judge-workers",
        type=int,
        default=None,
        help="processes judging the backfill's windows (1: in the backfill's process, as the "
        "agent, the server and the Project API by default; default: "
        "opsloop.monitor.backfill.JUDGE_WORKERS, forked as by the CLI)",
    )
    args = parser.parse_args()
    if args.judge_workers is not None:
        from opsloop.monitor import backfill as bf

        bf.JUDGE_WORKERS = args.judge_workers
    sides = ("series",) if args.series_only else ("series", "per_window")
    with tempfile.TemporaryDirectory() as tmp:
        p = build(Path(tmp), args.rows, args.windows)
        pairs = {
            "reads": (reads_series, reads_per_window),
            "backfill": (backfill_series, backfill_per_window),
        }
        times: dict[str, list[float]] = {f"{k}_{side}": [] for k in pairs for side in sides}
        cpu_times: dict[str, list[float]] = {k: [] for k in times}
        worker_times: dict[str, list[float]] = {k: [] for k in times}
        counts: dict[str, int] = {}
        for _ in range(args.repeat):
            for name, (series, per_window) in pairs.items():
                for side, fn in (("series", series), ("per_window", per_window))[: len(sides)]:
                    started, cpu, workers = (
                        time.perf_counter(),
                        cpu_seconds(),
                        workers_cpu_seconds(),
                    )
                    counts[f"{name}_{side}"] = fn(p, args.windows)
                    times[f"{name}_{side}"].append(time.perf_counter() - started)
                    cpu_times[f"{name}_{side}"].append(cpu_seconds() - cpu)
                    worker_times[f"{name}_{side}"].append(workers_cpu_seconds() - workers)
                    print(f"{name}_{side}: {times[f'{name}_{side}'][-1]:.2f} s", file=sys.stderr)
    assert len(set(counts.values())) == 1, counts  # both paths monitor the same windows
    medians = {k: round(statistics.median(v), 3) for k, v in times.items()}
    out: dict[str, Any] = {
        "rows": args.rows,
        "windows": args.windows,
        "windows_with_rows": counts["reads_series"],
        "repeat": args.repeat,
        "judge_workers": args.judge_workers,
        "median_s": medians,
        # CPU seconds of the process (all its threads) and of its judging workers: steadier
        # than wall time when other jobs share the cores
        "median_cpu_s": {k: round(statistics.median(v), 3) for k, v in cpu_times.items()},
        # of which the judging workers' (the backfill's own process: the rest)
        "median_workers_cpu_s": {
            k: round(statistics.median(v), 3) for k, v in worker_times.items()
        },
    }
    if not args.series_only:
        for name in pairs:
            out[f"ratio_{name}"] = round(
                medians[f"{name}_per_window"] / medians[f"{name}_series"], 2
            )
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
