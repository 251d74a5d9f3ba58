"""What a ranking run scores from: the project's `load(window)` for the window ending now
(RANKING.md, contract 2) — the interaction histories and the users and items tables.

The window is `retrain.training_window` long and ends:

- `retrain.anchor: now`: now; load() is called once with that window;
- `retrain.anchor: data`: at the data's newest interaction. load() is called once with a
  window from the scoring version's newest training event minus the training window (its
  tag `opsloop.event_end`; from 1970 without it) up to now; the newest interaction is read
  from what came back and the older interactions are dropped in memory. Only when the
  newest interaction lies before that start (rows were removed) is load() called again,
  from the exact window's start to now.

Either way the users and items tables are the ones load() returns for a window ending
now: users who signed up and items that opened since the newest interaction are scored
(from their features) and recommendable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from opsloop.data.window import Window
from opsloop.errors import InvalidInputError, UserCodeError
from opsloop.ranking.data import RankingData

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pandas as pd

    from opsloop.runtime import Runtime

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# the version's newest training event (train/window.py's tag; batch does not import train)
EVENT_END_TAG = "opsloop.event_end"


@dataclass(frozen=True, eq=False)
class ScoringContext:
    """The data a run's lists are made from, and the window it was loaded for."""

    data: RankingData
    window: Window
    anchor: str  # now | data

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": self.window.key,
            "anchor": self.anchor,
            "interactions": len(self.data.interactions),
            "users": len(self.data.users),
            "items": len(self.data.items),
        }


def load_ranking(rt: Runtime, window: Window) -> RankingData:
    """The project's `load(window)`, which must return a `RankingData` whose columns are
    the configuration's (`ranking.user_column`, `ranking.item_column`)."""
    cfg = rt.config
    module = rt.user_module  # its own errors (import, missing functions) stay as they are
    try:
        data = module.load(window)
    except Exception as exc:
        raise UserCodeError(
            f"load(window) in {cfg.code} raised {type(exc).__name__}: {exc}",
            fix="fix the function; it gets a window with .start and .end (UTC datetimes)",
        ) from exc
    if not isinstance(data, RankingData):
        raise UserCodeError(
            f"load(window) in {cfg.code} returned the wrong type for a task: ranking project",
            expected="an opsloop.ranking.data.RankingData",
            got=type(data).__name__,
        )
    ranking = cfg.ranking
    assert ranking is not None  # ProjectConfig requires it for task: ranking
    named = (data.user_column, data.item_column)
    if named != (ranking.user_column, ranking.item_column):
        raise UserCodeError(
            f"load(window) in {cfg.code} returned a RankingData whose user and item columns "
            "are not the configuration's",
            expected=f"{ranking.user_column!r} and {ranking.item_column!r} (opsloop.yaml)",
            got=f"{data.user_column!r} and {data.item_column!r}",
            fix="use the same names in model.py and in the `ranking:` section",
        )
    return data


def load_context(rt: Runtime, tags: Mapping[str, str]) -> ScoringContext:
    """The context for scoring now with the version whose tags are `tags` (module
    docstring)."""
    cfg = rt.config
    length, now = cfg.retrain.training_window, rt.now()
    if cfg.retrain.anchor != "data":
        window = Window.last(length, end=now)
        return ScoringContext(load_ranking(rt, window), window, "now")
    hint = _tag_time(tags.get(EVENT_END_TAG))
    start = EPOCH if hint is None or hint - length >= now else max(EPOCH, hint - length)
    data = load_ranking(rt, Window(start, now))
    newest = _newest(data)
    if newest is None and start > EPOCH:  # nothing since the hint: look at all the data
        start = EPOCH
        data = load_ranking(rt, Window(start, now))
        newest = _newest(data)
    if newest is None:
        raise InvalidInputError(
            f"load(window) in {cfg.code} returned no interactions up to {now:%Y-%m-%d %H:%M} "
            "UTC: there is no history to recommend from",
            expected="interactions with a time in the window",
            fix="check load() and the data it reads",
        )
    end = newest.replace(microsecond=0) + timedelta(seconds=1)  # window keys have seconds
    window = Window(end - length, end)
    if window.start < start:  # the data's newest event went back: load from its start
        data = load_ranking(rt, Window(window.start, now))
    return ScoringContext(_within(data, window), window, "data")


def _times(data: RankingData) -> pd.Series:
    import pandas as pd

    return pd.to_datetime(data.interactions[data.time_column], utc=True)


def _newest(data: RankingData) -> datetime | None:
    if len(data.interactions) == 0:
        return None
    newest = _times(data).max()
    return None if newest is None or newest != newest else newest.to_pydatetime()


def _within(data: RankingData, window: Window) -> RankingData:
    """`data` with only the interactions in `window`."""
    import dataclasses

    import pandas as pd

    times = _times(data)
    inside = (times >= pd.Timestamp(window.start)) & (times < pd.Timestamp(window.end))
    if bool(inside.all()):
        return data
    kept = data.interactions.loc[inside.to_numpy()].reset_index(drop=True)
    return dataclasses.replace(data, interactions=kept)


def _tag_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
