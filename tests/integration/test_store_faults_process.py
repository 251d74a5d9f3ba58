"""The ops store unreachable under a real `opsloop serve` (issue 19, "Storage faults"): the
ops store is PostgreSQL reached through a TCP proxy process the test kills (the shared
PostgreSQL server is never stopped), so every open connection is cut and new ones are
refused mid-run. The server keeps answering with the last known deployment, readiness and
/metrics say degraded, the log says so in one line, and when the proxy is back the server
recovers by itself; every answered prediction is logged."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsloop.project import Project
from serve_fixtures import free_port, predict, read_prediction_log, server, stop, wait_for
from tinyproject import write_tiny_project

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PROXY = Path(__file__).parent.parent / "tcp_proxy.py"


class Proxy:
    """tests/tcp_proxy.py on a fixed port, started and killed at will."""

    def __init__(self, target: str) -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(target)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self.port = free_port()
        self.url = target.replace(parts.netloc.rpartition("@")[2], f"127.0.0.1:{self.port}")
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(PROXY), str(self.port), *map(str, self.target)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[Proxy]:
    p = Proxy(postgres_url)
    p.start()
    try:
        yield p
    finally:
        p.kill()


def test_ops_store_unreachable_mid_run_degrades_and_recovers(proxy: Proxy, tmp_path: Path) -> None:
    model = f"tiny-{uuid.uuid4().hex[:8]}"  # the database is shared by the session
    root = write_tiny_project(
        tmp_path / "t",
        rows=600,
        extra_yaml=f"stacks: {{local: {{ops_store: '{proxy.url}'}}}}\n"
        "serve: {reload_interval: 100ms, log_flush_interval: 100ms}\n",
    )
    yaml = (root / "opsloop.yaml").read_text()
    (root / "opsloop.yaml").write_text(yaml.replace("model: tiny", f"model: {model}"))
    p = Project(root)
    try:
        p.train()
    finally:
        p.store.close()

    with server(root) as (proc, client):
        answered = [f"a{i}" for i in range(5) if predict(client, f"a{i}").status_code == 200]
        proxy.kill()  # the ops store goes away: open connections cut, new ones refused
        wait_for(lambda: client.get("/v2/health/ready").json()["degraded"] != [], 30)
        ready = client.get("/v2/health/ready")
        assert ready.status_code == 200 and "ops store unreachable" in ready.json()["degraded"][0]
        assert "opsloop_ops_store_degraded 1.0" in client.get("/metrics").text
        during = [predict(client, f"b{i}") for i in range(20)]
        assert [r.status_code for r in during] == [200] * 20  # the last known deployment
        assert {r.json()["model_version"] for r in during} == {"1"}
        answered += [f"b{i}" for i in range(20)]
        proxy.start()  # back: nobody has to act
        wait_for(lambda: client.get("/v2/health/ready").json()["degraded"] == [], 30)
        assert "opsloop_ops_store_degraded 0.0" in client.get("/metrics").text
        answered += [f"c{i}" for i in range(5) if predict(client, f"c{i}").status_code == 200]
        err = stop(proc)
    assert sorted(read_prediction_log(root, model)["prediction_id"]) == sorted(answered)
    lines = [line for line in err.splitlines() if "ops store unreachable" in line]
    assert len(lines) == 1, err  # one line for the whole outage, no traceback
    assert "ops store reachable again" in err and "Traceback" not in err
