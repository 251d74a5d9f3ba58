"""Crash of a server replica while it drives a rollout step: SIGKILL a real `opsloop serve`
replica inside its rollout controller (`deploy/steps.advance`, `OPSLOOP_CRASH_AT`) during a
canary while a second replica on the same ops store keeps answering, then restart the killed
one and check that the rollout goes on: the step done exactly once (no double advance, no
step skipped), alias = deployment row = events, and no 5xx from the surviving replica.
docs/reliability.md, "Crash harness".

Which replica drives the step is made deterministic: the surviving replica `b` starts with
`serve.controller: false` (its config is read at start), then the project's config turns
the controller on for `a` — so `a` (and its restart) is the only controller. Both read and
write the same ops store; `b` serves the canary's routing as the store says.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from opsloop.core.aliases import CHAMPION
from opsloop.faults import ENV
from opsloop.project import Project
from opsloop.store.records import ServeStat
from serve_fixtures import free_port, wait_for
from store_fixtures import POSTGRES
from tinyproject import write_tiny_project
from tree_sync import sync_tree

pytestmark = pytest.mark.slow

# a canary whose step passes on one candidate request; the controller steps every 0.3 s and
# the replicas report their requests every 0.5 s
YAML = """\
deploy:
  steps: [50, 100]
  bake: 0s
  analysis: {interval: 0.3s, min_requests: 1, max_p99_ratio: null, max_divergence: null}
serve: {reload_interval: 0.5s, log_flush_interval: 0.5s, controller: CONTROLLER}
"""
DEPLOY_KINDS = ["promoted", "rolled_back"]

# point: the state it is hit in ("canary": step 0 at 50 % passing; "last": step 1 at 100 %
# passing; "failing": step 0 with a failed candidate request)
REPLICA_POINTS = {
    "rollout.step_analysed": "canary",
    "rollout.after_advance": "canary",
    "rollout.after_promote_commit": "last",
    "rollout.after_rollback_commit": "failing",
}


def _controller(root: Path, on: bool) -> None:
    yaml = root / "opsloop.yaml"
    text = yaml.read_text()
    old, new = ("false", "true") if on else ("true", "false")
    yaml.write_text(text.replace(f"controller: {old}", f"controller: {new}"))


def _write(root: Path, ops_store: str | None) -> Path:
    stack = "" if ops_store is None else f"stacks: {{local: {{ops_store: '{ops_store}'}}}}\n"
    extra = YAML.replace("CONTROLLER", "true") + stack
    root = write_tiny_project(root, approval="manual", rows=600, extra_yaml=extra)
    if ops_store is not None:  # the PostgreSQL database is shared: a model of its own
        yaml = (root / "opsloop.yaml").read_text()
        (root / "opsloop.yaml").write_text(
            yaml.replace("model: tiny", f"model: tiny-{uuid.uuid4().hex[:8]}")
        )
    return root


def _candidate_request(p: Project, *, errors: int) -> None:
    """One answered candidate request, as a replica reports it."""
    from opsloop import latency

    hist = latency.empty()
    hist[latency.bucket(0.001)] = 1
    p.store.add_serve_stats(
        p.name, "production", "test:1", [ServeStat("2", "candidate", 1, errors, hist)]
    )


def _pending(root: Path) -> None:
    """Version 1 deployed, version 2 trained and waiting for approval (in process)."""
    p = Project(root)
    try:
        p.train()
        p.approve("1")
        p.train(force=True)
    finally:
        p.store.close()


def _extend(root: Path, state: str) -> None:
    """From "pending" to `state`: a canary of 2 whose current step acts at the next step."""
    p = Project(root)
    try:
        p.deploy("2", strategy="canary")
        _candidate_request(p, errors=1 if state == "failing" else 0)
        if state == "last":
            step = p.advance_rollout()
            assert step is not None and step.action == "advanced", step
            time.sleep(0.01)  # the request below is counted in the new step
            _candidate_request(p, errors=0)
    finally:
        p.store.close()


@dataclass
class Replica:
    root: Path
    crash_at: str | None = None
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self, log: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k != ENV}
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        if self.crash_at is not None:
            env[ENV] = self.crash_at
        with log.open("ab") as out:
            cmd = [sys.executable, "-m", "opsloop", "serve", "-p", str(self.root)]
            self.proc = subprocess.Popen(
                [*cmd, "--port", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        assert self.proc is not None
        wait_for(lambda: httpx.get(f"{self.url}/v2/health/ready", timeout=5).status_code == 200)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)


class Traffic:
    """/predict requests to one replica on a thread, every answer's status counted."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.statuses: Counter[int | str] = Counter()
        self.versions: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            n = 0
            while not self._stop.wait(0.05):
                n += 1
                record = {"row_id": f"t{n}", "x1": 0.3, "x2": -0.2, "color": "red"}
                try:
                    r = client.post("/predict", json={"records": [record]})
                except httpx.TransportError as exc:
                    self.statuses[type(exc).__name__] += 1
                    continue
                self.statuses[r.status_code] += 1
                if r.status_code == 200:
                    self.versions[str(r.json()["model_version"])] += 1

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def check_consistent(p: Project) -> list[str]:
    """alias = deployment row = newest deployment event, one event per revision; the
    deployment history's versions."""
    current = p.store.find_deployment(p.name)
    alias = p.registry.find_alias(p.name, CHAMPION)
    events = [  # a rollout's rollback is a `rolled_back` event without a revision
        e
        for e in p.store.list_events(p.name, kinds=DEPLOY_KINDS, limit=10_000)
        if "revision" in e.evidence
    ]
    history = p.store.list_deployments(p.name)
    assert [d.revision for d in history] == list(range(1, len(history) + 1))
    assert current is not None and alias is not None and alias.version == current.version
    newest = max(events, key=lambda e: (e.ts, e.id))
    assert newest.version == current.version, (newest, current)
    assert len(events) == len(history)
    return [d.version for d in history]


def _rollout_events(p: Project, kind: str) -> int:
    return len(p.store.list_events(p.name, kinds=[kind], limit=100))


def _run_case(root: Path, point: str, logs: Path) -> None:
    """`b` serving (no controller), `a` killed at `point` by its controller, `a` restarted:
    the rollout ends exactly as one uninterrupted controller would have ended it."""
    state = REPLICA_POINTS[point]
    _controller(root, on=False)
    b = Replica(root)
    a = Replica(root, crash_at=point)
    try:
        b.start(logs / "b.log")
        b.wait_ready()
        _controller(root, on=True)
        with Traffic(b.url) as traffic:
            a.start(logs / "a-1.log")
            assert a.proc is not None
            code = a.proc.wait(timeout=300)
            assert code == -signal.SIGKILL, (code, (logs / "a-1.log").read_text()[-3000:])
            p = Project(root)
            try:
                killed = p.store.find_rollout(p.name)
                assert killed is not None
                if point == "rollout.step_analysed":  # nothing acted on
                    assert killed.running and killed.step == 0
                if point == "rollout.after_advance":  # the advance committed, once
                    assert killed.running and killed.step == 1 and killed.share == 100
                    assert _rollout_events(p, "rollout_advanced") == 1
                a.crash_at = None  # the restarted replica finishes the rollout
                a.start(logs / "a-2.log")
                a.wait_ready()

                def ended() -> bool:
                    rollout = p.store.find_rollout(p.name)
                    return rollout is not None and not rollout.running

                # at 100 % the step needs a new candidate request: `b`'s traffic brings it
                wait_for(ended, timeout=120)

                def aligned() -> bool:  # the controller moves the alias after its commit
                    alias = p.registry.find_alias(p.name, CHAMPION)
                    current = p.store.find_deployment(p.name)
                    return None not in (alias, current) and alias.version == current.version

                wait_for(aligned, timeout=60)
                done = p.store.find_rollout(p.name)
                assert done is not None and done.id == killed.id
                history = check_consistent(p)
                if state == "failing":
                    assert done.status == "rolled_back" and history == ["1"]
                    assert _rollout_events(p, "rollout_advanced") == 0
                    assert _rollout_events(p, "rolled_back") == 1  # the rollout's, once
                else:
                    assert done.status == "promoted" and history == ["1", "2"]
                    # one advance 50 → 100 by the killed or the restarted controller, never two
                    assert _rollout_events(p, "rollout_advanced") == 1
            finally:
                p.store.close()
            time.sleep(1.0)  # `b` goes on answering after the rollout ended
        assert set(traffic.statuses) == {200}, traffic.statuses
        assert traffic.statuses[200] > 0, traffic.statuses
    finally:
        a.stop()
        b.stop()


class Snapshots:
    """The SQLite "pending" state built once, copied back for each case (MLflow keeps
    absolute artifact paths: every case runs in the same folder)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.work = base / "project"
        self.stash: Path | None = None

    def restore(self, state: str) -> Path:
        if self.stash is None:
            _write(self.work, None)
            _pending(self.work)
            self.stash = self.base / "stash"
            shutil.copytree(self.work, self.stash)
        else:
            sync_tree(self.stash, self.work)
        _extend(self.work, state)
        return self.work


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> Snapshots:
    return Snapshots(tmp_path_factory.mktemp("replica-crash"))


@pytest.mark.parametrize("point", list(REPLICA_POINTS))
def test_replica_crash_sqlite(point: str, snapshots: Snapshots, tmp_path: Path) -> None:
    root = snapshots.restore(REPLICA_POINTS[point])
    _run_case(root, point, tmp_path)


@pytest.fixture(params=[POSTGRES])
def pg(request: pytest.FixtureRequest) -> Iterator[str]:
    yield request.getfixturevalue("postgres_url")


@pytest.mark.parametrize("point", ["rollout.after_advance", "rollout.after_promote_commit"])
def test_replica_crash_postgres(point: str, pg: str, tmp_path: Path) -> None:
    root = _write(tmp_path / "p", pg)
    _pending(root)
    _extend(root, REPLICA_POINTS[point])
    _run_case(root, point, tmp_path)
