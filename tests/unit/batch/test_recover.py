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


# ---- a run killed between its record and its publication ------------------------------
class _Killed(BaseException):
    """Stands for the SIGKILL at a crash point: nothing after it runs in this call."""


def _kill_at(monkeypatch, point: str) -> None:
    import opsloop.batch.predict as predict

    def crash(name: str) -> None:
        if name == point:
            raise _Killed(name)

    monkeypatch.setattr(predict, "crash_point", crash)


def _killed_before_publish(p, tmp_path: Path, monkeypatch) -> str:
    """A prediction with --publish killed between its record and its publication."""
    published = p.store.find_published_batch(p.name)
    with monkeypatch.context() as m:
        _kill_at(m, "batch.before_publish")
        with pytest.raises(_Killed):
            p.predict(_input(tmp_path), tmp_path / "out", publish=True)
    run = max(p.store.list_batch_runs(p.name), key=lambda r: r.finished)
    assert run.status == "succeeded" and run.details["publish"] is True
    assert p.store.find_published_batch(p.name) == published  # nothing published
    return run.run_id


def test_a_run_killed_before_its_publication_is_published_by_recovery(
    trained, tmp_path, monkeypatch
):
    p = trained
    run_id = _killed_before_publish(p, tmp_path, monkeypatch)
    first = recover.finish_recorded(p.runtime)  # within the grace: its process may publish
    assert first.published is None and p.store.find_published_batch(p.name) is None

    monkeypatch.setattr(recover, "PUBLISH_GRACE", recover.timedelta(0))
    done = recover.finish_recorded(p.runtime)
    assert done.published == run_id
    assert any("published now" in line for line in done.notes())
    current = p.store.find_published_batch(p.name)
    assert current is not None and current.run_id == run_id
    assert current.actor == "opsloop (recovery)" and "recovery" in current.reason
    assert (tmp_path / "out" / "current.json").exists()
    again = recover.finish_recorded(p.runtime)  # idempotent: one publication
    assert again.published is None and len(p.store.list_batch_publications(p.name)) == 1


def test_a_later_publication_wins_over_an_interrupted_one(trained, tmp_path, monkeypatch):
    p = trained
    first = p.predict(_input(tmp_path), tmp_path / "out", publish=True)
    killed = _killed_before_publish(p, tmp_path, monkeypatch)
    p.publish_batch(first.run.run_id)  # an operator's later decision: the first run
    monkeypatch.setattr(recover, "PUBLISH_GRACE", recover.timedelta(0))
    assert recover.finish_recorded(p.runtime).published is None
    current = p.store.find_published_batch(p.name)
    assert current is not None and current.run_id == first.run.run_id != killed


def test_a_run_not_meant_for_publication_stays_unpublished(trained, tmp_path, monkeypatch):
    p = trained
    result = p.predict(_input(tmp_path), tmp_path / "out")
    assert result.run.details["publish"] is False
    monkeypatch.setattr(recover, "PUBLISH_GRACE", recover.timedelta(0))
    assert recover.finish_recorded(p.runtime).published is None
    assert p.store.find_published_batch(p.name) is None
