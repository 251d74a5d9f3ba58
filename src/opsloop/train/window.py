"""Which rows a training loads, and what is recorded about them.

A training's window is, in order of precedence:

- asked for (`opsloop train --from/--to`, `--as-of`, `Project.train(...)`, a retraining
  request; `data.window.WindowRequest`): exactly that;
- `retrain.anchor: now` (default): the last `retrain.training_window` before now;
- `retrain.anchor: data`: the last `retrain.training_window` before the newest event
  (`time_column`) of the data. The newest event is found without loading the data twice:
  load() is called once with a window reaching from the champion's newest event minus the
  training window (its tag `opsloop.event_end`; from 1970 for a first training) up to
  now, the newest event is read from what came back and the rows outside
  ``[newest - training_window, newest]`` are dropped in memory. Only when the data's
  newest event went back before that start (rows were removed) is load() called a second
  time, with the exact window.

Every version keeps its window (`opsloop.window`), how it was chosen
(`opsloop.window_anchor`: asked | now | data), what was asked (`opsloop.window_requested`),
the rows and their actual event-time span (`opsloop.rows`, `opsloop.event_start`,
`opsloop.event_end`) as tags and in its `trained` event. When load() returns fewer than
`retrain.warn_row_share` of the rows the champion was trained on, a
`training_data_shrank` event warns (the training goes on).

For `task: ranking`, load() returns a `RankingData`: the windows are those of its
interactions, and with `retrain.anchor: data` load() is called again with the exact window
once it is known, so that the users and items tables are those known at its end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from opsloop.data.window import Window, WindowRequest, event_span
from opsloop.train.load import check_columns, load_ranking_with_retries, load_with_retries

if TYPE_CHECKING:
    import pandas as pd

    from opsloop.config import ProjectConfig
    from opsloop.ranking.data import RankingData
    from opsloop.registry.base import ModelVersion
    from opsloop.runtime import Runtime

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SHRANK = "training_data_shrank"

WINDOW_TAG = "opsloop.window"
ANCHOR_TAG = "opsloop.window_anchor"
REQUESTED_TAG = "opsloop.window_requested"
ROWS_TAG = "opsloop.rows"
EVENT_START_TAG = "opsloop.event_start"
EVENT_END_TAG = "opsloop.event_end"


@dataclass(frozen=True)
class DataAnchored:
    """The last `length` before the newest event of the data (`retrain.anchor: data`)."""

    length: timedelta


@dataclass(frozen=True)
class PlannedWindow:
    """A training's window before loading: fixed, or anchored at the data's newest event."""

    window: Window | DataAnchored
    anchor: str  # asked | now | data
    requested: dict[str, str] = field(default_factory=dict)


def plan_window(
    cfg: ProjectConfig, asked: Window | WindowRequest | None, now: datetime
) -> PlannedWindow:
    """The window a training loads: what was asked, else by `retrain.anchor`."""
    if isinstance(asked, Window):
        return PlannedWindow(
            asked, "asked", {"from": asked.start.isoformat(), "to": asked.end.isoformat()}
        )
    asked = asked or WindowRequest()
    length = asked.length or cfg.retrain.training_window
    requested = asked.to_dict()
    if asked.start is not None:
        end = asked.end or now
        if end <= asked.start:
            from opsloop.errors import InvalidInputError

            raise InvalidInputError(
                f"--from {_iso(asked.start)} is not before the window's end {_iso(end)}",
                fix="give an earlier --from, or a --to after it",
            )
        return PlannedWindow(Window(asked.start, end), "asked", requested)
    point = asked.as_of or asked.end
    if point is not None:
        return PlannedWindow(Window.last(length, end=point), "asked", requested)
    if cfg.retrain.anchor == "data":
        return PlannedWindow(DataAnchored(length), "data", requested)
    return PlannedWindow(Window.last(length, end=now), "now", requested)


@dataclass(frozen=True)
class WindowRecord:
    """What is kept about a training's window with its version (tags and `trained` event)."""

    window: Window
    anchor: str
    requested: dict[str, str]
    rows: int
    event_start: datetime | None
    event_end: datetime | None

    def tags(self) -> dict[str, str]:
        tags = {
            WINDOW_TAG: self.window.key,
            ANCHOR_TAG: self.anchor,
            ROWS_TAG: str(self.rows),
            EVENT_START_TAG: _iso(self.event_start) or "",
            EVENT_END_TAG: _iso(self.event_end) or "",
        }
        if self.requested:
            tags[REQUESTED_TAG] = json.dumps(self.requested, sort_keys=True)
        return {k: v for k, v in tags.items() if v}

    def evidence(self) -> dict[str, Any]:
        return {
            "window": self.window.key,
            "anchor": self.anchor,
            "requested": self.requested,
            "event_time": {"min": _iso(self.event_start), "max": _iso(self.event_end)},
        }


@dataclass(frozen=True, eq=False)
class LoadedWindow:
    frame: pd.DataFrame  # the rows; for `task: ranking`, the interactions of `data`
    record: WindowRecord
    warnings: tuple[str, ...] = ()
    data: RankingData | None = None  # what load() returned for `task: ranking`

    @property
    def window(self) -> Window:
        return self.record.window


def load_window(
    rt: Runtime, plan: PlannedWindow, champion: ModelVersion | None, detail: dict[str, Any]
) -> LoadedWindow:
    """Load the planned window's rows (the load stage's work; `detail` is its record) and
    warn when they are far fewer than the champion's."""
    import pandas as pd

    cfg = rt.config
    detail["anchor"] = plan.anchor
    if plan.requested:
        detail["requested"] = plan.requested
    if isinstance(plan.window, DataAnchored):
        window, loaded = _load_anchored(rt, plan.window.length, champion, detail)
    else:
        window = plan.window
        detail["window"] = window.key
        loaded = _load(rt, window, detail)
    frame = _events(loaded)
    first, last = event_span(frame, cfg.time_column)
    record = WindowRecord(window, plan.anchor, plan.requested, len(frame), first, last)
    detail["event_time"] = record.evidence()["event_time"]
    shrank = shrink_warning(rt, record, champion)
    if shrank is not None:
        detail["warnings"] = [shrank]
    data = None if isinstance(loaded, pd.DataFrame) else loaded
    return LoadedWindow(frame, record, () if shrank is None else (shrank,), data)


def _load(rt: Runtime, window: Window, detail: dict[str, Any]) -> pd.DataFrame | RankingData:
    """One load of `window`: the checked frame, or for `task: ranking` the `RankingData`."""
    if rt.config.task == "ranking":
        return load_ranking_with_retries(rt, window, detail)
    frame = load_with_retries(rt, window, detail)
    check_columns(rt.config, frame)
    return frame


def _events(loaded: pd.DataFrame | RankingData) -> pd.DataFrame:
    """The rows whose `time_column` places the load in time."""
    import pandas as pd

    return loaded if isinstance(loaded, pd.DataFrame) else loaded.interactions


def _load_anchored(
    rt: Runtime, length: timedelta, champion: ModelVersion | None, detail: dict[str, Any]
) -> tuple[Window, pd.DataFrame | RankingData]:
    import pandas as pd

    cfg = rt.config
    now = rt.now()
    hint = _tag_time(champion, EVENT_END_TAG)
    start = EPOCH if hint is None or hint - length >= now else max(EPOCH, hint - length)
    probe = Window(start, now)
    detail["probe"] = probe.key
    loaded = _load(rt, probe, detail)
    newest = event_span(_events(loaded), cfg.time_column)[1]
    if newest is None and start > EPOCH:  # nothing since the hint: look at all the data
        probe = Window(EPOCH, now)
        detail["probe"] = probe.key
        loaded = _load(rt, probe, detail)
        newest = event_span(_events(loaded), cfg.time_column)[1]
    if newest is None:  # no data at all: the window ending now, to be judged empty
        window = Window.last(length, end=now)
        detail["window"] = window.key
        return window, loaded
    end = newest.replace(microsecond=0) + timedelta(seconds=1)  # keys have seconds
    window = Window(end - length, end)
    detail.update(window=window.key, newest_event=_iso(newest))
    if cfg.task == "ranking":  # the users and items tables as known at the window's end
        return window, _load(rt, window, detail)
    if window.start < probe.start:  # the data's newest event went back: load it exactly
        loaded = _load(rt, window, detail)
    frame = _events(loaded)
    times = pd.to_datetime(frame[cfg.time_column], utc=True)
    inside = (times >= pd.Timestamp(window.start)) & (times < pd.Timestamp(window.end))
    return window, frame.loc[inside].reset_index(drop=True)


def champion_rows(champion: ModelVersion) -> int | None:
    """The rows the champion was trained on (train + holdout for versions registered before
    `opsloop.rows`); None when unknown."""
    tags = champion.tags
    try:
        if tags.get(ROWS_TAG):
            return int(tags[ROWS_TAG])
        if tags.get("opsloop.train_rows") and tags.get("opsloop.holdout_rows"):
            return int(tags["opsloop.train_rows"]) + int(tags["opsloop.holdout_rows"])
    except ValueError:
        return None
    return None


def shrink_warning(rt: Runtime, record: WindowRecord, champion: ModelVersion | None) -> str | None:
    """Warn (event `training_data_shrank`, returned text) when the window's rows are fewer
    than `retrain.warn_row_share` of the champion's."""
    threshold = rt.config.retrain.warn_row_share
    before = None if champion is None else champion_rows(champion)
    if champion is None or not before or threshold <= 0 or record.rows >= threshold * before:
        return None
    share = record.rows / before
    text = (
        f"load() returned {record.rows} rows for window {record.window.key}: {share:.1%} of the "
        f"{before} rows champion version {champion.version} was trained on (window "
        f"{champion.tags.get(WINDOW_TAG, '?')}). Check retrain.training_window and "
        "retrain.anchor (`data` follows the newest event), or train on a given window with "
        "--from/--to or --as-of"
    )
    rt.store.add_event(
        SHRANK,
        rt.model,
        summary=text,
        evidence={
            "rows": record.rows,
            "champion_rows": before,
            "share": round(share, 6),
            "threshold": threshold,
            "champion_version": champion.version,
            "champion_window": champion.tags.get(WINDOW_TAG),
            **record.evidence(),
        },
    )
    return text


def _tag_time(version: ModelVersion | None, tag: str) -> datetime | None:
    if version is None or not version.tags.get(tag):
        return None
    try:
        value = datetime.fromisoformat(version.tags[tag])
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
