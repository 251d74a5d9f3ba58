"""The cost of `serve.log_durability: request` against the default `batch`, same server,
same model, same machine (docs/reliability.md).

`request` appends each answered request to an fsync'd journal before the answer; `batch`
queues it in memory and writes Parquet every `log_flush_interval` (a SIGKILL loses up to one
interval). One run trains the 20-feature HistGradientBoosting project of
`serve_vs_mlflow.py` through opsloop, then serves it in each mode in turn (a fresh
`opsloop serve` per cell, modes interleaved in rounds) and drives `/v2/models/<m>/infer`
with that benchmark's closed-loop load generator (one row per request; 1 and 8 keep-alive
connections; the generator pinned to another core than the server). The table shows each
cell's median over rounds and the ratios request / batch.

    .venv/bin/python benchmarks/predlog_durability.py           # ~3 minutes
    .venv/bin/python benchmarks/predlog_durability.py --quick   # ~1 minute

Nothing is installed; no request leaves the loopback interface; every loop is bounded.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from machine import machine  # benchmarks/machine.py, beside this script
from serve_vs_mlflow import (
    MODEL,
    REPO,
    Scenario,
    Target,
    free_port,
    pinned,
    request_bodies,
    run_cell,
    stop,
    wait_http,
    write_project,
)

MODES = ("batch", "request")
SCENARIOS = (Scenario("1 conn", 1, 1), Scenario("8 conns", 1, 8))


def configure(root: Path, mode: str) -> None:
    text = (root / "opsloop.yaml").read_text().split("serve:")[0]
    (root / "opsloop.yaml").write_text(text + f"serve: {{log_durability: {mode}}}\n")


def serve(root: Path, port: int, core: int | None, log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "opsloop", "serve", "-p", str(root), "--port", str(port)]
    with log.open("ab") as out:
        env = {**os.environ, "PYTHONPATH": str(REPO / "src")}  # this checkout's opsloop
        proc = subprocess.Popen(
            pinned(cmd, core), stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root
        )
    wait_http(f"http://127.0.0.1:{port}/v2/health/ready", proc)
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 4 s cells")
    parser.add_argument("--keep", action="store_true", help="keep the temporary project")
    args = parser.parse_args()
    rounds, warmup, duration = (1, 1.0, 4.0) if args.quick else (3, 2.0, 8.0)
    two = (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
    server_core, client_core = (0, 1) if two else (None, None)
    tmp = Path(tempfile.mkdtemp(prefix="opsloop-durability-"))
    root = tmp / "project"
    try:
        print(f"machine: {machine()}", flush=True)
        print(f"project in {root}; training through opsloop ...", flush=True)
        write_project(root)
        sys.path.insert(0, str(REPO / "src"))
        from opsloop.project import Project

        if not Project(root).train().promoted:
            raise RuntimeError("training did not promote a version")
        bodies = {(1, "oip"): request_bodies(1, 500, seed=1)["oip"]}
        results: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in range(rounds):
            for mode in MODES if r % 2 == 0 else reversed(MODES):
                configure(root, mode)
                port = free_port()
                proc = serve(root, port, server_core, tmp / f"{mode}.log")
                try:
                    target = Target(mode, port, f"/v2/models/{MODEL}/infer", "oip")
                    for scenario in SCENARIOS:
                        cell = run_cell(target, scenario, bodies, warmup, duration, client_core)
                        if cell["errors"]:
                            raise RuntimeError(f"{mode}: {cell['first_error']}")
                        results.setdefault((mode, scenario.label), []).append(cell)
                        print(
                            f"round {r + 1} {mode:8s} {scenario.label:8s} "
                            f"{cell['rps']:8.0f} req/s  p50 {cell['p50_ms']:6.2f} ms  "
                            f"p99 {cell['p99_ms']:6.2f} ms",
                            flush=True,
                        )
                finally:
                    stop(proc)
        report(results)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def report(results: dict[tuple[str, str], list[dict[str, Any]]]) -> None:
    def med(mode: str, scenario: str, key: str) -> float:
        return statistics.median(c[key] for c in results[(mode, scenario)])

    print("\nmedians over rounds; ratio = request / batch")
    print(f"{'scenario':10s} {'mode':8s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s}")
    for s in SCENARIOS:
        for mode in MODES:
            print(
                f"{s.label:10s} {mode:8s} {med(mode, s.label, 'rps'):8.0f} "
                f"{med(mode, s.label, 'p50_ms'):8.2f} {med(mode, s.label, 'p99_ms'):8.2f}"
            )
        ratio = [
            med("request", s.label, k) / med("batch", s.label, k)
            for k in ("rps", "p50_ms", "p99_ms")
        ]
        print(f"{s.label:10s} {'ratio':8s} {ratio[0]:8.2f}x {ratio[1]:7.2f}x {ratio[2]:7.2f}x")


if __name__ == "__main__":
    main()
