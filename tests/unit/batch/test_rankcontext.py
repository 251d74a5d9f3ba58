"""The context a ranking run scores from (`opsloop.batch.rankcontext`): which windows the
project's load() is called with under `retrain.anchor: now` and `data`, the interactions
kept, and the errors of a load() that returns the wrong thing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from opsloop.batch.rankcontext import EPOCH, EVENT_END_TAG, load_context
from opsloop.config import load_config
from opsloop.engines.memory import MemoryEngine
from opsloop.errors import InvalidInputError, UserCodeError
from opsloop.registry.memory import MemoryRegistry
from opsloop.runtime import Runtime
from opsloop.store import OpsStore

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
NEWEST = datetime(2026, 6, 30, 12, 0, 0, 500_000, tzinfo=UTC)

CODE = """
import pandas as pd
from opsloop.ranking.data import RankingData

calls = []
returned = "data"  # or "frame", "columns", "empty"
TIMES = pd.to_datetime(
    ["2026-06-01", "2026-06-21", "2026-06-30 12:00:00.5"], utc=True, format="ISO8601"
)


def load(window):
    calls.append((window.start, window.end))
    inter = pd.DataFrame({"user": ["a", "b", "a"], "item": [1, 2, 2], "at": TIMES})
    inter = inter[(inter["at"] >= window.start) & (inter["at"] < window.end)]
    if returned == "frame":
        return inter
    if returned == "empty":
        inter = inter.iloc[:0]
    users, items = pd.DataFrame({"user": ["a", "b"]}), pd.DataFrame({"item": [1, 2]})
    user = "who" if returned == "columns" else "user"
    return RankingData(inter.rename(columns={"user": user}), users, items, user, "item", "at")


def build():
    return None
"""


def _runtime(tmp_path: Path, anchor: str) -> Runtime:
    (tmp_path / "model.py").write_text(CODE)
    (tmp_path / "opsloop.yaml").write_text(
        "model: recs\ntask: ranking\nid_column: user\ntarget: item\ntime_column: at\n"
        "ranking: {user_column: user, item_column: item}\n"
        "gate: {metrics: [{metric: ndcg_at_k}]}\nmonitor: {performance: {metric: ndcg_at_k}}\n"
        f"retrain: {{training_window: 10d, anchor: {anchor}}}\n"
    )
    config = load_config(tmp_path / "opsloop.yaml")
    store, registry = OpsStore("sqlite://"), MemoryRegistry()
    return Runtime(config, tmp_path, registry, store, MemoryEngine(), clock=lambda: NOW)


def test_anchor_now_loads_the_window_ending_now(tmp_path: Path) -> None:
    rt = _runtime(tmp_path, "now")
    ctx = load_context(rt, {})
    assert rt.user_module.calls == [(NOW - timedelta(days=10), NOW)]
    assert (ctx.window.start, ctx.window.end, ctx.anchor) == (NOW - timedelta(days=10), NOW, "now")
    assert len(ctx.data.interactions) == 0  # the data ends in June


def test_anchor_data_ends_at_the_newest_interaction_and_keeps_the_window(tmp_path: Path) -> None:
    rt = _runtime(tmp_path, "data")
    ctx = load_context(rt, {})
    end = NEWEST.replace(microsecond=0) + timedelta(seconds=1)
    assert rt.user_module.calls == [(EPOCH, NOW)]  # no hint: from 1970, once
    assert (ctx.window.start, ctx.window.end, ctx.anchor) == (end - timedelta(days=10), end, "data")
    assert ctx.data.interactions["item"].tolist() == [2, 2]  # June 1st is outside
    assert ctx.to_dict()["interactions"] == 2 and ctx.to_dict()["users"] == 2

    hinted = _runtime(tmp_path, "data")
    load_context(hinted, {EVENT_END_TAG: "2026-06-25T00:00:00+00:00"})
    assert hinted.user_module.calls == [(datetime(2026, 6, 15, tzinfo=UTC), NOW)]


def test_a_hint_after_the_newest_interaction_loads_again_from_the_windows_start(
    tmp_path: Path,
) -> None:
    rt = _runtime(tmp_path, "data")
    ctx = load_context(rt, {EVENT_END_TAG: "2026-08-01T00:00:00+00:00"})
    end = NEWEST.replace(microsecond=0) + timedelta(seconds=1)
    assert rt.user_module.calls == [
        (datetime(2026, 7, 22, tzinfo=UTC), NOW),  # nothing since the hint's window start
        (EPOCH, NOW),  # so all the data, whose newest interaction is older
    ]
    assert ctx.window.end == end and len(ctx.data.interactions) == 2

    rows_removed = _runtime(tmp_path, "data")  # the hint's window misses the window's start
    ctx = load_context(rows_removed, {EVENT_END_TAG: "2026-07-05T00:00:00+00:00"})
    assert rows_removed.user_module.calls == [
        (datetime(2026, 6, 25, tzinfo=UTC), NOW),
        (end - timedelta(days=10), NOW),
    ]
    assert ctx.data.interactions["item"].tolist() == [2, 2]


def test_what_load_returns_is_checked(tmp_path: Path) -> None:
    for returned, error, message in (
        ("frame", UserCodeError, "returned the wrong type for a task: ranking project"),
        ("columns", UserCodeError, "user and item columns are not the configuration's"),
        ("empty", InvalidInputError, "returned no interactions up to 2026-12-07 02:00 UTC"),
    ):
        rt = _runtime(tmp_path, "data")
        rt.user_module.returned = returned
        with pytest.raises(error, match=message):
            load_context(rt, {})
