"""The recommender's monitoring job: read a window (the lists the version served, from the
prediction log; the visits, from the labels store; the users and items tables and the
history, from the project's `load(window)`), judge it against the version's
`RankingReference` (`monitor_ranking`), and record it as the tabular job does
(`opsloop.monitor.job.record_window`: comparison with the previous window, the HTML and
JSON reports, the stored result and its events), so `opsloop status`, the API, the
dashboard and the agent's triggers (`retrain.on: [drift, performance]`) see it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from opsloop.data.predlog import clock_column
from opsloop.data.window import Window
from opsloop.errors import NotFoundError, StateError, UserCodeError
from opsloop.monitor.job import deployed_version, record_window
from opsloop.monitor.ranking.reference import ARTIFACT, RankingReference
from opsloop.monitor.ranking.window import RankingWindow, monitor_ranking
from opsloop.runtime import Runtime

if TYPE_CHECKING:
    from opsloop.core.profile import Profile
    from opsloop.monitor.backfill import BackfillResult, OnWindow
    from opsloop.ranking.data import RankingData
    from opsloop.store.records import MonitorResult


def load_ranking_reference(rt: Runtime, version: str) -> RankingReference:
    """The version's `RankingReference` (artifact `ranking_reference.json`)."""
    try:
        text = rt.registry.read_artifact(rt.model, version, ARTIFACT)
    except NotFoundError:
        raise StateError(
            f"version {version} of {rt.model!r} has no ranking reference ({ARTIFACT}): "
            "its recommendations cannot be monitored",
            expected=f"the artifact {ARTIFACT}, stored when a ranking model is registered",
            fix="retrain (`opsloop train`) with an opsloop that stores it",
        ) from None
    return RankingReference.from_json(text)


def load_tables(rt: Runtime, window: Window) -> RankingData:
    """The project's `load()` for the training window ending at `window`'s end: the users
    and items tables as known then, and the visits before it (the history)."""
    from opsloop.ranking.data import RankingData

    span = Window(window.end - rt.config.retrain.training_window, window.end)
    module = rt.user_module
    try:
        data = module.load(span)
    except Exception as exc:
        raise UserCodeError(
            f"load(window) in {rt.config.code} raised {type(exc).__name__}: {exc}",
            fix="fix the function; it gets a window with .start and .end (UTC datetimes)",
        ) from exc
    if not isinstance(data, RankingData):
        raise UserCodeError(
            f"load(window) in {rt.config.code} returned the wrong type for task: ranking",
            expected="an opsloop.ranking.data.RankingData (visits, users, items)",
            got=type(data).__name__,
        )
    return data


def read_ranking_window(rt: Runtime, window: Window, version: str) -> RankingWindow:
    """What `monitor_ranking` judges `window` on (module docstring): the version's lists
    from `monitor.ranking.lookback` before the window (on `monitor.clock`)."""
    import pandas as pd

    cfg = rt.config.monitor
    lists = rt.engine.read_window(
        rt.model, window.start - cfg.ranking.lookback, window.end, version=version, clock=cfg.clock
    )
    visits = rt.engine.read_labels(window.start, window.end)
    data = load_tables(rt, window)
    history = data.interactions
    if data.time_column in history.columns:
        before = pd.to_datetime(history[data.time_column], utc=True) < pd.Timestamp(window.start)
        history = history[before.to_numpy()]
    return RankingWindow(
        start=window.start,
        end=window.end,
        lists=lists,
        visits=visits,
        users=data.users,
        items=data.items,
        history=history,
        list_time=clock_column(cfg.clock),
        history_time=data.time_column,
    )


def report_profile(reference: RankingReference) -> Profile:
    """Every profile of the reference in one (bin labels of the HTML report)."""
    from opsloop.core.profile import Profile

    features = reference.feature_profile().features
    return Profile(reference.users.n_rows, {**features, **reference.scores.features})


def run_ranking_job(
    rt: Runtime, *, window: Window | None = None, version: str | None = None
) -> MonitorResult:
    """Monitor `window` (default: the last `monitor.window`) for `version` (default: the
    deployed one) and record it."""
    version = version or deployed_version(rt)
    window = window or Window.last(rt.config.monitor.window, end=rt.now())
    reference = load_ranking_reference(rt, version)
    inputs = read_ranking_window(rt, window, version)
    ranking = rt.config.ranking
    assert ranking is not None  # task: ranking has the section (ProjectConfig)
    report = monitor_ranking(inputs, reference, monitor=rt.config.monitor, ranking=ranking)
    return record_window(rt, report, report_profile(reference), version)


def backfill_ranking(
    rt: Runtime,
    *,
    start: datetime,
    end: datetime,
    every: timedelta,
    version: str | None = None,
    replace: bool = False,
    on_window: OnWindow | None = None,
) -> BackfillResult:
    """`opsloop monitor --from … --to …` for a recommender: each whole window of `every`
    (`monitor.backfill.plan_windows`), oldest first, judged and recorded one at a time (each
    compared with the one stored before it); a window already monitored is skipped unless
    `replace` (its result is then replaced), a window without visits or lists is stored
    with its notes, as `opsloop monitor` stores it."""
    from opsloop.monitor.backfill import BackfillResult, plan_windows

    windows = plan_windows(start, end, every)
    version = version or deployed_version(rt)
    reference = load_ranking_reference(rt, version)
    profile = report_profile(reference)
    ranking = rt.config.ranking
    assert ranking is not None  # task: ranking has the section (ProjectConfig)
    result = BackfillResult(version=version, windows=[w.key for w in windows])
    if windows[-1].end < end:
        result.remainder = f"{windows[-1].end.isoformat()}/{end.isoformat()}"
    known = rt.store.list_monitor_span(rt.model, version, windows[0].end, windows[-1].end)
    for window in windows:
        found = [r.id for r in known if Window(r.window_start, r.window_end) == window]
        if found and not replace:
            reason = f"already monitored (result {found[-1]})"
            result.skipped.append({"window": window.key, "reason": reason})
            outcome = f"skipped: {reason}"
        else:
            inputs = read_ranking_window(rt, window, version)
            report = monitor_ranking(inputs, reference, monitor=rt.config.monitor, ranking=ranking)
            stored = record_window(rt, report, profile, version, replaces=tuple(found))
            result.monitored.append(stored)
            result.replaced.extend(found)
            result.report_path = stored.report_path
            outcome = "replaced" if found else "monitored"
        if on_window is not None:
            on_window(window, outcome)
    return result
