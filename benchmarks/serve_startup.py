"""`opsloop serve` start-up to ready, alone: wall and CPU seconds per start, and where they go.

`benchmarks/serve_vs_mlflow.py --startup-runs N` times the same thing next to MLflow (whose
own start takes 5–9 s here); this script times only opsloop, so a median over many restarts
is cheap. One run trains the churn example (`opsloop init --example churn`, 12,000 rows) in a
temporary folder (or reuses `--project`), then starts `opsloop serve` `--runs` times, each
pinned to core 0 with `taskset` when there are two cores or more, and stops it once
`/v2/health/ready` answers 200 (polled every 10 ms). The first start after training fills
the model cache (`opsloop/modelcache.py`); the later ones are restarts. The sources are
byte-compiled first, as an installed wheel is. Per start: wall
seconds from `Popen` to the 200, and the server's CPU seconds (user + system, from
`/proc/<pid>/stat`) at that moment — steadier than wall time on a shared machine.

    .venv/bin/python benchmarks/serve_startup.py                       # first start + 5 restarts
    .venv/bin/python benchmarks/serve_startup.py --runs 9 --project DIR # reuse a trained project
    .venv/bin/python benchmarks/serve_startup.py --cold                 # empty the cache first
    .venv/bin/python benchmarks/serve_startup.py --profile P --importtime T  # one restart each

`--profile FILE` runs one more restart under cProfile from the process's first line to the
end of uvicorn's start-up (lifespan done, socket bound: what ready waits for) and prints
the largest cumulative entries; `--importtime FILE` one under `python -X importtime`, with
the largest top-level imports. Nothing leaves the loopback interface.
"""

from __future__ import annotations

import argparse
import os
import pstats
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from machine import machine  # benchmarks/machine.py, beside this script

REPO = Path(__file__).resolve().parents[1]
CHURN_ROWS = 12_000
TICKS = os.sysconf("SC_CLK_TCK")

# cProfile from the first line to the end of uvicorn's start-up (the lifespan has loaded
# the model and the socket is bound), then the profile is written and serving goes on.
PROFILED = """
import cProfile, sys
out = sys.argv[1]
sys.argv = ["opsloop", *sys.argv[2:]]
prof = cProfile.Profile()
prof.enable()
import uvicorn
_startup = uvicorn.Server.startup
async def startup(self, sockets=None):
    await _startup(self, sockets)
    prof.disable()
    prof.dump_stats(out)
uvicorn.Server.startup = startup
from opsloop.cli import main
main()
"""


@dataclass(frozen=True)
class Start:
    wall: float  # seconds from Popen to the first 200 on /v2/health/ready
    cpu: float  # the server's user + system seconds at that moment
    rss_mib: float


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_once(cmd: list[str], port: int, log: Path, timeout: float = 120.0) -> Start:
    """Start `cmd`, wait for ready, measure, stop it."""
    url = f"http://127.0.0.1:{port}/v2/health/ready"
    with log.open("ab") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError(f"the server exited with {proc.returncode}; see {log}")
                try:
                    with urllib.request.urlopen(url, timeout=2) as r:
                        if r.status == 200:
                            wall = time.perf_counter() - t0
                            # taskset execs the server: same pid
                            return Start(wall, cpu_seconds(proc.pid), rss_mib(proc.pid))
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
                time.sleep(0.01)
            raise RuntimeError(f"{url} did not answer within {timeout:.0f} s; see {log}")
        finally:
            stop(proc)


def compile_sources() -> None:
    """Byte-compile the opsloop package the servers import, once, as `pip install` does:
    where PYTHONDONTWRITEBYTECODE is set (this machine's shells) every start from a source
    checkout would otherwise compile ~80 modules again (~0.06–0.1 s of CPU here)."""
    import compileall

    compileall.compile_dir(REPO / "src" / "opsloop", quiet=1)


def train(root: Path) -> None:
    sys.path.insert(0, str(REPO / "src"))
    from opsloop.project import Project
    from opsloop.scaffold import init_project

    init_project(root, example="churn", rows=CHURN_ROWS)
    outcome = Project(root).train()
    if not outcome.promoted:
        raise RuntimeError(f"training did not promote a version: {outcome.gate_reasons}")


def top_imports(path: Path, n: int = 25) -> list[tuple[int, str]]:
    """The largest cumulative import times (µs) of top-level packages."""
    best: dict[str, int] = {}
    for line in path.read_text().splitlines():
        parts = line.split("|")
        if not line.startswith("import time:") or len(parts) != 3:
            continue
        cumulative, raw = parts[1].strip(), parts[2]
        if not cumulative.isdigit() or len(raw) - len(raw.lstrip()) != 1:
            continue  # the header, or nested (indented under its importer)
        best[raw.strip()] = best.get(raw.strip(), 0) + int(cumulative)
    return sorted(((us, name) for name, us in best.items()), reverse=True)[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6, help="starts (the first fills the cache)")
    parser.add_argument("--project", type=Path, help="a trained project to reuse")
    parser.add_argument("--cold", action="store_true", help="empty the model cache first")
    parser.add_argument("--profile", type=Path, help="one more restart under cProfile")
    parser.add_argument("--importtime", type=Path, help="one more restart, -X importtime")
    parser.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="opsloop-startup-"))
    root = args.project.resolve() if args.project else tmp / "project"
    env_path = os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))
    os.environ["PYTHONPATH"] = env_path
    pin = (
        ["taskset", "-c", "0"]
        if not args.no_pin and shutil.which("taskset") and (os.cpu_count() or 1) >= 2
        else []
    )
    try:
        print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}", flush=True)
        compile_sources()
        if not (root / "opsloop.yaml").exists():
            print(f"training the churn example in {root} ...", flush=True)
            train(root)
        if args.cold:
            shutil.rmtree(root / ".opsloop" / "cache" / "models", ignore_errors=True)
        log = tmp / "serve.log"
        serve = ["-m", "opsloop", "serve", "-p", str(root), "--port"]
        starts: list[Start] = []
        for run in range(max(1, args.runs)):
            port = free_port()
            s = start_once([*pin, sys.executable, *serve, str(port)], port, log)
            starts.append(s)
            print(
                f"  start {run + 1}: {s.wall:5.2f} s wall, {s.cpu:5.2f} s CPU, "
                f"{s.rss_mib:4.0f} MiB  (load {os.getloadavg()[0]:.2f})",
                flush=True,
            )
        restarts = starts[1:] or starts
        print(
            f"first start {starts[0].wall:.2f} s (CPU {starts[0].cpu:.2f} s); median of "
            f"{len(restarts)} restart(s): {statistics.median(s.wall for s in restarts):.2f} s "
            f"wall, {statistics.median(s.cpu for s in restarts):.2f} s CPU; "
            f"load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        if args.profile:
            port = free_port()
            cmd = [*pin, sys.executable, "-c", PROFILED, str(args.profile), *serve[2:], str(port)]
            s = start_once(cmd, port, log)
            print(f"\nprofiled restart: {s.wall:.2f} s wall, {s.cpu:.2f} s CPU", flush=True)
            pstats.Stats(str(args.profile)).sort_stats("cumulative").print_stats(40)
        if args.importtime:
            port = free_port()
            cmd = [*pin, sys.executable, "-X", "importtime", *serve, str(port)]
            with args.importtime.open("wb") as out:
                proc_log = tmp / "importtime.log"
                start_once(cmd, port, proc_log)
                out.write(proc_log.read_bytes())
            print(f"\nlargest top-level imports ({args.importtime}):")
            for us, name in top_imports(args.importtime):
                print(f"  {us / 1e6:6.3f} s  {name}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
