"""`opsloop monitor` and the agent for a ranking project, on in-memory backends: the lists
put into the prediction log as the nightly run logs them (contract 4), the visits into the
labels store (contract 5), the version's ranking reference in the registry; the result
stored with its report and events, and the `drift` / `performance` triggers fired on a
breach and not without one."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from opsloop.engines.memory import MemoryEngine
from opsloop.project import Project
from opsloop.ranking.data import TopK
from ranking_monitor import (
    MODEL,
    WINDOW,
    K,
    list_rows,
    make_root,
    nightly,
    tables,
    visit_rows,
)
from ranking_monitor import open_project as open_on


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_root(tmp_path_factory.mktemp("rankmon"))


def open_project(root: Path) -> Project:
    return open_on(root, engine=MemoryEngine())


def log_lists(p: Project, top: TopK, at: datetime) -> None:
    p.engine.add_predictions(list_rows(top, at))  # type: ignore[attr-defined]


def add_visits(p: Project, root: Path) -> int:
    rows = visit_rows(root)
    p.engine.add_labels(rows)  # type: ignore[attr-defined]
    return len(rows)


def test_monitor_records_a_ranking_window(root: Path) -> None:
    p = open_project(root)
    top = nightly(root)
    log_lists(p, top, WINDOW.start - timedelta(hours=1))
    n = add_visits(p, root)
    result = p.monitor(window=WINDOW)
    assert result.version == "1" and result.n_labelled == n
    assert result.n_rows == len(top.users) + 1  # every user's list and the fallback
    summary = result.summary
    ranking = summary["ranking"]
    assert ranking["breaches"] == [], ranking
    assert not result.drift_detected and not result.performance_degraded
    assert result.performance_metric == "ndcg_at_k" and result.performance_value is not None
    assert ranking["fallback"]["share"] == pytest.approx(0.0)
    html = Path(result.report_path).read_text(encoding="utf-8")
    assert "Recommendations (k = 10)" in html and "user.area" in html
    assert Path(result.report_path).with_suffix(".json").is_file()
    from rich.console import Console

    from opsloop.cli.render import print_monitor

    console = Console(record=True, width=200)
    print_monitor(console, result)
    printed = console.export_text()
    assert "Recommendations (k = 10): no check breached" in printed
    assert "realised NDCG@k" in printed and "coverage" in printed
    stored = p.store.list_monitor(MODEL)
    assert [r.id for r in stored] == [result.id]
    last = p.status_view().last_monitor  # `opsloop status`, the API and the dashboard
    assert last is not None and last.performance_metric == "ndcg_at_k"
    assert last.n_labelled == n and last.performance_value == result.performance_value
    assert [w.n_rows for w in p.monitoring_view(limit=5).windows] == [result.n_rows]
    from fastapi.testclient import TestClient

    from opsloop.ui.app import create_ui_app

    site = p.ui_site(admin_token="t")
    site.public_read = True
    page = TestClient(create_ui_app(site)).get(f"/ui/models/{MODEL}/monitoring")
    assert page.status_code == 200 and "ndcg_at_k" in page.text
    assert [e.kind for e in p.events(kinds=["monitored"])] == ["monitored"]


@pytest.mark.parametrize(
    ("lists", "fired"),
    [("nightly", set()), ("collapsed", {"drift"}), ("rare", {"drift", "performance"})],
)
def test_the_agent_fires_drift_and_performance_on_a_breach(
    root: Path, lists: str, fired: set[str]
) -> None:
    """The nightly lists breach nothing; the same ten restaurants for everyone collapse
    coverage (drift; their realised NDCG may or may not stay above the floor); the ten
    least visited restaurants for everyone also miss every visit (performance). A breach
    retrains: the agent trains version 2."""
    p = open_project(root)
    top = nightly(root)
    if lists == "collapsed":  # everyone gets the same ten restaurants
        same = np.tile(top.items[:1], (len(top.users), 1))
        top = TopK(top.users, same, top.scores, top.catalogue)
    elif lists == "rare":  # everyone gets the ten least visited
        visits, _, items = tables(root)
        counts = visits["restaurant_id"].value_counts()
        order = items["restaurant_id"].map(counts).fillna(0).to_numpy().argsort(kind="stable")
        rare = items["restaurant_id"].to_numpy()[order[:K]]
        positions = pd.Index(top.catalogue).get_indexer(rare)
        top = TopK(top.users, np.tile(positions, (len(top.users), 1)), top.scores, top.catalogue)
    log_lists(p, top, WINDOW.start - timedelta(hours=1))
    add_visits(p, root)
    result = p.tick(force_monitor=True)
    assert result.monitored is not None and result.monitored.summary["ranking"]
    triggers = {f.trigger for f in result.fired}
    if lists == "collapsed":
        triggers.discard("performance")
    assert triggers == fired, result.monitored.summary["ranking"]
    if not fired:
        assert result.trained is None
    else:  # the breach retrains: a second version, trained by the agent's trigger
        assert result.trained is not None and result.trained.version == "2", result.notes
        kinds = [e.kind for e in p.events()]
        assert "trigger_fired" in kinds
        assert ("drift_detected" in kinds) is ("drift" in fired)


def test_the_agent_on_the_event_clock_monitors_each_completed_window(root: Path) -> None:
    """Event time: the lists' times are the watermark; two list runs a fortnight apart
    complete the 7-day windows between them, each judged as a ranking window (with
    `monitor.ranking.lookback` longer than the interval between runs)."""
    p = open_project(root)
    ranking = p.config.monitor.ranking.model_copy(update={"lookback": timedelta(days=16)})
    monitor = p.config.monitor.model_copy(
        update={"clock": "event", "window": timedelta(days=7), "ranking": ranking}
    )
    p.config = p.runtime.config = p.config.model_copy(update={"monitor": monitor})
    top = nightly(root)
    log_lists(p, top, WINDOW.start - timedelta(hours=1))
    log_lists(p, top, WINDOW.end + timedelta(hours=1))  # the next run: the watermark
    add_visits(p, root)
    result = p.tick()
    assert len(result.windows) == 2, result.notes
    for r in result.windows:
        assert r.version == "1" and r.window_end - r.window_start == timedelta(days=7)
        assert r.summary["ranking"]["realised"]["n_lists"] > 0
    assert p.store.find_previous_monitor(MODEL, "1", WINDOW.end + timedelta(days=30))


def test_a_backfill_monitors_each_window_once_and_replaces_on_request(root: Path) -> None:
    """One list run before two weekly windows (`lookback` longer than a week)."""
    p = open_project(root)
    ranking = p.config.monitor.ranking.model_copy(update={"lookback": timedelta(days=16)})
    monitor = p.config.monitor.model_copy(update={"ranking": ranking})
    p.config = p.runtime.config = p.config.model_copy(update={"monitor": monitor})
    log_lists(p, nightly(root), WINDOW.start - timedelta(hours=1))
    add_visits(p, root)
    week = timedelta(days=7)
    seen: list[str] = []
    first = p.backfill_monitor(
        start=WINDOW.start, end=WINDOW.end, every=week, on_window=lambda w, o: seen.append(o)
    )
    assert seen == ["monitored", "monitored"] and len(first.monitored) == 2
    assert all(r.summary["ranking"]["realised"]["n_lists"] > 0 for r in first.monitored)
    assert first.monitored[1].summary["previous"]["id"] == first.monitored[0].id
    again = p.backfill_monitor(start=WINDOW.start, end=WINDOW.end, every=week)
    assert again.monitored == [] and len(again.skipped) == 2
    replaced = p.backfill_monitor(start=WINDOW.start, end=WINDOW.end, every=week, replace=True)
    assert sorted(replaced.replaced) == sorted(r.id for r in first.monitored)
    assert len(p.store.list_monitor(MODEL)) == 2
