"""Server-side render time of each dashboard page on generated history (not a test).

    PYTHONPATH=src python benchmarks/ui_pages.py [--models 50] [--days 365] [--repeat 7]

Generates, in a SQLite ops store in a temporary folder, `--models` models each with three
versions (trained, registered, gate, approval events), two deployments and a monitored
window every hour for `--days` days (12 features with histograms, realised and estimated
performance, a multivariate score, quality checks), written in bulk through the store's
own tables and digests. Then renders every page in process through the dashboard's app
(FastAPI TestClient, logged in, the store read as `opsloop ui` reads it), `--repeat`
times each, and prints the median and worst milliseconds per page and the median CPU
milliseconds of the process. The monitoring page shows its default 48 windows, a week
(168, the most it shows one by one), and a month (its most) aggregated per day in SQL,
also a page back in the history; the overview builds all models' status.

`--db PATH` keeps the generated store for the next run (generating takes ~10 minutes);
`--profile PAGE` prints where a page's time goes; `--screenshot PNG` saves the month per
day (docs/screenshots/monitoring-days.png).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

FEATURES = [f"f{i:02d}" for i in range(12)]


def summary(rng: random.Random, start: datetime, end: datetime) -> dict[str, Any]:
    features = []
    for name in FEATURES:
        stat = rng.random() * 0.2
        status = "drifted" if stat > 0.17 else ("immaterial" if stat > 0.14 else "ok")
        features.append(
            {
                "name": name,
                "kind": "numeric",
                "test": "ks_exact",
                "statistic": stat,
                "p_value": max(0.0, 0.5 - stat * 2),
                "drifted": status == "drifted",
                "status": status,
                "effect": "wasserstein",
                "effect_size": stat,
                "floor": 0.1,
                "n": 500,
                "reference_counts": [rng.randint(10, 100) for _ in range(10)],
                "current_counts": [rng.randint(10, 100) for _ in range(10)],
            }
        )
    drifted = [f["name"] for f in features if f["drifted"]]
    perf = 0.7 + rng.random() * 0.1
    return {
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
        "n_rows": 500,
        "n_labelled": 200,
        "drift": {
            "features": features,
            "share": len(drifted) / len(FEATURES),
            "detected": len(drifted) >= 4,
            "tested": len(FEATURES),
            "drifted_features": drifted,
        },
        "drifted_features": drifted,
        "performance_metric": "roc_auc",
        "performance_value": perf,
        "performance_floor": 0.7,
        "performance_degraded": perf < 0.7,
        "estimated_performance": {
            "method": "cbpe",
            "metric": "roc_auc",
            "value": perf + 0.01,
            "lower": perf - 0.05,
            "upper": perf + 0.06,
            "degraded": False,
            "n": 500,
        },
        "multivariate": {"method": "pca", "value": 2.0 + rng.random(), "lower": 1.8, "upper": 2.9},
        "quality": {
            "passed": True,
            "checks": [
                {"check": "missing_rate", "feature": f, "status": "ok", "value": 0.0}
                for f in FEATURES
            ],
        },
    }


def generate(url: str, models: list[str], days: int) -> None:
    import sqlalchemy as sa

    from opsloop.core.digest import digest
    from opsloop.store import OpsStore
    from opsloop.store import schema as t

    store = OpsStore(url)
    rng = random.Random(7)
    end = datetime(2026, 12, 1, tzinfo=UTC)
    start = end - timedelta(days=days)
    for name in models:
        for v in ("1", "2", "3"):
            store.add_event(
                "trained",
                name,
                version=v,
                summary="trained",
                evidence={"metrics": {"roc_auc": 0.7 + int(v) / 100}, "rows": 1000, "window": "w"},
            )
            store.add_event(
                "registered", name, version=v, summary="registered", evidence={"run_id": f"r{v}"}
            )
        store.record_deployment(name, "1", reason="first")
        store.record_deployment(name, "2", reason="better")
        rows = []
        hour = start
        while hour < end:
            s = summary(rng, hour, hour + timedelta(hours=1))
            rows.append(
                {
                    "ts": hour + timedelta(hours=1, minutes=5),
                    "model": name,
                    "version": "2",
                    "window_start": hour,
                    "window_end": hour + timedelta(hours=1),
                    "n_rows": 500,
                    "n_labelled": 200,
                    "drift_detected": s["drift"]["detected"],
                    "drift_share": s["drift"]["share"],
                    "performance_metric": "roc_auc",
                    "performance_value": s["performance_value"],
                    "performance_degraded": s["performance_degraded"],
                    "report_path": None,
                    "summary": s,
                    "digest": digest(s),
                }
            )
            hour += timedelta(hours=1)
        with store.engine.begin() as conn:
            conn.execute(sa.insert(t.monitor_results), rows)
    store.close()


def profile(client: Any, pages: dict[str, str]) -> None:
    """cProfile of one render of each page (after a warm-up), top functions by cumulative
    time. FastAPI runs a page's (sync) function in a worker thread, which a profiler
    enabled here would not see: the profiler is switched on around that call instead."""
    import cProfile
    import pstats

    import fastapi.routing

    prof = cProfile.Profile()
    threadpool = fastapi.routing.run_in_threadpool

    async def profiled(func: Any, *args: Any, **kwargs: Any) -> Any:
        prof.enable()
        try:
            return func(*args, **kwargs)
        finally:
            prof.disable()

    for label, path in pages.items():
        assert client.get(path).status_code == 200, path
        prof = cProfile.Profile()
        fastapi.routing.run_in_threadpool = profiled  # type: ignore[assignment]
        try:
            assert client.get(path).status_code == 200, path
        finally:
            fastapi.routing.run_in_threadpool = threadpool
        print(f"==== {label}: {path}")
        pstats.Stats(prof).sort_stats("cumulative").print_stats(40)


def screenshot(app: Any, path: str, out: Path) -> None:
    """Serve `app` on a free port in a thread and save `path`'s page as `out`."""
    import socket
    import sys
    import threading

    import uvicorn
    from playwright.sync_api import sync_playwright

    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "tests"))
    sys.path.insert(0, str(root / "scripts"))
    from screenshots import shoot

    from uibrowser import launch

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.1)
    try:
        with sync_playwright() as pw:
            browser = launch(pw)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"http://127.0.0.1:{port}{path}")
            shoot(page, out, 1280)
            browser.close()
    finally:
        server.should_exit = True
        thread.join()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=50)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument(
        "--db",
        type=Path,
        help="keep the generated SQLite ops store at this path and reuse it when it exists "
        "(it must have been generated with the same --models and --days)",
    )
    ap.add_argument(
        "--profile",
        metavar="PAGE",
        help="instead of timing, print the cProfile of the pages whose label contains PAGE",
    )
    ap.add_argument(
        "--screenshot",
        type=Path,
        metavar="PNG",
        help="instead of timing, save a screenshot of the first model's month of windows "
        "(aggregated per day) to PNG, served by uvicorn and shot by Chromium (as "
        "scripts/screenshots.py)",
    )
    args = ap.parse_args()

    from fastapi.testclient import TestClient

    from opsloop.config import ProjectConfig
    from opsloop.services import ReadService
    from opsloop.store import OpsStore
    from opsloop.store.reader import open_reader
    from opsloop.ui import UIModel, UISite
    from opsloop.ui.app import create_ui_app

    names = [f"model{i:02d}" for i in range(args.models)]
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "ops.db"
        url = f"sqlite:///{db.resolve()}"
        if not db.exists():
            began = time.perf_counter()
            generate(url, names, args.days)
            windows = args.models * args.days * 24
            print(
                f"generated {args.models} models × {args.days * 24} hourly windows "
                f"({windows} rows) in {time.perf_counter() - began:.0f}s"
            )
        store = OpsStore(url)  # creates or upgrades the database, as `opsloop ui` does
        # then, as `ui.site.model_from_runtime`: pages read through the DB-API reader
        reads = open_reader(url) or store
        site = UISite(
            [
                UIModel(
                    ReadService(
                        reads, ProjectConfig(model=n, target="y", id_column="id", time_column="ts")
                    )
                )
                for n in names
            ],
            public_read=True,
        )
        client = TestClient(create_ui_app(site))
        m = names[0]
        pages = {
            "overview (all models)": "/ui/",
            "model": f"/ui/models/{m}",
            "model, comparing two": f"/ui/models/{m}?a=1&b=2",
            "deployment": f"/ui/models/{m}/deployment",
            "monitoring (48 windows)": f"/ui/models/{m}/monitoring",
            "monitoring (168 windows)": f"/ui/models/{m}/monitoring?windows=168",
            "monitoring (720, per day)": f"/ui/models/{m}/monitoring?windows=720",
            "monitoring (720, a page back)": (
                f"/ui/models/{m}/monitoring?windows=720&to=2026-10-01T00:00"
            ),
            "events (every model)": "/ui/events",
            "events (one model, kind)": f"/ui/events?model={m}&kind=trained",
        }
        if args.screenshot:
            screenshot(
                create_ui_app(site), f"/ui/models/{m}/monitoring?windows=744", args.screenshot
            )
            return
        if args.profile:
            profile(client, {k: v for k, v in pages.items() if args.profile in k})
            return
        # wall time, and the process's CPU time (every thread: the page runs in a worker
        # thread): on a machine shared with other work the CPU time is the steadier figure
        print(f"{'page':30} {'median ms':>10} {'worst ms':>9} {'median CPU ms':>14}")
        for label, path in pages.items():
            assert client.get(path).status_code == 200, path  # warm-up (templates compiled)
            times, cpu = [], []
            for _ in range(args.repeat):
                t0, c0 = time.perf_counter(), time.process_time()
                response = client.get(path)
                times.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.process_time() - c0) * 1000)
                assert response.status_code == 200
            print(
                f"{label:30} {statistics.median(times):10.1f} {max(times):9.1f} "
                f"{statistics.median(cpu):14.1f}"
            )
        store.close()


if __name__ == "__main__":
    main()
