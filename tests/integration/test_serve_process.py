"""`opsloop serve` as a real process: it follows a promotion made by another process without a
restart, answers with zero errors across the switch, and flushes every answered prediction
to the log on SIGTERM."""

from __future__ import annotations

import os
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


def test_server_follows_promotions_and_flushes_on_sigterm(tmp_path: Path) -> None:
    root = write_tiny_project(tmp_path / "tiny")
    project = Project(root)
    project.train()
    project.train(force=True)  # v2 is champion, v1 kept for the rollback
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "opsloop", "serve", "-p", str(root), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        wait_for(lambda: client.get("/v2/health/ready").status_code == 200)
        assert client.get("/v2/models/tiny").json()["versions"] == ["2"]

        answered, errors, versions = [], [], set()
        stop = threading.Event()

        def traffic() -> None:
            i = 0
            while not stop.is_set() and i < 5000:  # bounded
                i += 1
                r = client.post(
                    "/predict",
                    json={
                        "records": [{"row_id": f"t{i}", "x1": 0.1 * i, "x2": -0.2, "color": "red"}]
                    },
                )
                if r.status_code == 200:
                    answered.append(f"t{i}")
                    versions.add(r.json()["model_version"])
                else:
                    errors.append(r.status_code)

        sender = threading.Thread(target=traffic)
        sender.start()
        time.sleep(0.5)
        rollback = subprocess.run(
            [sys.executable, "-m", "opsloop", "rollback", "tiny", "-p", str(root)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert rollback.returncode == 0, rollback.stderr
        wait_for(lambda: client.get("/v2/models/tiny").json()["versions"] == ["1"], 30)
        time.sleep(0.5)
        stop.set()
        sender.join(timeout=60)
        assert errors == [] and versions == {"1", "2"} and len(answered) > 10
    finally:
        client.close()
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    # uvicorn shuts down gracefully (lifespan → log flush), then re-raises the signal
    assert proc.returncode in (0, -signal.SIGTERM), err.decode()
    logged = read_prediction_log(root)
    assert sorted(logged["prediction_id"]) == sorted(answered)
    assert set(logged["model_version"]) == {"1", "2"}


def test_approval_over_http_on_a_real_server(tmp_path: Path) -> None:
    """The admin token comes from the environment of `opsloop serve`; an approval over HTTP
    promotes the version and the same server starts answering with it."""
    root = write_tiny_project(tmp_path / "tiny", approval="manual")
    project = Project(root)
    project.train()
    project.approve("1")
    project.train(force=True)  # version 2 waits for a person
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "opsloop", "serve", "-p", str(root), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "OPSLOOP_ADMIN_TOKEN": "t0ken"},
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        wait_for(lambda: client.get("/v2/health/ready").status_code == 200)
        pending = client.get("/api/status").json()["pending_approvals"]
        assert [p["version"] for p in pending] == ["2"]
        url = "/api/models/tiny/versions/2/approve"
        assert client.post(url, json={"comment": "ok"}).status_code == 401
        r = client.post(
            url,
            json={"comment": "reviewed the gate report"},
            headers={"Authorization": "Bearer t0ken", "X-Opsloop-Actor": "dana"},
        )
        assert r.status_code == 200, r.text
        wait_for(lambda: client.get("/v2/models/tiny").json()["versions"] == ["2"])
        approved = [e for e in project.events() if e.kind == "approved"][-1]
        assert approved.actor == "api:dana" and approved.version == "2"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
