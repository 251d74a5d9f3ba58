"""`opsloop --help` vs `mlflow --help` (and zenml if installed): median wall time of whole
processes, run alternately on the same machine. Target: opsloop ≤ 0.3 s.

    .venv/bin/python benchmarks/cli_startup.py [--runs 9]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    peers = {"opsloop": [str(BIN / "opsloop"), "--help"], "mlflow": [str(BIN / "mlflow"), "--help"]}
    zenml = shutil.which("zenml")
    if zenml:
        peers["zenml"] = [zenml, "--help"]
    times: dict[str, list[float]] = {name: [] for name in peers}
    for _ in range(args.runs):  # interleaved so machine noise hits all alike
        for name, cmd in peers.items():
            times[name].append(timed(cmd))
    base = statistics.median(times["opsloop"])
    print(f"{'command':<10} {'median s':>9} {'ratio vs opsloop':>17}")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"{name + ' --help':<10} {med:9.3f} {med / base:16.1f}x")
    print(f"target: opsloop --help <= 0.300 s -> {'met' if base <= 0.3 else 'NOT met'}")


if __name__ == "__main__":
    main()
