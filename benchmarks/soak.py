"""Soak: sustained load on two `opsloop serve` replicas for minutes while the deployment
changes under it — a promotion, a rollback, a canary rollout driven by the replicas' own
controllers, and a rolling restart of one replica — then SIGTERM (docs/reliability.md,
"Soak").

What it checks and prints:
- failed requests: any answer other than 200, or a request no replica answered (zero is the
  bar; there is no retry: a replica is taken out of rotation before it is stopped, as a load
  balancer does on readiness);
- the versions that answered in each phase (the changes took effect without a failure);
- each replica's RSS after warm-up and at the end (memory growth over the soak);
- answered = logged: after SIGTERM, every answered prediction id is in the prediction log
  exactly once.

    .venv/bin/python benchmarks/soak.py                  # 3 minutes of load (more when
                                                         # the changes take longer)
    .venv/bin/python benchmarks/soak.py --minutes 10 --rate 200

The load is open-loop at `--rate` requests per second over `--threads` keep-alive clients
(one row per request to `/predict`), each client sending to the replicas in rotation. The
project is a small logistic-regression model trained here in a temporary folder (embedded
default: MLflow and the ops store on SQLite). Nothing is installed; no request leaves the
loopback interface. Not run in CI.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from machine import machine  # benchmarks/machine.py, beside this script

REPO = Path(__file__).resolve().parents[1]
KEEPALIVE_EXPIRY = 2.0  # seconds a client keeps an idle connection (the server: 5)
MODEL = "soak"

YAML = """\
model: soak
task: binary_classification
target: label
id_column: row_id
time_column: event_time
code: model.py
gate: {metric: roc_auc, policy: non_inferiority, margin: 0.05, floor: 0.6, approval: manual}
deploy:
  steps: [50, 100]
  bake: 5s
  analysis: {interval: 2s, min_requests: 20, max_p99_ratio: null, max_divergence: null}
serve: {reload_interval: 1s, log_flush_interval: 1s}
"""

MODEL_PY = """\
from pathlib import Path

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

DATA = Path(__file__).parent / "data"


def load(window):
    df = pd.concat([pd.read_parquet(p) for p in sorted(DATA.glob("*.parquet"))])
    keep = (df["event_time"] >= window.start) & (df["event_time"] < window.end)
    return df[keep].sort_values("event_time").reset_index(drop=True)


def build():
    encode = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["color"])],
                               remainder="passthrough")
    return make_pipeline(encode, LogisticRegression(max_iter=500))
"""


def write_project(root: Path, rows: int = 3000, seed: int = 0) -> None:
    from datetime import UTC, datetime

    import numpy as np
    import pandas as pd

    root.mkdir(parents=True, exist_ok=True)
    (root / "opsloop.yaml").write_text(YAML)
    (root / "model.py").write_text(MODEL_PY)
    (root / "data").mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=rows), rng.normal(size=rows)
    color = rng.choice(["red", "green", "blue"], rows)
    logit = 1.5 * x1 + x2 + np.where(color == "red", 0.8, -0.4) - 0.5
    label = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    end = datetime.now(UTC)
    times = end - pd.to_timedelta(np.sort(rng.uniform(0, 20 * 86400, rows))[::-1], unit="s")
    pd.DataFrame(
        {
            "row_id": [f"h{seed}-{i}" for i in range(rows)],
            "event_time": pd.DatetimeIndex(times).as_unit("us"),
            "x1": x1,
            "x2": x2,
            "color": color,
            "label": label,
        }
    ).to_parquet(root / "data" / f"history-{seed}.parquet", index=False)


def opsloop(root: Path, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run(
        [sys.executable, "-m", "opsloop", *args, "-p", str(root)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"opsloop {' '.join(args)} failed: {proc.stdout}{proc.stderr}")
    return proc.stdout


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Replica:
    """One `opsloop serve` process on its own port, restartable."""

    def __init__(self, name: str, root: Path, port: int, logs: Path) -> None:
        self.name, self.root, self.port, self.logs = name, root, port, logs
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        import httpx

        self.starts += 1
        env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        cmd = [sys.executable, "-m", "opsloop", "serve", "-p", str(self.root)]
        with (self.logs / f"{self.name}-{self.starts}.log").open("wb") as out:
            self.proc = subprocess.Popen(
                [*cmd, "--port", str(self.port)], stdout=out, stderr=subprocess.STDOUT, env=env
            )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"replica {self.name} exited with {self.proc.returncode}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/v2/health/ready", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"replica {self.name} not ready in 180 s")

    def stop(self) -> int:
        """SIGTERM (the server flushes its prediction log first); the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=120)


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    answered: list[str] = field(default_factory=list)  # prediction ids answered 200
    failed: list[str] = field(default_factory=list)  # "<status or error>: <detail>"
    versions: Counter[tuple[str, str]] = field(default_factory=Counter)  # (phase, version)
    latencies: list[float] = field(default_factory=list)
    phase: str = "warm-up"


class Load:
    """Open-loop load: `rate` requests/s over `threads` clients, replicas in rotation."""

    def __init__(self, replicas: list[Replica], rate: float, threads: int) -> None:
        self.rotation = list(replicas)
        self.rate, self.threads = rate, threads
        self.tally = Tally()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self._seq = 0
        self.inflight: Counter[str] = Counter()  # requests sent and not answered, by replica

    def drain(self, replica: Replica, timeout: float = 120.0) -> None:
        """Out of rotation, then wait for its requests in flight to be answered (what a
        load balancer does before a replica is stopped)."""
        with self.tally.lock:
            self.rotation.remove(replica)
        deadline = time.monotonic() + timeout
        while self.inflight[replica.name] and time.monotonic() < deadline:
            time.sleep(0.05)

    def put_back(self, replica: Replica) -> None:
        with self.tally.lock:
            self.rotation.append(replica)

    def _next(self) -> tuple[str, Replica]:
        with self.tally.lock:
            self._seq += 1
            replica = self.rotation[self._seq % len(self.rotation)]
            self.inflight[replica.name] += 1
            return f"s{self._seq}", replica

    def _run(self, index: int) -> None:
        import httpx

        # close idle connections before the server does (uvicorn: 5 s), as a load balancer
        # must: a request sent on a connection the server is closing fails (the keep-alive race)
        limits = httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY)
        clients: dict[int, httpx.Client] = {}
        used: dict[int, float] = {}
        period = self.threads / self.rate
        due = time.monotonic() + index * period / self.threads
        while not self._stop.is_set():
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            due += period
            pid, replica = self._next()
            client = clients.get(replica.port)
            if client is None:
                client = clients[replica.port] = httpx.Client(base_url=replica.url, limits=limits)
            idle = time.monotonic() - used.get(replica.port, time.monotonic())
            used[replica.port] = time.monotonic()
            record = {"row_id": pid, "x1": 0.3, "x2": -0.2, "color": "red"}
            t0 = time.perf_counter()
            try:
                r = client.post("/predict", json={"records": [record]}, timeout=30)
            except httpx.HTTPError as exc:
                with self.tally.lock:
                    self.inflight[replica.name] -= 1
                    self.tally.failed.append(
                        f"{self.tally.phase}, {replica.name} (connection idle {idle:.1f} s): "
                        f"{type(exc).__name__}: {exc}"
                    )
                continue
            seconds = time.perf_counter() - t0
            with self.tally.lock:
                self.inflight[replica.name] -= 1
                if r.status_code == 200:
                    self.tally.answered.append(pid)
                    self.tally.versions[(self.tally.phase, r.json()["model_version"])] += 1
                    self.tally.latencies.append(seconds)
                else:
                    self.tally.failed.append(
                        f"{self.tally.phase}, {replica.name}: {r.status_code}: {r.text[:200]}"
                    )
        for c in clients.values():
            c.close()

    def start(self) -> None:
        for i in range(self.threads):
            t = threading.Thread(target=self._run, args=(i,), daemon=True)
            t.start()
            self._workers.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._workers:
            t.join(timeout=60)

    def phase(self, name: str) -> None:
        with self.tally.lock:
            self.tally.phase = name
        print(f"  {time.strftime('%H:%M:%S')} {name}", flush=True)


def logged_ids(root: Path) -> list[str]:
    import pyarrow.parquet as pq

    files = (root / ".opsloop" / "predictions").glob(f"model={MODEL}/**/*.parquet")
    ids: list[str] = []
    for f in files:
        if not f.name.startswith("."):
            ids += pq.read_table(f, columns=["prediction_id"]).column(0).to_pylist()
    return ids


def wait_rollout_done(root: Path, timeout: float) -> str:
    """The canary's outcome once the replicas' controllers ended it ("timeout" if not)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = json.loads(opsloop(root, "rollout", "status", MODEL, "--json"))
        if status is not None and status.get("status") not in (None, "running"):
            return str(status["status"])
        time.sleep(2)
    return "timeout"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="length of the load")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--threads", type=int, default=4, help="client threads")
    parser.add_argument("--keep", action="store_true", help="keep the temporary project")
    args = parser.parse_args()
    total = args.minutes * 60
    tmp = Path(tempfile.mkdtemp(prefix="opsloop-soak-"))
    root, logs = tmp / "project", tmp / "logs"
    logs.mkdir(parents=True)
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}", flush=True)
    print(f"project in {root}; training versions 1 and 2 ...", flush=True)
    write_project(root)
    opsloop(root, "train")
    opsloop(root, "approve", MODEL, "1")
    write_project(root, seed=1)  # more data: version 2
    opsloop(root, "train", "--force")

    sys.path.insert(0, str(REPO / "src"))
    from serve_vs_mlflow import free_port

    replicas = [Replica(n, root, free_port(), logs) for n in ("a", "b")]
    for r in replicas:
        r.start()
    load = Load(replicas, args.rate, args.threads)
    t0 = time.monotonic()
    load.start()

    def at(fraction: float) -> None:
        time.sleep(max(0.0, t0 + fraction * total - time.monotonic()))

    at(0.1)
    rss0 = {r.name: rss_mib(r.proc.pid) for r in replicas if r.proc}
    load.phase("v1 stable")
    at(0.2)
    load.phase("promote 2")
    opsloop(root, "promote", MODEL, "2")
    at(0.35)
    load.phase("rollback to 1")
    opsloop(root, "rollback", MODEL)
    at(0.5)
    load.phase("canary of 2")
    opsloop(root, "deploy", MODEL, "2", "--strategy", "canary", "--force")
    outcome = wait_rollout_done(root, max(10.0, t0 + 0.75 * total - time.monotonic()))
    load.phase(f"after canary ({outcome})")
    at(0.75)
    load.phase("restart replica a")
    a = replicas[0]
    load.drain(a)
    restart_exit = a.stop()
    rss0.pop("a", None)  # a new process: its growth is not comparable
    a.start()
    load.put_back(a)
    restarted = time.monotonic()
    load.phase("after restart")
    at(1.0)
    time.sleep(max(0.0, 30.0 - (time.monotonic() - restarted)))  # load on the new process
    load.stop()
    rss1 = {r.name: rss_mib(r.proc.pid) for r in replicas if r.proc}
    exits = [r.stop() for r in replicas]
    elapsed = time.monotonic() - t0

    tally = load.tally
    logged = logged_ids(root)
    counts = Counter(logged)
    duplicates = sum(1 for c in counts.values() if c > 1)
    missing = len(set(tally.answered) - set(counts))
    lat = sorted(tally.latencies)
    print()
    print(f"load: {elapsed:.0f} s at {args.rate:g} req/s target over {args.threads} clients, ")
    print(f"  answered {len(tally.answered)}, failed {len(tally.failed)}")
    for f in tally.failed[:10]:
        print(f"    {f}")
    if lat:
        p50, p99 = lat[len(lat) // 2], lat[int(len(lat) * 0.99)]
        print(f"  latency p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    print("versions answering, by phase:")
    phases: dict[str, dict[str, int]] = {}
    for (phase, version), n in tally.versions.items():
        phases.setdefault(phase, {})[version] = n
    for phase, by in phases.items():
        print(f"  {phase}: " + ", ".join(f"v{v} {n}" for v, n in sorted(by.items())))
    print(f"canary outcome: {outcome}; replica a restart exit {restart_exit}, final exits {exits}")
    growth = {n: rss1[n] - rss0[n] for n in rss0}
    print(
        "memory (RSS MiB, after warm-up -> end): "
        + ", ".join(f"{n} {rss0[n]:.0f} -> {rss1[n]:.0f} ({growth[n]:+.0f})" for n in rss0)
        + f"; restarted a at end {rss1['a']:.0f}"
    )
    print(
        f"prediction log: {len(logged)} rows, {len(counts)} ids; answered but not logged "
        f"{missing}; logged twice {duplicates}"
    )
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    ok = (
        not tally.failed and missing == 0 and duplicates == 0 and len(logged) == len(tally.answered)
    )
    print("RESULT: " + ("PASS" if ok else "FAIL"))
    if args.keep:
        print(f"kept {tmp}")
    else:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    summary: dict[str, Any] = {
        "answered": len(tally.answered),
        "failed": len(tally.failed),
        "logged": len(logged),
        "median_ms": statistics.median(lat) * 1000 if lat else None,
    }
    print(json.dumps(summary))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
