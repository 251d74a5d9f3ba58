"""Backfill: a series of windows from an existing prediction log, each compared with the
reference and the previous window; idempotent per window; the report charts the history."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from opsloop.data.window import Window
from opsloop.errors import InvalidInputError
from opsloop.monitor.backfill import plan_windows
from opsloop.project import Project
from opsloop.store.records import MonitorResult
from tinyproject import prediction_log, tiny_frame

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def log_hour(
    p: Project, hour: int, *, n: int = 300, drift: float = 0.0, version: str = "1"
) -> None:
    """`n` predictions of `version` in hour `hour` after T0, with their labels."""
    frame = tiny_frame(n, drift=drift, seed=100 + hour, prefix=f"h{hour}")
    log = prediction_log(p, frame, "1", ts=T0 + timedelta(hours=hour, minutes=30))
    log["model_version"] = version
    p.engine.add_predictions(log)  # type: ignore[attr-defined]
    p.engine.add_labels(
        pd.DataFrame(
            {  # type: ignore[attr-defined]
                "prediction_id": log["prediction_id"],
                "label": frame["label"],
                "label_ts": pd.Timestamp(T0 + timedelta(days=2)),
            }
        )
    )


def test_plan_windows() -> None:
    ws = plan_windows(T0, T0 + timedelta(hours=3, minutes=20), timedelta(hours=1))
    assert [(w.start.hour, w.end.hour) for w in ws] == [(0, 1), (1, 2), (2, 3)]
    with pytest.raises(InvalidInputError, match="no whole"):
        plan_windows(T0, T0 + timedelta(minutes=30), timedelta(hours=1))
    with pytest.raises(InvalidInputError, match="at most 10,000"):
        plan_windows(T0, T0 + timedelta(days=30), timedelta(minutes=1))
    with pytest.raises(InvalidInputError, match="positive"):
        plan_windows(T0, T0 + timedelta(hours=1), timedelta(0))


def test_backfill_compares_windows_and_is_idempotent(memory_project: Project) -> None:
    p = memory_project
    p.train()
    for hour in range(4):  # hours 4, 5: no traffic; hour 3 drifts
        log_hour(p, hour, drift=1.0 if hour == 3 else 0.0)
    log_hour(p, 6, version="9")  # another version's answers are not this version's window
    seen: list[str] = []
    first = p.backfill_monitor(
        start=T0,
        end=T0 + timedelta(hours=7, minutes=5),
        every=timedelta(hours=1),
        on_window=lambda w, outcome: seen.append(outcome),
    )
    assert len(first.windows) == 7 and len(seen) == 7 and first.version == "1"
    assert [m.window_start.hour for m in first.monitored] == [0, 1, 2, 3]
    assert [s["reason"] for s in first.skipped] == ["no predictions of version 1"] * 3
    assert first.remainder is not None and first.remainder.startswith("2026-05-01T07:00")
    r0, r1, r2, r3 = first.monitored
    assert "previous" not in r0.summary
    prev = r3.summary["previous"]
    assert prev["id"] == r2.id and prev["window_end"] == r2.summary["window_end"]
    assert r3.drift_detected and not r2.drift_detected
    assert set(prev["newly_drifted"]) == set(r3.summary["drifted_features"]) != set()
    assert prev["drift_share"]["change"] == pytest.approx(r3.drift_share - r2.drift_share)
    assert prev["performance"]["n_labelled"] == 300
    events = p.store.list_events("tiny", kinds=["monitored"], limit=1)
    assert events[0].evidence["previous"]["newly_drifted"] == prev["newly_drifted"]
    assert "newly drifted since the previous window" in events[0].summary
    # JSON for every window, the HTML (with the history) for the last one
    assert [Path(str(m.report_path)).suffix for m in first.monitored] == [".json"] * 3 + [".html"]
    assert first.report_path == r3.report_path and first.report_path is not None
    html = Path(first.report_path).read_text(encoding="utf-8")
    assert "Over time (4 windows of this version)" in html and html.count("<svg") > 6
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html)

    again = p.backfill_monitor(start=T0, end=T0 + timedelta(hours=4), every=timedelta(hours=1))
    assert again.monitored == [] and len(again.skipped) == 4
    assert again.skipped[0]["reason"] == f"already monitored (result {r0.id})"
    assert len(p.store.list_monitor("tiny")) == 4

    replaced = p.backfill_monitor(
        start=T0 + timedelta(hours=2),
        end=T0 + timedelta(hours=4),
        every=timedelta(hours=1),
        replace=True,
    )
    assert replaced.replaced == [r2.id, r3.id]
    kept = p.store.list_monitor_windows("tiny")
    assert [r.window_start.hour for r in kept] == [0, 1, 2, 3] and len(kept) == 4
    new2, new3 = replaced.monitored
    assert new2.summary["previous"]["id"] == r1.id  # compared with the stored hour 1
    assert new3.summary["previous"]["id"] == new2.id

    # the scheduled path compares too: an empty window judges nothing, so nothing recovers
    empty = p.monitor(window=Window(T0 + timedelta(hours=4), T0 + timedelta(hours=5)), version="1")
    assert empty.n_rows == 0 and empty.summary["previous"]["id"] == new3.id
    assert empty.summary["previous"]["recovered"] == []
    assert empty.summary["previous"]["drift_share"]["change"] == pytest.approx(-new3.drift_share)
    assert Path(str(empty.report_path)).suffix == ".html"

    history = p.monitoring(limit=4)
    assert [w["window_start"][11:13] for w in history["windows"]] == ["01", "02", "03", "04"]
    last = history["windows"][-2]
    assert last["previous"]["newly_drifted"] == prev["newly_drifted"]
    assert last["features"]["x1"]["drifted"] is True
    assert p.status()["last_monitor"]["newly_drifted"] == []
    # the same history, typed: what the CLI renders, dumping to the JSON above
    view = p.monitoring_view(limit=4)
    assert view.to_json() == history
    typed = view.windows[-2]
    assert typed.previous is not None and typed.previous.newly_drifted == prev["newly_drifted"]
    assert typed.features["x1"].drifted is True
    last_monitor = p.status_view().last_monitor
    assert last_monitor is not None and last_monitor.newly_drifted == []


def test_backfill_needs_a_deployed_version_or_one_named(memory_project: Project) -> None:
    from opsloop.errors import StateError

    with pytest.raises(StateError, match="no deployed version"):
        memory_project.backfill_monitor(
            start=T0, end=T0 + timedelta(hours=1), every=timedelta(hours=1)
        )


def test_backfill_windows_history_by_event_time(memory_project: Project) -> None:
    """Rows answered a year later than their events (a replayed history): the event clock
    (the default) monitors them in their own windows; the answered clock in none of those."""
    p = memory_project
    p.train()
    answered = T0 + timedelta(days=365)
    for hour in range(2):
        frame = tiny_frame(300, seed=200 + hour, prefix=f"e{hour}")
        log = prediction_log(p, frame, "1", ts=answered)
        log.insert(3, "event_ts", pd.Timestamp(T0 + timedelta(hours=hour, minutes=30)))
        p.engine.add_predictions(log)  # type: ignore[attr-defined]
    assert p.config.monitor.clock == "event"
    by_event = p.backfill_monitor(start=T0, end=T0 + timedelta(hours=2), every=timedelta(hours=1))
    assert [m.window_start.hour for m in by_event.monitored] == [0, 1]
    assert [m.n_rows for m in by_event.monitored] == [300, 300]

    p.config = p.config.model_copy(
        update={"monitor": p.config.monitor.model_copy(update={"clock": "answered"})}
    )
    for cached in ("runtime", "_runtime"):  # built again from the new configuration
        p.__dict__.pop(cached, None)
    later = T0 + timedelta(hours=2)
    by_answer = p.backfill_monitor(
        start=later, end=later + timedelta(hours=2), every=timedelta(hours=1)
    )
    assert by_answer.monitored == [] and len(by_answer.skipped) == 2
    year_on = p.backfill_monitor(
        start=answered, end=answered + timedelta(hours=1), every=timedelta(hours=1)
    )
    assert [m.n_rows for m in year_on.monitored] == [600]


@pytest.fixture(params=["here", "processes"])
def judged_in(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> list[int] | None:
    """The backfill's windows judged here, one by one (None), or by forked workers two
    windows per task and a pool per two windows even on short series (the list collects
    the workers of each series)."""
    from opsloop.monitor import backfill as bf

    used: list[int] = []
    if request.param == "here":
        monkeypatch.setattr(bf, "PARALLEL_MIN", 10**9)
        return None
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one CPU: the backfill judges here")
    monkeypatch.setattr(bf, "PARALLEL_MIN", 1)
    monkeypatch.setattr(bf, "JUDGE_CHUNK", 2)
    monkeypatch.setattr(bf, "GROUP_ROWS", 200)  # a pool per 2 windows of 120 rows
    real = bf._judge_in_processes

    def spy(*args: object, **kwargs: object) -> object:
        used.append(args[-1])  # type: ignore[arg-type]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bf, "_judge_in_processes", spy)
    return used


def test_series_path_equals_the_per_window_path(
    memory_project: Project, tmp_path: Path, judged_in: list[int] | None
) -> None:
    """The backfill's series path (one scan, results stored `COMMIT_EVERY` per transaction,
    the previous window known without a query; windows judged here or in worker processes)
    stores, window by window, exactly what reading, judging and storing each window in turn
    stores: the same rows, summaries (with their `previous` comparison), events and JSON
    reports — with a result already stored inside the span (a half-hour window: some
    windows are compared with it) and one window replaced."""
    import shutil
    from dataclasses import fields

    from opsloop.monitor import backfill as bf
    from opsloop.monitor.job import evaluate_window, load_version, record_window
    from opsloop.monitor.previous import compare_windows
    from opsloop.store import OpsStore
    from opsloop.store._util import jsonable

    p = memory_project
    p.train()
    for hour in (0, 1, 2, 4, 5):  # hour 3: no traffic; hour 4 drifts
        log_hour(p, hour, n=120, drift=1.0 if hour == 4 else 0.0)
    half = Window(T0 + timedelta(hours=1), T0 + timedelta(hours=1, minutes=30))
    p.monitor(window=half, version="1")
    p.monitor(window=Window(T0 + timedelta(hours=2), T0 + timedelta(hours=3)), version="1")

    store = OpsStore("sqlite://")  # the same history in a second store and project folder
    with p.store.engine.connect() as src, store.engine.connect() as dst:
        src.connection.driver_connection.backup(dst.connection.driver_connection)
    root = shutil.copytree(p.root, tmp_path / "copy")
    q = Project(root, registry=p.registry, store=store, engine=p.engine, actor="tester")

    windows = [Window(T0 + timedelta(hours=h), T0 + timedelta(hours=h + 1)) for h in range(6)]
    old = bf.COMMIT_EVERY
    bf.COMMIT_EVERY = 2  # several transactions on this short series
    try:
        series = p.backfill_monitor(
            start=T0,
            end=windows[-1].end,
            every=timedelta(hours=1),
            replace=True,
            fork_workers=judged_in is not None,
        )
    finally:
        bf.COMMIT_EVERY = old

    rt = q.runtime
    inputs = load_version(rt, "1")
    one_by_one = []
    for w in windows:
        report = evaluate_window(rt, w, inputs)
        if report.n_rows:
            found = tuple(r.id for r in rt.store.list_monitor_window("tiny", "1", w.start, w.end))
            html = w == windows[-1]
            one_by_one.append(
                record_window(rt, report, inputs.reference, "1", html=html, replaces=found)
            )

    assert [r.window_start.hour for r in series.monitored] == [0, 1, 2, 4, 5]
    assert judged_in is None or judged_in == [2]  # judged by 2 workers
    assert series.monitored[2].summary["previous"]["id"] == one_by_one[2].summary["previous"]["id"]
    assert series.monitored[1].summary["previous"]["window_end"] == half.end.isoformat()
    for a, b in zip(series.monitored, one_by_one, strict=True):
        assert [getattr(a, f.name) for f in fields(a) if f.name not in ("ts", "report_path")] == [
            getattr(b, f.name) for f in fields(b) if f.name not in ("ts", "report_path")
        ]
        assert a.summary == b.summary
        assert Path(str(a.report_path)).name == Path(str(b.report_path)).name
        json_a = Path(str(a.report_path)).with_suffix(".json").read_text(encoding="utf-8")
        json_b = Path(str(b.report_path)).with_suffix(".json").read_text(encoding="utf-8")
        assert json_a == json_b

    # the comparison read from the digests equals the one read from the full summaries
    by_id = {r.id: r for r in p.store.list_monitor_windows("tiny", limit=50)}
    for r in series.monitored[1:]:
        before = by_id[r.summary["previous"]["id"]]
        full = compare_windows(
            {k: v for k, v in r.summary.items() if k != "previous"},
            before.summary,
            previous_id=before.id,
            previous_version=before.version,
        )
        assert jsonable(full.to_json()) == r.summary["previous"]

    def events(project: Project) -> list[tuple[str, str | None, str, dict[str, object]]]:
        return [
            (e.kind, e.version, e.summary, {**e.evidence, "ts": 0, "report_path": 0})
            for e in project.store.list_events("tiny")
        ]

    assert events(p) == events(q)
    assert p.store.list_monitor_windows("tiny", limit=50) != []
    assert [(r.id, r.summary) for r in p.store.list_monitor_windows("tiny", limit=50)] == [
        (r.id, r.summary) for r in q.store.list_monitor_windows("tiny", limit=50)
    ]

    # an error mid-series (here from the progress callback after hour 4 is judged): the
    # transactions committed before it stay, whole; the open one leaves nothing
    def hourly() -> list[MonitorResult]:
        found = q.store.list_monitor_windows("tiny", limit=50)
        return [r for r in found if r.window_end - r.window_start == timedelta(hours=1)]

    before = {r.window_start.hour: r.id for r in hourly()}

    def fail_at_hour_4(window: Window, outcome: str) -> None:
        if window.start.hour == 4:
            raise RuntimeError("stopped")

    bf.COMMIT_EVERY = 2
    try:
        with pytest.raises(RuntimeError, match="stopped"):
            q.backfill_monitor(
                start=T0,
                end=windows[-1].end,
                every=timedelta(hours=1),
                replace=True,
                on_window=fail_at_hour_4,
            )
    finally:
        bf.COMMIT_EVERY = old
    after = hourly()
    hours = [r.window_start.hour for r in after]
    assert sorted(hours) == [0, 1, 2, 4, 5]  # one result per window, none lost
    changed = {r.window_start.hour for r in after if before.get(r.window_start.hour) != r.id}
    assert changed == {0, 1}  # the first transaction (hours 0, 1) replaced its windows


def test_a_judgement_failing_in_a_worker_raises_its_error_here(
    memory_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A window whose judgement fails in a worker process is judged again by the backfill's
    own process, which raises the error as it is; the windows of the transactions before it
    stay stored."""
    from opsloop.monitor import backfill as bf
    from opsloop.monitor import job

    p = memory_project
    p.train()
    for hour in range(6):
        log_hour(p, hour, n=60)
    real = job.judge_scan

    def judge(rt, window, *args, **kwargs):  # type: ignore[no-untyped-def]
        if window.start.hour == 4:
            raise InvalidInputError("window 4 cannot be judged", fix="none: a test")
        return real(rt, window, *args, **kwargs)

    monkeypatch.setattr(job, "judge_scan", judge)  # inherited by the forked workers
    monkeypatch.setattr(bf, "PARALLEL_MIN", 1)
    monkeypatch.setattr(bf, "JUDGE_CHUNK", 3)
    monkeypatch.setattr(bf, "GROUP_ROWS", 150)  # hours 0-2, then 3-5 (4 fails in a worker)
    monkeypatch.setattr(bf, "COMMIT_EVERY", 2)
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one CPU: the backfill judges here")
    assert bf._judge_workers(p.runtime, job.load_version(p.runtime, "1"), 6) == 2
    with pytest.raises(InvalidInputError, match="window 4 cannot be judged"):
        p.backfill_monitor(
            start=T0, end=T0 + timedelta(hours=6), every=timedelta(hours=1), fork_workers=True
        )
    stored = sorted(r.window_start.hour for r in p.store.list_monitor_windows("tiny", limit=50))
    assert stored == [0, 1]  # the first transaction; the open one (hours 2, 3) left nothing


def test_windows_are_judged_here_when_few_or_a_period_of_the_log_is_the_reference(
    memory_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from opsloop.monitor import backfill as bf
    from opsloop.monitor.job import load_version

    p = memory_project
    p.train()
    rt = p.runtime
    inputs = load_version(rt, "1")
    monkeypatch.setattr(bf.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert bf._judge_workers(rt, inputs, bf.PARALLEL_MIN - 1) == 0  # too few windows
    assert bf._judge_workers(rt, inputs, bf.PARALLEL_MIN) == 2
    monkeypatch.setattr(bf.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert bf._judge_workers(rt, inputs, bf.PARALLEL_MIN) == 0  # one CPU
    monkeypatch.setattr(bf.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    rolling = rt.config.monitor.model_copy(update={"reference": "rolling:7d"})
    rt = replace(rt, config=rt.config.model_copy(update={"monitor": rolling}))
    assert bf._judge_workers(rt, inputs, bf.PARALLEL_MIN) == 0  # reads the engine


def test_only_the_cli_forks_workers(
    memory_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backfill forks worker processes only when its caller says it is a short-lived
    process of its own (`fork_workers`: the CLI's `opsloop monitor --from`); the API, the
    agent and the server judge every window here, however many — and to the same results."""
    import importlib

    from opsloop.monitor import backfill as bf

    cli = importlib.import_module("opsloop.cli.app")  # the module (the package exports `app`)
    p = memory_project
    p.train()
    for hour in range(4):
        log_hour(p, hour, n=60)
    forks: list[int] = []
    real = bf._judge_in_processes

    def spy(*args: object, **kwargs: object) -> object:
        forks.append(args[-1])  # type: ignore[arg-type]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bf, "_judge_in_processes", spy)
    monkeypatch.setattr(bf, "PARALLEL_MIN", 1)  # would fork for any number of windows
    monkeypatch.setattr(bf.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    span = {"start": T0, "end": T0 + timedelta(hours=4), "every": timedelta(hours=1)}
    here = p.backfill_monitor(**span)  # the Project API's default (agent, server, API)
    assert forks == [] and len(here.monitored) == 4
    forked = p.backfill_monitor(**span, replace=True, fork_workers=True)
    assert forks == [2]

    def judged(rs: list[MonitorResult]) -> list[tuple[object, ...]]:
        return [(r.window_start, r.n_rows, r.drift_share, r.performance_value) for r in rs]

    assert judged(forked.monitored) == judged(here.monitored)

    passed: list[bool] = []
    monkeypatch.setattr(
        Project,
        "backfill_monitor",
        lambda self, **kw: passed.append(kw["fork_workers"]) or bf.BackfillResult(version="1"),
    )
    for as_json in (True, False):
        cli._backfill(
            p, "2026-01-01", "2026-01-02", "1h", version=None, replace=False, as_json=as_json
        )
    assert passed == [True, True]
