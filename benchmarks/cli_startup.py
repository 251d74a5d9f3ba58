"""Whole-process CLI timings: `opsloop --help` vs `mlflow --help` (and zenml if installed),
and opsloop's everyday read/write commands — `status`, `events --limit 50` and
`labels add` (a small labels file) — on a project with history that the benchmark creates
once (`opsloop init` + `opsloop train` in a temporary folder). Median wall time (and CPU
time, steadier on a shared machine) of N runs, interleaved so machine noise hits all alike.
Targets: `--help` <= 0.3 s; `status`, `events`, `labels add` <= 0.5 s.

    .venv/bin/python benchmarks/cli_startup.py [--runs 9] [--project PATH]
"""

from __future__ import annotations

import argparse
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


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of the whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--project", type=Path, help="reuse (or create) this project")
    args = parser.parse_args()
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
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, cmd in commands.items():
            wall, used = timed(cmd)
            times[name].append(wall)
            cpu[name].append(used)
    base = statistics.median(times["opsloop --help"])
    # CPU time is the steadier figure when other work shares the machine
    print(f"{'command':<20} {'median s':>9} {'cpu s':>6} {'vs opsloop --help':>18}  target")
    for name, values in times.items():
        med = statistics.median(values)
        used = statistics.median(cpu[name])
        limit = TARGETS.get(name)
        met = "met" if limit is not None and med <= limit else "NOT met"
        verdict = "" if limit is None else f"<= {limit:.1f} s {met}"
        print(f"{name:<20} {med:9.3f} {used:6.3f} {med / base:17.1f}x  {verdict}")
    print(f"project: {root}")


if __name__ == "__main__":
    main()
