"""Whole-process CLI timings: `opsloop --help` vs `mlflow --help` (and zenml if installed),
and opsloop's everyday read/write commands — `status`, `events --limit 50` and
`labels add` (a small labels file) — on a project with history that the benchmark creates
once (`opsloop init` + `opsloop train` in a temporary folder). Median wall time (and CPU
time, steadier on a shared machine) of N runs, interleaved so machine noise hits all alike,
each with its ratio to its target (<= 1.0 is met): `--help` <= 0.3 s; `status`, `events`,
`labels add` <= 0.5 s. Peers: `mlflow --help`, and `mlflow experiments search` on the
same project's tracking database (MLflow's CLI reading its own store, the nearest peer of
`opsloop status`/`events`), with opsloop's ratio to each.

    .venv/bin/python benchmarks/cli_startup.py [--runs 9] [--project PATH]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
TARGETS = {"opsloop --help": 0.3, "status": 0.5, "events --limit 50": 0.5, "labels add": 0.5}
PEERS = [
    ("opsloop --help", "mlflow --help"),
    ("opsloop --help", "zenml --help"),
    ("status", "mlflow experiments search"),
    ("events --limit 50", "mlflow experiments search"),
]


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of the whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def make_project(root: Path) -> Path:
    """A trained churn project with a labels file (created once; reused with --project)."""
    opsloop = str(BIN / "opsloop")
    if not (root / "opsloop.yaml").exists():
        subprocess.run([opsloop, "init", str(root), "--example", "churn"], check=True)
        subprocess.run([opsloop, "train", "-p", str(root)], check=True, capture_output=True)
    return root


def peer_env(root: Path) -> dict[str, str]:
    """MLflow's CLI pointed at the project's tracking database (`stack.tracking_uri`)."""
    uri = f"sqlite:///{root.resolve() / '.opsloop' / 'mlflow.db'}"
    return {**os.environ, "MLFLOW_TRACKING_URI": uri}


def compile_sources() -> None:
    """Byte-compile the opsloop package the children import, once, as `pip install` does:
    where PYTHONDONTWRITEBYTECODE is set (this machine's shells) every run of a source
    checkout would otherwise compile its modules again (~0.1 s of CPU per command)."""
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("opsloop")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        compileall.compile_dir(folder, quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--project", type=Path, help="reuse (or create) this project")
    args = parser.parse_args()
    compile_sources()
    root = make_project(args.project or Path(tempfile.mkdtemp(prefix="opsloop-cli-")) / "p")
    opsloop = str(BIN / "opsloop")
    commands = {
        "opsloop --help": [opsloop, "--help"],
        "mlflow --help": [str(BIN / "mlflow"), "--help"],
    }
    zenml = shutil.which("zenml")
    if zenml:
        commands["zenml --help"] = [zenml, "--help"]
    commands |= {
        "status": [opsloop, "status", "-p", str(root)],
        "events --limit 50": [opsloop, "events", "-p", str(root), "--limit", "50"],
        "labels add": [opsloop, "labels", "add", str(root / "labels.parquet"), "-p", str(root)],
    }
    commands["mlflow experiments search"] = [str(BIN / "mlflow"), "experiments", "search"]
    env = {"mlflow experiments search": peer_env(root)}
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, cmd in commands.items():
            wall, used = timed(cmd, env.get(name))
            times[name].append(wall)
            cpu[name].append(used)
    med = {name: statistics.median(values) for name, values in times.items()}
    # CPU time is the steadier figure when other work shares the machine
    print(f"median of {args.runs} interleaved runs; ratio = median / target (<= 1.0 met)")
    print(f"{'command':<26} {'median s':>9} {'cpu s':>6} {'target s':>9} {'ratio':>6}")
    for name in commands:
        used = statistics.median(cpu[name])
        limit = TARGETS.get(name)
        target = "" if limit is None else f"{limit:9.1f} {med[name] / limit:6.2f}"
        verdict = "" if limit is None else ("  met" if med[name] <= limit else "  NOT met")
        print(f"{name:<26} {med[name]:9.3f} {used:6.3f} {target}{verdict}")
    print("peers (opsloop / peer, < 1 is faster):")
    for ours, peer in PEERS:
        if ours in med and peer in med:
            print(f"  {ours:<22} vs {peer:<26} {med[ours] / med[peer]:6.2f}x")
    print(f"project: {root}")


if __name__ == "__main__":
    main()
