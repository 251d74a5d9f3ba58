"""`opsloop serve` vs `mlflow models serve` on the same MLflow model version, same machine.

One run builds a temporary opsloop project, trains and registers its model through opsloop
(so both servers load the same `models:/<name>/<version>`), starts both servers with the
same worker count, and drives them with the same closed-loop load generator: a separate
process with keep-alive connections (asyncio, raw HTTP/1.1), pinned to another core than the
servers with `taskset` when there is one. Cells (scenario × server route) run interleaved in
rounds; the table shows each cell's median over rounds and the ratios opsloop / MLflow.

Models (`--model`):
- `churn` (default): the project `opsloop init --example churn` gives every new user — a
  `Pipeline` of a `ColumnTransformer`/`OneHotEncoder` over 5 string columns and a
  `HistGradientBoostingClassifier` over those and 10 numeric features (the model users ship);
- `numeric`: a HistGradientBoostingClassifier on 20 numeric features (the earlier default).

    .venv/bin/python benchmarks/serve_vs_mlflow.py                    # ~7 minutes
    .venv/bin/python benchmarks/serve_vs_mlflow.py --quick            # ~2 minutes
    .venv/bin/python benchmarks/serve_vs_mlflow.py --model numeric

MLflow gets `POST /invocations` with `dataframe_split`; opsloop gets the same request on its
`/invocations` (the drop-in comparison), the same rows as records on `/predict` and as
per-feature tensors on OIP v2 `/v2/models/<m>/infer` (MLflow has neither route: every ratio
is against MLflow's `/invocations`). `--batching` adds an opsloop server with
`serve.batching.enabled: true` (a second project folder on the same registry and ops store).
Every server answers every request from the model; opsloop additionally validates each value
and logs every prediction to Parquet.

Besides throughput and latency: start-up time (process start → ready: opsloop's
`/v2/health/ready`, MLflow's `/ping`, which is its readiness route; opsloop's first start
fills its model cache, later starts read it; the sources are byte-compiled first, as an
installed wheel has them), the resident memory of each serving process
after the load (the process tree's largest member, which holds the model, and the tree's
total), opsloop's inference path and its longest garbage-collection pause from `/metrics`.
`--memory-trace` also samples each serving process's RSS, anonymous memory and peak after
every cell and after an idle pause at the end, and prints where its RSS is
(benchmarks/procmem.py), so the growth per cell is visible.

Nothing is installed; only stdlib is imported in the load-generator process. No request
leaves the loopback interface, and every loop is bounded in time and count.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from machine import machine  # benchmarks/machine.py, beside this script
from procmem import by_kind, rollup  # benchmarks/procmem.py

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
MODEL = "bench"
N_FEATURES = 20
FEATURES = [f"f{i:02d}" for i in range(N_FEATURES)]
CHURN_ROWS = 12_000
MAX_REQUESTS_PER_CELL = 200_000  # a hard bound besides the duration
IDLE_AFTER_LOAD = 5.0  # --memory-trace: seconds between the load's end and the last sample

# ---- the load generator (stdlib only; runs in its own process) ---------------------------


def _request_bytes(path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _connection(
    port: int,
    requests: list[bytes],
    offset: int,
    warmup_until: float,
    stop_at: float,
    latencies: list[float],
    errors: list[str],
    budget: list[int],
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    i = offset
    try:
        while budget[0] > 0:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                break
            writer.write(requests[i % len(requests)])
            i += 1
            head = await reader.readuntil(b"\r\n\r\n")
            status = head[9:12]
            length = -1
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
                elif name.strip().lower() == b"transfer-encoding":
                    raise RuntimeError("chunked responses are not supported")
            if length < 0:
                raise RuntimeError("response without Content-Length")
            body = await reader.readexactly(length)
            t1 = time.perf_counter()
            if t0 < warmup_until:
                continue
            budget[0] -= 1
            if status != b"200":
                errors.append(f"{status.decode()}: {body[:200].decode(errors='replace')}")
            latencies.append(t1 - t0)
    finally:
        writer.close()


async def _drive(spec: dict[str, Any]) -> dict[str, Any]:
    requests = [_request_bytes(spec["path"], b.encode()) for b in spec["bodies"]]
    now = time.perf_counter()
    warmup_until = now + spec["warmup"]
    stop_at = warmup_until + spec["duration"]
    latencies: list[float] = []
    errors: list[str] = []
    budget = [spec.get("max_requests", MAX_REQUESTS_PER_CELL)]
    await asyncio.gather(
        *(
            _connection(
                spec["port"], requests, k * 7, warmup_until, stop_at, latencies, errors, budget
            )
            for k in range(spec["concurrency"])
        )
    )
    elapsed = min(time.perf_counter(), stop_at) - warmup_until
    latencies.sort()

    def pct(q: float) -> float:
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    return {
        "requests": len(latencies),
        "errors": len(errors),
        "first_error": errors[:1],
        "seconds": elapsed,
        "rps": len(latencies) / elapsed if elapsed > 0 else 0.0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
    }


def _run(coro: Any) -> Any:
    try:  # uvloop comes with uvicorn[standard]; the stdlib loop works too, only slower
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)


def loadgen_main() -> None:
    result = _run(_drive(json.loads(sys.stdin.read())))
    sys.stdout.write(json.dumps(result) + "\n")


# ---- a trivial HTTP server: how fast the load generator itself can go -----------------


async def _trivial(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    reply = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            writer.write(reply)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


def trivial_server_main(port: int, seconds: float) -> None:
    async def serve() -> None:
        server = await asyncio.start_server(_trivial, "127.0.0.1", port)
        async with server:
            await asyncio.sleep(seconds)  # bounded: it exits by itself

    _run(serve())


# ---- the benchmark -------------------------------------------------------------------

PROJECT_YAML = f"""\
model: {MODEL}
task: binary_classification
target: label
id_column: row_id
time_column: event_time
gate: {{metric: roc_auc, policy: non_inferiority, margin: 0.05, approval: auto}}
"""

MODEL_PY = """\
from pathlib import Path

import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

DATA = Path(__file__).parent / "data"


def load(window):
    frame = pd.read_parquet(DATA / "history.parquet")
    keep = (frame["event_time"] >= window.start) & (frame["event_time"] < window.end)
    return frame[keep].sort_values("event_time").reset_index(drop=True)


def build():
    return HistGradientBoostingClassifier(max_iter=100, max_leaf_nodes=31,
                                          early_stopping=False, random_state=0)
"""


def write_project(root: Path, rows: int = 6000) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    x = rng.normal(size=(rows, N_FEATURES))
    logit = x[:, :5] @ np.array([1.2, -0.8, 0.6, 0.4, -0.3]) + 0.5 * x[:, 5] * x[:, 6]
    label = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    end = pd.Timestamp.now(tz="UTC")
    times = end - pd.to_timedelta(np.sort(rng.uniform(0, 20 * 86400, rows))[::-1], unit="s")
    frame = pd.DataFrame(x, columns=FEATURES)
    frame.insert(0, "row_id", [f"r{i}" for i in range(rows)])
    frame.insert(1, "event_time", pd.DatetimeIndex(times).as_unit("us"))
    frame["label"] = label
    (root / "data").mkdir(parents=True)
    frame.to_parquet(root / "data" / "history.parquet", index=False)
    (root / "opsloop.yaml").write_text(PROJECT_YAML)
    (root / "model.py").write_text(MODEL_PY)


def write_batching_project(root: Path, trained: Path) -> None:
    """The same model, registry and ops store as `trained`, served with micro-batching."""
    import yaml

    home = trained / ".opsloop"
    root.mkdir(parents=True)
    shutil.copy(trained / "model.py", root / "model.py")
    config = yaml.safe_load((trained / "opsloop.yaml").read_text())
    config.setdefault("serve", {})["batching"] = {"enabled": True}
    config["stack"] = "shared"
    config["stacks"] = {
        "shared": {
            "tracking_uri": f"sqlite:///{home / 'mlflow.db'}",
            "artifact_location": str(home / "artifacts"),
            "ops_store": f"sqlite:///{home / 'ops.db'}",
        }
    }
    (root / "opsloop.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def write_churn_project(root: Path) -> str:
    """`opsloop init --example churn` into `root`; the model's name."""
    from opsloop.scaffold import init_project

    init_project(root, example="churn", rows=CHURN_ROWS)
    return "churn"


def numeric_rows(n_rows: int, rnd: Any) -> list[list[Any]]:
    return [[round(rnd.gauss(0, 1), 6) for _ in FEATURES] for _ in range(n_rows)]


def churn_rows(count: int, seed: int) -> tuple[list[str], list[str], list[list[Any]]]:
    """(feature names, categorical names, rows) drawn from the churn example's generator."""
    from datetime import timedelta

    from opsloop.examples.churn import FEATURES_CATEGORICAL, FEATURES_NUMERIC, generate

    end = datetime.now(UTC)
    frame = generate(count, end - timedelta(days=1), end, seed=seed + 1000)
    numeric = list(FEATURES_NUMERIC)
    categorical = list(FEATURES_CATEGORICAL)
    names = numeric + categorical
    integral = [frame[c].dtype.kind in "iu" for c in numeric]  # MLflow's schema is strict

    def value(k: int, v: Any) -> Any:
        if k >= len(numeric):
            return str(v)
        if v != v:  # missing (the example has missing values): JSON null
            return None
        return int(v) if integral[k] else float(v)

    rows = [[value(k, v) for k, v in enumerate(r)] for r in frame[names].itertuples(index=False)]
    return names, categorical, rows


def request_bodies(model: str, n_rows: int, count: int, seed: int) -> dict[str, list[str]]:
    """The same rows as MLflow dataframe_split, opsloop records and OIP v2 tensors."""
    import random

    rnd = random.Random(seed)
    if model == "numeric":
        names, categorical = FEATURES, []
        pool = numeric_rows(n_rows * count, rnd)
    else:
        names, categorical, pool = churn_rows(n_rows * count, seed)
    split, records, oip = [], [], []
    for i in range(count):
        rows = pool[i * n_rows : (i + 1) * n_rows]
        split.append(json.dumps({"dataframe_split": {"columns": names, "data": rows}}))
        records.append(json.dumps({"records": [dict(zip(names, r, strict=True)) for r in rows]}))
        oip.append(
            json.dumps(
                {
                    "inputs": [
                        {
                            "name": f,
                            "shape": [n_rows],
                            "datatype": "BYTES" if f in categorical else "FP64",
                            "data": [r[j] for r in rows],
                        }
                        for j, f in enumerate(names)
                    ]
                }
            )
        )
    return {"split": split, "records": records, "oip": oip}


def compile_sources() -> None:
    """Byte-compile the opsloop package the servers import, once, as `pip install` does:
    where PYTHONDONTWRITEBYTECODE is set (this machine's shells) every start from a source
    checkout would otherwise compile ~80 modules again (~0.06–0.1 s of CPU here)."""
    import compileall

    compileall.compile_dir(REPO / "src" / "opsloop", quiet=1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(cmd: list[str], core: int | None) -> list[str]:
    return cmd if core is None else ["taskset", "-c", str(core), *cmd]


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass(frozen=True)
class Target:
    label: str
    port: int
    path: str
    body_kind: str  # split | records | oip


@dataclass(frozen=True)
class Scenario:
    label: str
    rows: int
    concurrency: int


def run_cell(
    target: Target,
    scenario: Scenario,
    bodies: dict[tuple[int, str], list[str]],
    warmup: float,
    duration: float,
    core: int | None,
) -> dict[str, Any]:
    spec = {
        "port": target.port,
        "path": target.path,
        "concurrency": scenario.concurrency,
        "bodies": bodies[(scenario.rows, target.body_kind)],
        "warmup": warmup,
        "duration": duration,
    }
    out = subprocess.run(
        pinned([sys.executable, __file__, "--loadgen"], core),
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=False,
        timeout=warmup + duration + 120,
    )
    if out.returncode != 0:
        raise RuntimeError(f"load generator failed: {out.stderr[-2000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def loadgen_capacity(server_core: int | None, client_core: int | None, seconds: float) -> float:
    """Requests/s the load generator reaches against a trivial server (16 connections)."""
    port = free_port()
    server = subprocess.Popen(
        pinned(
            [sys.executable, __file__, "--trivial-server", str(port), str(seconds + 30)],
            server_core,
        )
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        target = Target("trivial", port, "/", "split")
        bodies = {(1, "split"): request_bodies("numeric", 1, 8, 0)["split"]}
        return float(
            run_cell(target, Scenario("", 1, 16), bodies, 0.5, seconds, client_core)["rps"]
        )
    finally:
        stop(server)


def time_to_ready(
    cmd: list[str], url: str, env: dict[str, str], cwd: Path, log: Path, timeout: float = 180.0
) -> float:
    """Seconds from starting `cmd` to `url` answering 200 (polled every 20 ms); stops it."""
    with log.open("ab") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError(f"{cmd[:4]} exited with {proc.returncode}; see {log}")
                try:
                    with urllib.request.urlopen(url, timeout=2) as r:
                        if r.status == 200:
                            return time.perf_counter() - t0
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
                time.sleep(0.02)
            raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")
        finally:
            stop(proc)


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            out += [int(c) for c in task.read_text().split()]
    return out


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree(pid: int) -> list[int]:
    tree, todo = [], [pid]
    while todo and len(tree) < 64:
        p = todo.pop()
        tree.append(p)
        todo += _children(p)
    return tree


def serving_pid(pid: int) -> int:
    """The member of the process tree under `pid` that holds the model: the largest
    (`mlflow models serve` runs uvicorn as a child)."""
    tree = _tree(pid)
    rss = {p: _status_kib(p, "VmRSS") for p in tree}
    return max(rss, key=lambda p: rss[p])


def memory_mib(pid: int) -> dict[str, float]:
    """Memory of the process tree under `pid`: its serving process (RSS, PSS, anonymous,
    peak RSS) and the tree's total RSS and PSS."""
    tree = _tree(pid)
    rolled = {p: rollup(p) for p in tree}
    largest = max(rolled, key=lambda p: rolled[p].rss)
    return {
        **rolled[largest].mib(),
        "tree_rss_mib": sum(r.rss for r in rolled.values()) / 1024,
        "tree_pss_mib": sum(r.pss for r in rolled.values()) / 1024,
        "processes": len(tree),
    }


def memory_line(label: str, memory: dict[str, dict[str, float]]) -> str:
    """One `--memory-trace` line: each server's serving process after `label`."""
    parts = [
        f"{name} {m['rss_mib']:.0f} (anon {m['anon_mib']:.0f}, peak {m['peak_rss_mib']:.0f})"
        for name, m in memory.items()
    ]
    return f"  memory after {label}: RSS MiB " + ", ".join(parts) + f"; load {_load():.1f}"


def _load() -> float:
    return os.getloadavg()[0]


def scrape(port: int) -> dict[str, Any]:
    """opsloop's GC pauses and inference path from `/metrics`."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    longest, collections, paths = 0.0, 0.0, []
    for line in text.splitlines():
        if line.startswith("opsloop_gc_longest_pause_seconds{"):
            longest = max(longest, float(line.rsplit(" ", 1)[1]))
        elif line.startswith("opsloop_gc_collections_total{"):
            collections += float(line.rsplit(" ", 1)[1])
        elif line.startswith("opsloop_inference_path{") and line.endswith(" 1.0"):
            paths.append(line[len("opsloop_inference_path") : line.rindex("}") + 1])
    return {"gc_longest_ms": longest * 1000, "gc_collections": collections, "paths": paths}


def versions() -> str:
    from importlib import metadata

    names = ("mlflow", "scikit-learn", "pandas", "numpy", "fastapi", "uvicorn")
    return ", ".join(f"{n} {metadata.version(n)}" for n in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", choices=("churn", "numeric"), default="churn", help="the model served"
    )
    parser.add_argument("--quick", action="store_true", help="short cells, 2 rounds")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--duration", type=float, default=None, help="seconds per cell")
    parser.add_argument("--warmup", type=float, default=None, help="seconds before each cell")
    parser.add_argument("--workers", type=int, default=1, help="worker processes per server")
    parser.add_argument(
        "--concurrency", default="1,8,32", help="single-row concurrencies (comma-separated)"
    )
    parser.add_argument(
        "--batch-concurrency",
        type=int,
        default=4,
        help="concurrency of the 100-row scenario (0: no 100-row scenario)",
    )
    parser.add_argument("--batching", action="store_true", help="add opsloop with batching")
    parser.add_argument(
        "--startup-runs", type=int, default=3, help="start-up timings per server (median)"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not use taskset")
    parser.add_argument(
        "--memory-trace",
        action="store_true",
        help="sample each serving process's memory after every cell, after an idle pause "
        "at the end, and print where it is (benchmarks/procmem.py)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary project")
    parser.add_argument("--loadgen", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--trivial-server", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loadgen:
        loadgen_main()
        return
    if args.trivial_server:
        trivial_server_main(int(args.trivial_server[0]), float(args.trivial_server[1]))
        return

    rounds = args.rounds or (2 if args.quick else 3)
    duration = args.duration or (2.0 if args.quick else 5.0)
    warmup = args.warmup if args.warmup is not None else (0.5 if args.quick else 1.0)
    cores = os.cpu_count() or 1
    can_pin = not args.no_pin and shutil.which("taskset") is not None and cores >= 2
    # Servers share the first cores (one per worker), the load generator gets the last one.
    server_cores = ",".join(str(c) for c in range(max(1, min(args.workers, cores - 1))))
    server_pin: Any = server_cores if can_pin else None
    client_pin = cores - 1 if can_pin else None

    scenarios = [
        Scenario(f"1 row, c={c}", 1, c) for c in (int(x) for x in args.concurrency.split(","))
    ]
    if args.batch_concurrency > 0:
        scenarios.append(
            Scenario(f"100 rows, c={args.batch_concurrency}", 100, args.batch_concurrency)
        )

    tmp = Path(tempfile.mkdtemp(prefix="opsloop-bench-"))
    root = tmp / "project"
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])
        ),
        "PYTHONUNBUFFERED": "1",
    }
    procs: dict[str, subprocess.Popen[bytes]] = {}
    logs = tmp / "logs"
    logs.mkdir()
    try:
        print(f"machine: {machine()}\nversions: {versions()}", flush=True)
        compile_sources()
        print(f"{args.model} project in {root}; training through opsloop ...", flush=True)
        sys.path.insert(0, str(REPO / "src"))
        if args.model == "numeric":
            write_project(root)
            model = MODEL
        else:
            model = write_churn_project(root)
        from opsloop.project import Project

        outcome = Project(root).train()
        if not outcome.promoted:
            raise RuntimeError(f"training did not promote a version: {outcome.gate_reasons}")
        version = outcome.version
        tags = Project(root).registry.get_version(model, version).tags
        registered_path = (
            f"{tags.get('opsloop.inference_path')} ({tags.get('opsloop.inference_reason')})"
        )
        print(f"version {version}, verified at registration: {registered_path}", flush=True)
        server_env = {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{root / '.opsloop' / 'mlflow.db'}"}

        folders = {"opsloop": root}
        if args.batching:
            folders["opsloop+batching"] = tmp / "project-batching"
            write_batching_project(folders["opsloop+batching"], root)
        ports = {name: free_port() for name in ("mlflow", *folders)}
        commands = {
            "mlflow": [
                str(BIN / "mlflow"),
                "models",
                "serve",
                "-m",
                f"models:/{model}/{version}",
                "--env-manager",
                "local",
                "--workers",
                str(args.workers),
                "--host",
                "127.0.0.1",
                "--port",
                str(ports["mlflow"]),
            ]
        }
        for name, folder in folders.items():
            commands[name] = [
                sys.executable,
                "-m",
                "opsloop",
                "serve",
                "-p",
                str(folder),
                "--port",
                str(ports[name]),
            ]
            if args.workers != 1:
                commands[name] += ["--workers", str(args.workers)]
        ready_path = {name: "/v2/health/ready" for name in folders} | {"mlflow": "/ping"}

        # Start-up: process start → ready, each server alone (opsloop's first start also
        # fills its model cache; the later ones are restarts).
        startup: dict[str, list[float]] = {"mlflow": [], "opsloop": []}
        for run in range(max(1, args.startup_runs)):
            for name in ("mlflow", "opsloop"):
                seconds = time_to_ready(
                    pinned(commands[name], server_pin),
                    f"http://127.0.0.1:{ports[name]}{ready_path[name]}",
                    server_env,
                    root,
                    logs / f"{name}-startup.log",
                )
                startup[name].append(seconds)
                print(f"  start-up {run + 1}: {name:<8} {seconds:6.2f} s", flush=True)

        for name, cmd in commands.items():  # one at a time: MLflow's SQLite dislikes races
            with (logs / f"{name}.log").open("wb") as log:
                procs[name] = subprocess.Popen(
                    pinned(cmd, server_pin),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=server_env,
                    cwd=root,
                )
            wait_http(f"http://127.0.0.1:{ports[name]}{ready_path[name]}", procs[name])
        print(
            f"serving version {version} on ports {ports}; workers {args.workers}; pinned: "
            f"{f'servers cpu {server_cores}, load cpu {client_pin}' if can_pin else 'no'}",
            flush=True,
        )
        before = {name: scrape(ports[name]) for name in folders}
        for name, found in before.items():
            print(f"{name} inference path: {', '.join(found['paths'])}", flush=True)

        infer = f"/v2/models/{model}/infer"
        targets = [Target("mlflow /invocations", ports["mlflow"], "/invocations", "split")]
        for name in folders:
            targets += [
                Target(f"{name} /invocations", ports[name], "/invocations", "split"),
                Target(f"{name} /predict", ports[name], "/predict", "records"),
                Target(f"{name} /v2 infer", ports[name], infer, "oip"),
            ]
        bodies: dict[tuple[int, str], list[str]] = {}
        for n, count in ((1, 256), (100, 16)):
            made = request_bodies(args.model, n, count, seed=n)
            for kind in ("split", "records", "oip"):
                bodies[(n, kind)] = made[kind]

        # Same answers from every server before anything is timed.
        check = json.loads(bodies[(100, "split")][0])
        answers = []
        for t in targets:
            if t.body_kind != "split":
                continue
            req = urllib.request.Request(
                f"http://127.0.0.1:{t.port}{t.path}",
                data=json.dumps(check).encode(),
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    answers.append(json.load(r)["predictions"])
            except urllib.error.HTTPError as exc:
                raise RuntimeError(f"{t.label} refused the check rows: {exc.read()!r}") from exc
        if any(a != answers[0] for a in answers):
            raise RuntimeError("the servers disagree on the same rows")

        capacity = loadgen_capacity(
            server_pin.split(",")[0] if server_pin else None, client_pin, duration
        )
        print(
            f"load generator vs a trivial server (16 connections): {capacity:,.0f} req/s",
            flush=True,
        )

        trace: list[dict[str, Any]] = []

        def sample(label: str) -> None:
            if args.memory_trace:
                memory = {name: memory_mib(proc.pid) for name, proc in procs.items()}
                trace.append({"after": label, "load": _load(), "memory_mib": memory})
                print(memory_line(label, memory), flush=True)

        sample("ready")
        results: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in range(rounds):
            for s in scenarios:
                order = targets if r % 2 == 0 else targets[::-1]  # alternate who goes first
                for t in order:
                    cell = run_cell(t, s, bodies, warmup, duration, client_pin)
                    results.setdefault((s.label, t.label), []).append(cell)
                    print(
                        f"  round {r + 1}/{rounds} {s.label:<14} {t.label:<31} "
                        f"{cell['rps']:8.1f} req/s  p50 {cell['p50_ms']:7.2f} ms  "
                        f"p99 {cell['p99_ms']:7.2f} ms  errors {cell['errors']}",
                        flush=True,
                    )
                    sample(f"round {r + 1} {s.label} {t.label}")
        after = {name: scrape(ports[name]) for name in folders}
        memory = {name: memory_mib(proc.pid) for name, proc in procs.items()}
        if args.memory_trace:
            time.sleep(IDLE_AFTER_LOAD)  # past a log flush: what stays is held, not in flight
            sample(f"{IDLE_AFTER_LOAD:.0f} s idle")
            for name, proc in procs.items():
                pid = serving_pid(proc.pid)
                print(f"where {name}'s serving process (pid {pid}) holds its RSS:")
                for kind, kib in by_kind(pid).items():
                    if kib >= 1024:
                        print(f"  {kib / 1024:8.1f} MiB  {kind}")
        args.rounds_done = rounds
        report(scenarios, targets, results, capacity, args, version)
        extras = report_extras(startup, memory, before, after, registered_path)
        if args.json:
            data = json.loads(args.json.read_text())
            if args.memory_trace:
                extras["memory_trace"] = trace
            args.json.write_text(json.dumps({**data, "model": args.model, **extras}, indent=2))
    finally:
        for proc in procs.values():
            stop(proc)
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def report_extras(
    startup: dict[str, list[float]],
    memory: dict[str, dict[str, float]],
    before: dict[str, dict[str, Any]],
    after: dict[str, dict[str, Any]],
    registered_path: str,
) -> dict[str, Any]:
    """Start-up, memory and GC lines after the table; the same as JSON fields."""
    print()
    for name, times in startup.items():
        warm = times[1:] or times
        print(
            f"start-up to ready, {name}: first {times[0]:.2f} s, median "
            f"{statistics.median(warm):.2f} s over {len(warm)} "
            f"{'restarts' if len(times) > 1 else 'start'}"
            + (" (the first start fills the model cache)" if name == "opsloop" else "")
        )
    for name, m in memory.items():
        print(
            f"memory after the load, {name}: serving process RSS {m['rss_mib']:.0f} MiB "
            f"(anonymous {m['anon_mib']:.0f}, PSS {m['pss_mib']:.0f}, peak "
            f"{m['peak_rss_mib']:.0f}); {m['processes']:.0f} processes: RSS "
            f"{m['tree_rss_mib']:.0f} MiB, PSS {m['tree_pss_mib']:.0f} MiB"
        )
    for name, found in after.items():
        print(
            f"GC in {name}: longest pause {found['gc_longest_ms']:.1f} ms since start "
            f"({before[name]['gc_longest_ms']:.1f} ms before the load), "
            f"{found['gc_collections'] - before[name]['gc_collections']:.0f} collections "
            f"during the load; inference path {', '.join(found['paths'])}"
        )
    print(f"verified at registration: {registered_path}")
    return {
        "startup_seconds": startup,
        "memory_mib": memory,
        "gc": {"before_load": before, "after_load": after},
        "registered_inference_path": registered_path,
    }


def report(
    scenarios: list[Scenario],
    targets: list[Target],
    results: dict[tuple[str, str], list[dict[str, Any]]],
    capacity: float,
    args: argparse.Namespace,
    version: str,
) -> None:
    rows = []
    print()
    print(
        f"medians over {args.rounds_done} rounds ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
        f"{machine()})"
    )
    print(
        f"{'scenario':<15}{'server':<32}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
        f"{'thr ×':>8}{'p99 ×':>8}"
    )
    worst_rps = 0.0
    for s in scenarios:
        base: dict[str, float] = {}
        for t in targets:
            cells = results[(s.label, t.label)]
            med = {k: statistics.median(c[k] for c in cells) for k in ("rps", "p50_ms", "p99_ms")}
            errors = sum(c["errors"] for c in cells)
            worst_rps = max(worst_rps, med["rps"])
            if t.label.startswith("mlflow"):
                base = med
            thr = med["rps"] / base["rps"] if base.get("rps") else float("nan")
            p99 = med["p99_ms"] / base["p99_ms"] if base.get("p99_ms") else float("nan")
            print(
                f"{s.label:<15}{t.label:<32}{med['rps']:9.1f}{med['p50_ms']:9.2f}"
                f"{med['p99_ms']:9.2f}{errors:8d}{thr:8.2f}{p99:8.2f}"
            )
            rows.append(
                {
                    "scenario": s.label,
                    "server": t.label,
                    **med,
                    "errors": errors,
                    "throughput_ratio_vs_mlflow": thr,
                    "p99_ratio_vs_mlflow": p99,
                }
            )
    print("ratios: opsloop / MLflow (thr × > 1 is more throughput, p99 × < 1 is lower p99)")
    if capacity < 3 * worst_rps:
        print(
            f"WARNING: the load generator reached only {capacity:,.0f} req/s against a "
            f"trivial server, < 3× the fastest cell: it may be the bottleneck"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "date": datetime.now(UTC).isoformat(timespec="seconds"),
                    "machine": machine(),
                    "versions": versions(),
                    "model_version": version,
                    "workers": args.workers,
                    "loadgen_capacity_rps": capacity,
                    "results": rows,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
