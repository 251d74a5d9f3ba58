"""The load stage's work: the user's load(), retried when it raises, and the columns the
pipeline needs."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from opsloop.data.window import Window
from opsloop.errors import DataValidationError, UserCodeError
from opsloop.runtime import Runtime

if TYPE_CHECKING:
    import pandas as pd

    from opsloop.config import ProjectConfig
    from opsloop.ranking.data import RankingData

T = TypeVar("T")


def load_with_retries(
    rt: Runtime, window: Window, detail: dict[str, Any], sleep: Callable[[float], None] = time.sleep
) -> pd.DataFrame:
    """The user's load(), retried `retrain.retries` times with doubling back-off when the
    call raises (a flaky warehouse or network). Deterministic errors fail at once: the
    project's code file missing or not importing, no load() or build() in it, a load()
    that returns something other than a DataFrame."""
    return retrying(rt, rt.load_data, window, detail, sleep)


def load_ranking_with_retries(
    rt: Runtime, window: Window, detail: dict[str, Any], sleep: Callable[[float], None] = time.sleep
) -> RankingData:
    """`load_with_retries` for a `task: ranking` project: load() returns a `RankingData`."""
    from opsloop.ranking.checks import as_ranking_data

    def call(w: Window) -> RankingData:
        return as_ranking_data(rt.call_load(w), rt.config.code)

    return retrying(rt, call, window, detail, sleep)


def retrying(
    rt: Runtime,
    call: Callable[[Window], T],
    window: Window,
    detail: dict[str, Any],
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`call(window)` retried as `load_with_retries` says: only a UserCodeError chained to
    what load() raised is retried."""
    cfg = rt.config.retrain
    rt.user_module  # noqa: B018 - import it now: its errors are not worth retrying
    failures: list[dict[str, Any]] = []
    for attempt in range(cfg.retries + 1):
        try:
            loaded = call(window)
        except UserCodeError as exc:
            # With the module imported, only an exception raised by load() itself is
            # chained (`from exc`); a wrong return type is not.
            if exc.__cause__ is None or attempt == cfg.retries:
                if failures:
                    detail["retries"] = failures
                raise
            wait = cfg.backoff.total_seconds() * 2**attempt
            failures.append({"attempt": attempt + 1, "error": exc.what, "retry_in": wait})
            detail["retries"] = failures
            sleep(wait)
            continue
        if failures:
            detail["retries"] = failures
        return loaded
    raise AssertionError("unreachable")


def check_columns(cfg: ProjectConfig, frame: pd.DataFrame) -> None:
    needed = [cfg.target, cfg.id_column, cfg.time_column, *(cfg.features or ())]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"load(window) returned a frame without the column(s) {missing}",
            expected=f"columns {needed} (target, id_column, time_column, features)",
            got=f"columns {list(frame.columns)}",
            fix="return them from load() or correct opsloop.yaml",
        )
