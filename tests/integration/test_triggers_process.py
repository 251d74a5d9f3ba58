"""A real `opsloop agent` process: it ingests label files dropped into the inbox (a bad one
is moved aside and the agent carries on), fires the `labels` trigger when enough labelled
rows arrived and runs a retraining someone requested with `opsloop retrain`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from opsloop.project import Project
from opsloop.store import OpsStore
from tinyproject import add_training_data, write_tiny_project

pytestmark = pytest.mark.slow

RETRAIN = "retrain: {on: [drift, performance], training_window: 30d, cooldown: 1h}"


def wait_until(predicate, timeout: float = 180.0, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout}s: {what}")
        time.sleep(0.2)


def opsloop(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "opsloop", *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_agent_ingests_labels_and_runs_requests(tmp_path: Path) -> None:
    root = write_tiny_project(tmp_path / "tiny")
    text = (
        (root / "opsloop.yaml")
        .read_text()
        .replace(
            RETRAIN,
            "retrain: {on: [labels], labels: {min_rows: 100}, training_window: 30d, "
            "cooldown: 1h}\ndata: {inbox: {path: 'inbox/*.csv'}}",
        )
    )
    (root / "opsloop.yaml").write_text(text)
    (root / "inbox").mkdir()
    assert Project(root).train().version == "1"
    store = OpsStore(f"sqlite:///{root / '.opsloop' / 'ops.db'}")

    def trained() -> list[str]:
        return [r.trigger or "" for r in store.list_runs("tiny") if r.status == "succeeded"]

    log = tmp_path / "agent.log"
    with log.open("wb") as out:
        agent = subprocess.Popen(
            [sys.executable, "-m", "opsloop", "agent", "-p", str(root), "--interval", "0.5s"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        (root / "inbox" / "bad.csv").write_text("who,what\n1,2\n")
        pd.DataFrame({"row_id": [f"a{i}" for i in range(60)], "label": [1, 0] * 30}).to_csv(
            root / "inbox" / "part1.csv", index=False
        )
        wait_until(
            lambda: store.list_events("tiny", kinds=["labels_rejected"]),
            what="the bad file is rejected",
        )
        wait_until(lambda: not (root / "inbox" / "part1.csv").exists(), what="part1 ingested")
        assert len(trained()) == 1  # 60 of 100 labelled rows: no retraining yet
        add_training_data(root)  # the labelled events reach load()'s data (else: skipped)
        pd.DataFrame({"row_id": [f"b{i}" for i in range(50)], "label": [0, 1] * 25}).to_csv(
            root / "inbox" / "part2.csv", index=False
        )
        wait_until(lambda: len(trained()) == 2, what="the labels trigger retrains")
        assert trained()[0].startswith("labels:")

        add_training_data(root, seed=2)  # new data again: a retrain on the same is skipped
        request = json.loads(opsloop("retrain", "-p", str(root), "--reason", "please", "--json"))
        wait_until(lambda: len(trained()) == 3, what="the request is run (despite cooldown)")
        assert trained()[0] == f"manual:{request['id']}"
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=120)
    assert agent.returncode == 0, log.read_text()
    assert "Traceback" not in log.read_text()
    assert (root / ".opsloop" / "inbox" / "rejected" / "bad.csv").is_file()
    status = json.loads(opsloop("status", "-p", str(root), "--json"))
    triggers = {t["trigger"]: t for t in status["schedule"]["triggers"]}
    assert triggers["labels"]["last_key"] is not None
    assert triggers["labels"]["progress"] == {"rows": 0, "min_rows": 100}
    assert triggers["manual"]["last_key"] == str(request["id"])
    assert triggers["manual"]["pending"] == []
    assert status["retrain_requests"][-1]["status"] == "fired"
