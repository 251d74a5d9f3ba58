"""The restaurants web app as a real process (uvicorn) while another process publishes and
rolls back the nightly output: readers polling throughout never get an error or a list
mixed from two runs, and after each switch the app converges to the new run; a burst of
concurrent visits loses none."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from opsloop.store import OpsStore
from ranking_output import output_table, publish, record_run, rollback, write_ranking_project
from serve_fixtures import free_port, wait_for

pytestmark = pytest.mark.slow

USERS = [f"u{i}" for i in range(60)]
POLLED = ["u1", "u17", "u59", "stranger"]  # the last has no list: the fallback
VERSIONS = {"run-a": "1", "run-b": "2"}


def lists_of(run: str) -> dict[str, list[str]]:
    """Each run's lists differ for every user, so a mixed answer shows."""
    return {u: [f"{run}:{u}:{rank}" for rank in range(1, 4)] for u in USERS}


def fallback_of(run: str) -> list[str]:
    return [f"{run}:fallback:{rank}" for rank in range(1, 4)]


@dataclass(frozen=True)
class Seen:
    reader: int
    phase: int  # the switches made before the request was sent
    status: int
    body: dict[str, object]


@contextmanager
def webapp(root: Path) -> Iterator[tuple[subprocess.Popen[bytes], httpx.Client, float]]:
    port = free_port()
    started = time.monotonic()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "opsloop.examples.webapp",
            "--project",
            str(root),
            "--port",
            str(port),
            "--interval",
            "0.2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        wait_for(lambda: client.get("/health").status_code == 200, 120)
        yield proc, client, time.monotonic() - started
    finally:
        client.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
        assert b"Traceback" not in err, err.decode(errors="replace")


def check(seen: Seen) -> str:
    """The run one answer came from, after checking every item is that run's."""
    assert seen.status == 200, seen
    body = seen.body
    run = str(body["run_id"])
    assert run in VERSIONS and body["version"] == VERSIONS[run], body
    user = str(body["user"])
    items = [r["restaurant"] for r in body["recommendations"]]  # type: ignore[attr-defined]
    if user == "stranger":
        assert body["fallback"] is True and items == fallback_of(run), body
    else:
        assert body["fallback"] is False and items == lists_of(run)[user], body
    return run


def test_publish_and_rollback_under_polling_readers(tmp_path: Path) -> None:
    root = write_ranking_project(tmp_path / "p")
    store = OpsStore(f"sqlite:///{root / '.opsloop' / 'ops.db'}")
    for run, version in VERSIONS.items():
        table = output_table(run, version, lists_of(run), fallback_of(run))
        record_run(store, root, run, version, table, parts=3)
    publish(store, "run-a")
    with webapp(root) as (_proc, client, startup):
        print(f"web app answering after {startup:.2f} s")
        phase = [0]
        stop = threading.Event()
        seen: list[Seen] = []

        def reader(n: int) -> None:
            with httpx.Client(base_url=client.base_url, timeout=30) as own:
                i = 0
                while not stop.is_set() and i < 100_000:  # bounded
                    user = POLLED[i % len(POLLED)]
                    before = phase[0]
                    try:
                        r = own.get(f"/users/{user}/recommendations")
                        seen.append(Seen(n, before, r.status_code, r.json()))
                    except (httpx.HTTPError, ValueError) as exc:
                        seen.append(Seen(n, before, -1, {"error": repr(exc)}))
                    i += 1

        readers = [threading.Thread(target=reader, args=(n,)) for n in range(3)]
        for t in readers:
            t.start()

        def converged(run: str, at: int) -> bool:
            """Every reader has an answer from `run` to a request sent after switch `at`."""
            latest = {s.reader for s in list(seen) if s.phase == at and s.body.get("run_id") == run}
            return latest == {0, 1, 2}

        try:
            wait_for(lambda: converged("run-a", 0), 60)
            for _cycle in range(3):
                publish(store, "run-b")
                phase[0] += 1
                wait_for(lambda: converged("run-b", phase[0]), 60)
                rollback(store)
                phase[0] += 1
                wait_for(lambda: converged("run-a", phase[0]), 60)
        finally:
            stop.set()
            for t in readers:
                t.join(60)

        assert len(seen) > 100
        errors = [s for s in seen if s.status != 200]
        assert errors == [], errors[:5]
        runs = [check(s) for s in seen]  # never a mixed list: every item of the answer's run
        assert set(runs) == {"run-a", "run-b"}
        # after a switch a reader may see the old run a little longer, then only the new
        # one: its answers change run at most once per switch, never back and forth
        for n in range(3):
            mine = [run for s, run in zip(seen, runs, strict=True) if s.reader == n]
            changes = [run for i, run in enumerate(mine) if i == 0 or run != mine[i - 1]]
            assert changes[0] == "run-a" and len(changes) <= phase[0] + 1, changes

        # a burst of visits from many clients at once: every one stored, none twice
        def visit(i: int) -> int:
            with httpx.Client(base_url=client.base_url, timeout=60) as own:
                body = {"user": f"burst{i}", "restaurant": f"r{i % 7}", "rating": 1 + i % 5}
                return own.post("/visits", json=body).status_code

        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(visit, range(300)))
        assert statuses == [201] * 300
        stored = [
            row["prediction_id"]
            for part in (root / ".opsloop" / "labels").glob("*.parquet")
            for row in pq.read_table(part, columns=["prediction_id"]).to_pylist()
        ]
        assert sorted(stored) == sorted(f"burst{i}" for i in range(300))
        counts = client.get("/health").json()["visits"]
        assert counts["stored"] == 300 and counts["failed"] == 0
        print(f"300 concurrent visits stored in {counts['parts']} parts")
    arrivals = store.list_arrivals("restaurants", source="labels")
    assert sum(a.rows for a in arrivals) == 300
    events = store.list_events("restaurants", kinds=["labels_added"])
    assert len(events) == len(arrivals) and {e.actor for e in events} == {"webapp"}
    store.close()
