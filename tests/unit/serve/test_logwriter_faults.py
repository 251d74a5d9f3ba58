"""The prediction-log writer under faults: a batch it cannot store is quarantined instead of
blocking the rows behind it; a disk that refuses writes (full, unwritable: injected through
the `OPSLOOP_FAULTS` hook) degrades it with one log line, keeps every row queued and recovers
by itself; `durability="request"` journals each request before it is answered and a dead
writer's journal is replayed."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from opsloop.data.predlog import log_health
from opsloop.serve import PredictionLogWriter, faults
from opsloop.serve.logrows import approx_bytes
from opsloop.serve.logwriter import LoggedRequest
from opsloop.serve.rows import ModelInput
from serve_fixtures import FEATURES


def request(pid: str, color: str = "red", x: float = 1.0) -> LoggedRequest:
    rows = ModelInput(
        FEATURES,
        1,
        columns={"x": np.array([x]), "color": np.array([color], dtype=object)},
    )
    return LoggedRequest(
        rows, [pid], f"r-{pid}", time.time(), "1", "stable", np.array([1]), np.array([0.7])
    )


def logged(root: Path) -> pd.DataFrame:
    files = sorted(root.glob("model=m/date=*/hour=*/*.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files]) if files else pd.DataFrame()


def test_a_batch_it_cannot_store_is_quarantined_not_retried(tmp_path: Path) -> None:
    writer = PredictionLogWriter(tmp_path, "m", flush_interval=60)
    writer.submit(request("bad", color="\ud800"))  # what parsing now refuses, if it got here
    for i in range(50):
        writer.submit(request(f"good{i}"))
    writer.flush()
    assert sorted(logged(tmp_path)["prediction_id"]) == sorted(f"good{i}" for i in range(50))
    assert writer.quarantined_rows == 1 and writer.written_rows == 50 and writer.queued_rows == 0
    writer.submit(request("later"))
    writer.flush()  # nothing re-queued at the head: the next flush writes the next rows
    assert len(logged(tmp_path)) == 51
    health = log_health(tmp_path, "m")
    assert (health.quarantined_batches, health.quarantined_rows) == (1, 1)
    [kept] = Path(health.quarantine).glob("batch-*.json")
    body = json.loads(kept.read_text())
    assert body["rows"][0]["prediction_id"] == "bad" and body["rows"][0]["color"] == "\ud800"
    assert "UnicodeEncodeError" in body["error"]


@pytest.fixture
def fault(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "faults"
    monkeypatch.setenv(faults.ENV, str(path))
    return path


@pytest.mark.parametrize("code", ["ENOSPC", "EACCES"])
def test_a_storage_fault_degrades_keeps_rows_and_recovers(
    tmp_path: Path, fault: Path, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "log"
    writer = PredictionLogWriter(root, "m", flush_interval=60)
    fault.write_text(f"predlog.write {code}\n")
    caplog.set_level(logging.WARNING, "opsloop.serve.log")
    for i in range(3):
        writer.submit(request(f"a{i}"))
        with pytest.raises(OSError):
            writer.flush()
    assert writer.degraded is not None and writer.queued_rows == 3 and logged(root).empty
    assert writer.queued_bytes == 3 * approx_bytes(request("a0"))  # kept, for the bound too
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is None  # one line, not one per flush
    assert "\n" not in errors[0].getMessage()
    fault.unlink()
    writer.submit(request("b"))
    writer.flush()
    assert writer.degraded is None and writer.queued_rows == 0 and writer.queued_bytes == 0
    assert sorted(logged(root)["prediction_id"]) == ["a0", "a1", "a2", "b"]


def test_the_fault_in_the_middle_of_isolating_a_bad_batch_loses_nothing(
    tmp_path: Path, fault: Path
) -> None:
    writer = PredictionLogWriter(tmp_path, "m", flush_interval=60)
    writer.submit(request("bad", color="\udfff"))
    writer.submit(request("ok"))
    fault.write_text("predlog.quarantine ENOSPC\n")
    with pytest.raises(OSError):
        writer.flush()
    assert writer.queued_rows == 2
    fault.unlink()
    writer.flush()
    assert list(logged(tmp_path)["prediction_id"]) == ["ok"] and writer.quarantined_rows == 1


def test_request_durability_journals_before_the_answer(tmp_path: Path) -> None:
    writer = PredictionLogWriter(tmp_path, "m", flush_interval=60, durability="request")
    writer.submit(request("p1"))
    writer.submit(request("p2"))
    assert log_health(tmp_path, "m").journal_segments == 1  # on disk, fsync'd
    writer.flush()
    assert log_health(tmp_path, "m").journal_segments == 0
    assert sorted(logged(tmp_path)["prediction_id"]) == ["p1", "p2"]


def test_a_dead_writers_journal_is_replayed_by_the_next(tmp_path: Path) -> None:
    dead = PredictionLogWriter(tmp_path, "m", flush_interval=60, durability="request")
    for i in range(5):
        dead.submit(request(f"p{i}", x=float(i)))
    live = PredictionLogWriter(tmp_path, "m", flush_interval=60, durability="request")
    live.flush()  # the dead one still holds its segment: not replayed
    assert logged(tmp_path).empty
    assert dead.journal is not None and dead.journal._current is not None
    os.close(dead.journal._current.fd)  # as SIGKILL would: the lock goes, the file stays
    live._replay_due = True  # the next server's start
    live.flush()
    rows = logged(tmp_path).sort_values("prediction_id")
    assert list(rows["prediction_id"]) == [f"p{i}" for i in range(5)]
    assert list(rows["x"]) == [0.0, 1.0, 2.0, 3.0, 4.0] and set(rows["color"]) == {"red"}
    assert live.replayed_rows == 5 and log_health(tmp_path, "m").journal_segments == 0
    assert str(rows["ts"].dtype) == "datetime64[us, UTC]"


def test_a_journal_that_cannot_be_written_refuses_the_request(tmp_path: Path, fault: Path) -> None:
    writer = PredictionLogWriter(tmp_path, "m", flush_interval=60, durability="request")
    fault.write_text("predlog.journal ENOSPC\n")
    with pytest.raises(OSError):
        writer.submit(request("p"))
    assert writer.queued_rows == 0 and writer.degraded is not None
