"""Real `opsloop` processes on one SQLite ops store:

- two `opsloop agent` processes: only the lease holder acts (every event is notified once,
  by it); after it is killed with SIGKILL the other takes the lease over when it expires
  and carries on from the notification cursor;
- `opsloop train` killed with SIGKILL in the middle of the fit stage: the next agent tick
  marks the run failed (no heartbeat) and trains again on the same window.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsloop.project import Project
from opsloop.store import OpsStore
from opsloop.store.records import utcnow
from receiver import Receiver
from tinyproject import write_tiny_project

pytestmark = pytest.mark.slow

BLOCKING_BUILD = """

_build = build
BLOCK = DATA.parent / "block_build"


def build():
    import time

    (DATA.parent / "in_build").write_text("1")
    deadline = time.monotonic() + 600
    while BLOCK.exists() and time.monotonic() < deadline:  # until the test kills us
        time.sleep(0.05)
    return _build()
"""


def spawn(*args: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "opsloop", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def wait_until(predicate, timeout: float = 120.0, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout}s: {what}")
        time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=60)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_two_agents_one_acts_and_the_other_takes_over(tmp_path: Path, receiver: Receiver) -> None:
    root = write_tiny_project(
        tmp_path / "tiny",
        extra_yaml=(
            "agent: {lease_ttl: 3s}\n"
            f"notify: {{webhooks: [{{url: '{receiver.url}'}}], retries: 1, backoff: 0.1s}}\n"
        ),
    )
    Project(root).registry  # noqa: B018  (MLflow's DB is created once, before the agents)
    store = OpsStore(f"sqlite:///{root / '.opsloop' / 'ops.db'}")
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    a = spawn("agent", "-p", str(root), "--interval", "0.3s", log=logs[0])
    b = None
    try:
        wait_until(lambda: store.find_lease("agent:tiny") is not None, what="a holds the lease")
        first = store.find_lease("agent:tiny")
        assert first is not None and first.holder.split(":")[1] == str(a.pid)
        b = spawn("agent", "-p", str(root), "--interval", "0.3s", log=logs[1])
        wait_until(lambda: "standing by" in logs[1].read_text(), what="b stands by")
        sent = [
            store.add_event(kind, "tiny", version=str(i), summary=f"event {i}")
            for i, kind in enumerate(["promoted", "drift_detected", "rolled_back"])
        ]
        wait_until(lambda: len(receiver.received) >= 3, what="three notifications")

        before_kill = store.find_lease("agent:tiny")
        assert before_kill is not None and before_kill.holder == first.holder
        a.send_signal(signal.SIGKILL)
        a.wait(timeout=60)
        sent += [
            store.add_event(
                "approval_pending", "tiny", version="9", summary="while nobody holds the lease"
            )
        ]
        wait_until(
            lambda: store.find_lease("agent:tiny").holder != first.holder,  # type: ignore[union-attr]
            what="b takes the lease over",
        )
        second = store.find_lease("agent:tiny")
        assert second is not None and second.holder.split(":")[1] == str(b.pid)
        assert second.token == first.token + 1
        assert second.acquired >= before_kill.expires  # only once a's lease expired
        sent += [store.add_event("training_failed", "tiny", summary="after the take-over")]
        wait_until(lambda: len(receiver.received) >= 5, what="b notifies the rest")
    finally:
        stop(a)
        if b is not None:
            b.send_signal(signal.SIGTERM)  # a clean stop releases the lease
            b.wait(timeout=60)
    ids = Counter(int(body["_event_id_header"]) for body in receiver.received)
    assert sorted(ids) == [e.id for e in sent] and set(ids.values()) == {1}  # each once
    takeovers = store.list_events("tiny", kinds=["agent_lease"])
    assert [e.evidence["action"] for e in takeovers] == ["acquired", "taken_over"]
    assert takeovers[1].evidence["previous_holder"] == first.holder
    final = store.find_lease("agent:tiny")
    assert final is not None and not final.live(utcnow())  # released on SIGTERM
    assert b.returncode == 0, logs[1].read_text()
    status = json.loads(
        subprocess.run(
            [sys.executable, "-m", "opsloop", "status", "-p", str(root), "--json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert status["agent"]["lease"]["holder"] == final.holder


def test_killed_training_is_marked_failed_and_run_again(tmp_path: Path) -> None:
    root = write_tiny_project(
        tmp_path / "tiny", extra_yaml=("agent: {heartbeat_interval: 0.3s, heartbeat_timeout: 3s}\n")
    )
    with (root / "model.py").open("a") as f:
        f.write(BLOCKING_BUILD)
    (root / "block_build").write_text("1")
    Project(root).registry  # noqa: B018
    store = OpsStore(f"sqlite:///{root / '.opsloop' / 'ops.db'}")
    train = spawn("train", "-p", str(root), log=tmp_path / "train.log")
    try:
        wait_until(lambda: (root / "in_build").exists(), what="training reaches fit")
        (run,) = store.list_runs("tiny")
        assert run.status == "running" and run.stages[-1]["name"] == "fit"
        beat = run.heartbeat
        wait_until(
            lambda: store.list_runs("tiny")[0].heartbeat != beat,
            what="the heartbeat moves while fit runs",
        )
        train.send_signal(signal.SIGKILL)
        train.wait(timeout=60)
    finally:
        stop(train)
    (root / "block_build").unlink()
    assert store.list_runs("tiny")[0].status == "running"  # nobody has noticed yet
    wait_until(
        lambda: (
            utcnow() - store.list_runs("tiny")[0].heartbeat  # type: ignore[operator]
            > Project(root).config.agent.heartbeat_timeout
        ),
        what="heartbeat goes stale",
    )

    out = subprocess.run(
        [sys.executable, "-m", "opsloop", "agent", "--once", "--json", "-p", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    tick = json.loads(out.stdout)
    assert [r["id"] for r in tick["crashed"]] == [run.id]
    assert [(f["trigger"], f["key"]) for f in tick["fired"]] == [("resume", str(run.id))]
    assert tick["trained"]["version"] == "1" and tick["trained"]["promoted"] is True
    runs = {r.id: r for r in store.list_runs("tiny")}
    crashed = runs[run.id]
    assert crashed.status == "failed" and crashed.error is not None
    assert crashed.error.startswith("crashed: no heartbeat since")
    assert "fit" in crashed.error
    (rerun,) = [r for r in runs.values() if r.id != run.id]
    assert rerun.status == "succeeded" and rerun.trigger == f"resume:{run.id}"
    assert rerun.stages[0]["detail"]["window"] == crashed.stages[0]["detail"]["window"]
    assert store.list_running_runs("tiny") == []  # nothing stays "running"
