"""`opsloop serve --workers 2` as a real process: both workers serve and follow a rollback
made by another process, /metrics adds up both workers, and on SIGTERM every answered
prediction is in the log (each worker flushes its own writer)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from opsloop.project import Project
from serve_fixtures import free_port, read_prediction_log, wait_for
from tinyproject import write_tiny_project

pytestmark = pytest.mark.slow


def metric(text: str, name: str, labels: str = "") -> float:
    pattern = rf"^{re.escape(name)}(\{{[^}}]*{re.escape(labels)}[^}}]*\}})? (\S+)$"
    return sum(float(m.group(2)) for m in re.finditer(pattern, text, re.M))


def test_two_workers_serve_follow_a_rollback_count_and_log_everything(tmp_path: Path) -> None:
    root = write_tiny_project(tmp_path / "tiny")
    project = Project(root)
    project.train()
    project.train(force=True)  # v2 is champion, v1 kept for the rollback
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "opsloop",
            "serve",
            "-p",
            str(root),
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    answered: list[str] = []
    errors: list[object] = []
    versions: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def traffic(k: int) -> None:
        i = 0
        while not stop.is_set() and i < 3000:  # bounded
            # a fresh connection every few requests, so the kernel spreads them over workers
            with httpx.Client(base_url=base, timeout=30) as client:
                for _ in range(5):
                    i += 1
                    row_id = f"w{k}-{i}"
                    try:
                        r = client.post(
                            "/predict",
                            json={
                                "records": [
                                    {"row_id": row_id, "x1": 0.01 * i, "x2": -0.2, "color": "red"}
                                ]
                            },
                        )
                    except httpx.TransportError as exc:
                        errors.append(repr(exc))
                        continue
                    with lock:
                        if r.status_code == 200:
                            answered.append(row_id)
                            versions.add(r.json()["model_version"])
                        else:
                            errors.append(r.status_code)
                    time.sleep(0.01)  # steady traffic that leaves the 2 cores room to reload

    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            wait_for(lambda: client.get("/v2/health/ready").status_code == 200)
            wait_for(lambda: metric(client.get("/metrics").text, "opsloop_serve_workers") == 2)
            senders = [threading.Thread(target=traffic, args=(k,)) for k in range(4)]
            for t in senders:
                t.start()
            time.sleep(1.0)
            rollback = subprocess.run(
                [sys.executable, "-m", "opsloop", "rollback", "tiny", "-p", str(root)],
                capture_output=True,
                text=True,
                check=False,
            )
            assert rollback.returncode == 0, rollback.stderr

            def all_on_v1() -> bool:  # 20 answers in a row, on fresh connections
                return all(
                    httpx.get(f"{base}/v2/models/tiny", timeout=30).json()["versions"] == ["1"]
                    for _ in range(20)
                )

            wait_for(all_on_v1, 60)
            time.sleep(0.5)
            stop.set()
            for t in senders:
                t.join(timeout=120)
            assert errors == [] and versions == {"1", "2"} and len(answered) > 20
            text = client.get("/metrics").text
            served = metric(text, "opsloop_requests_total", 'route="predict"')
            assert served == len(answered)  # both workers' counts, added up
            assert metric(text, "opsloop_predictions_total") == len(answered)
            assert metric(text, "opsloop_request_seconds_count", 'route="predict"') == served
    finally:
        stop.set()
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, -signal.SIGTERM), err.decode()
    logged = read_prediction_log(root)
    assert sorted(logged["prediction_id"]) == sorted(answered)
    assert set(logged["model_version"]) == {"1", "2"}
