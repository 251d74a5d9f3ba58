"""Recovery of batch runs (`batch/recover.py`): the hidden temporaries of a run killed
before its record are removed once unchanged for `STALE_AGE`, never those of a live run
(which refreshes their times) nor a reader's visible files."""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from opsloop.batch import recover, sinks
from opsloop.batch.predict import rt_log_root
from tinyproject import tiny_frame


@pytest.fixture
def trained(memory_project):
    memory_project.train()
    return memory_project


def _killed_run(rt, out: Path, run_id: str) -> tuple[sinks.RunFolder, sinks.LogSink]:
    """What a prediction killed before its record leaves: its rows in hidden files only."""
    table = pa.table({"row_id": ["a", "b"], "score": [0.1, 0.9]})
    folder = sinks.RunFolder(out, run_id)
    folder.write(table)
    log = sinks.LogSink(Path(rt_log_root(rt)), rt.model)
    log.write(table, datetime.now(UTC))
    return folder, log


def _age(path: Path, seconds: float) -> None:
    """Make `path` (and a folder's files) look unchanged for `seconds`."""
    then = time.time() - seconds
    for p in [path, *(path.iterdir() if path.is_dir() else [])]:
        os.utime(p, (then, then))


def _hidden(rt, out: Path) -> list[Path]:
    log = Path(rt_log_root(rt))
    return sorted([*out.glob(".run=*.tmp"), *log.rglob(".part-*.parquet.tmp")])


def test_a_dead_runs_hidden_files_are_removed_once_stale(trained, tmp_path, caplog):
    p = trained
    rt = p.runtime
    out = tmp_path / "out"
    done = p.predict(_input(tmp_path), out)
    folder, log = _killed_run(rt, out, "20261207T000000Z-dead00")
    hidden = _hidden(rt, out)
    assert hidden == sorted([folder.tmp, *(w.path for w in log._writers.values())])

    # fresh: they may be a live run's, left alone
    assert recover.remove_stale_hidden(rt, out) == []
    assert _hidden(rt, out) == hidden

    stale = recover.STALE_AGE.total_seconds() + 60
    for h in hidden:
        _age(h, stale)
    with caplog.at_level(logging.WARNING, logger="opsloop.batch"):
        finished = recover.finish_recorded(rt, output=out)
    assert sorted(finished.removed) == [str(h) for h in hidden]
    assert _hidden(rt, out) == []
    assert "removed 2 hidden temporary file(s)" in caplog.text
    assert any("removed 2 hidden" in n for n in finished.notes())
    # the recorded run's visible output and log rows stay
    assert Path(done.output).is_dir() and any(Path(done.output).iterdir())
    assert len(list(Path(rt_log_root(rt)).rglob("part-*.parquet"))) == 1
    assert recover.remove_stale_hidden(rt, out) == []  # idempotent


def test_a_live_run_keeps_its_hidden_files(trained, tmp_path, monkeypatch):
    """A log file of an earlier hour is not written again while the run goes on: the run's
    heartbeat touches it, so recovery leaves it."""
    rt = trained.runtime
    out = tmp_path / "out"
    folder, log = _killed_run(rt, out, "20261207T000000Z-live00")
    stale = recover.STALE_AGE.total_seconds() + 60
    for h in _hidden(rt, out):
        _age(h, stale)
    folder.write(pa.table({"row_id": ["c"], "score": [0.5]}))  # the current file written
    monkeypatch.setattr(sinks, "HEARTBEAT", 0.0)
    log.write(pa.table({"row_id": ["c"], "score": [0.5]}), datetime(2026, 1, 1, tzinfo=UTC))
    assert recover.remove_stale_hidden(rt, out) == []
    renames = folder.close() + log.close()
    sinks.apply_renames(renames)  # the live run completes: its files in place
    assert _hidden(rt, out) == []


def _input(tmp_path: Path) -> str:
    path = tmp_path / "in.parquet"
    tiny_frame(50, seed=5, prefix="k", days=0.01).drop(columns=["label"]).to_parquet(path)
    return str(path)
