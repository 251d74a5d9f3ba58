"""The monitoring job: a window of the prediction log (joined with late labels) against the
deployed version's reference profile; results to the ops store, an HTML + JSON report to
`.opsloop/reports/`, events on breaches (written by the store in the same transaction).

Each result is also compared with the previous window's result of the same version
(`monitor/compare.py`, summary key ``previous``), and the HTML report charts the stored
history of that version (`HISTORY_WINDOWS` latest windows)."""

from __future__ import annotations

import json

from opsloop.data.features import features_from_json
from opsloop.data.window import Window
from opsloop.errors import ProfileFormatError, StateError
from opsloop.runtime import Runtime
from opsloop.store.records import MonitorResult

HISTORY_WINDOWS = 48  # windows charted in a report


def deployed_version(rt: Runtime) -> str:
    deployment = rt.store.find_deployment(rt.model)
    if deployment is None:
        raise StateError(
            f"{rt.model!r} has no deployed version to monitor",
            fix="train and promote a model first (`opsloop train`)",
        )
    return deployment.version


def run_monitor_job(rt: Runtime, *, window: Window | None = None, version: str | None = None,
                    html: bool = True, replaces: tuple[int, ...] = ()) -> MonitorResult:
    """Monitor `window` (default: the last `monitor.window`) for `version` (default: the
    deployed one). `html=False` writes only the JSON report (a backfill writes the HTML of
    its last window only); `replaces`: results of the same window this one supersedes."""
    from opsloop.monitor.compare import compare_windows
    from opsloop.monitor.profile import Profile
    from opsloop.monitor.report import render_html
    from opsloop.monitor.run import run_monitor

    cfg = rt.config
    version = version or deployed_version(rt)
    features = features_from_json(rt.registry.read_artifact(rt.model, version, "features.json"))
    try:
        reference = Profile.from_json(
            rt.registry.read_artifact(rt.model, version, "reference_profile.json")
        )
    except ProfileFormatError as exc:
        raise ProfileFormatError(
            f"the reference profile of {rt.model} version {version} is in an older format",
            expected=exc.expected, got=exc.got,
            fix=f"retrain (`opsloop train`) so the deployed version has a new profile; "
            f"version {version} cannot be monitored by this opsloop",
        ) from exc
    window = window or Window.last(cfg.monitor.window, end=rt.now())
    # the answers the version gave users (not its shadow answers during a rollout)
    current = rt.engine.profile_window(rt.model, window.start, window.end, reference,
                                       version=version)
    labelled = rt.engine.read_window(rt.model, window.start, window.end, version=version,
                                     labelled_only=True)
    report = run_monitor(
        reference=reference, current=current, labelled=labelled, features=features,
        task=cfg.task, cfg=cfg.monitor, window_start=window.start, window_end=window.end,
    )
    summary = report.to_dict()
    previous = rt.store.find_previous_monitor(rt.model, version, window.end)
    if previous is not None:
        summary["previous"] = compare_windows(summary, previous.summary,
                                              previous_id=previous.id,
                                              previous_version=previous.version)
    rt.paths.reports.mkdir(parents=True, exist_ok=True)
    stamp = f"{window.start:%Y%m%dT%H%M%SZ}-{window.end:%Y%m%dT%H%M%SZ}"
    html_path = rt.paths.reports / f"{rt.model}-v{version}-{stamp}.html"
    json_path = html_path.with_suffix(".json")
    if html:
        history = rt.store.list_monitor_windows(rt.model, version=version,
                                                limit=HISTORY_WINDOWS - 1,
                                                end_before=window.end)
        html_path.write_text(
            render_html(summary, reference, title=f"{rt.model} v{version} · {window.key}",
                        history=[r.summary for r in history if r.id not in replaces]),
            encoding="utf-8",
        )
    json_path.write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    perf_metric = cfg.monitor.performance.metric
    return rt.store.record_monitor(
        model=rt.model, version=version, window_start=window.start, window_end=window.end,
        n_rows=report.n_rows, n_labelled=report.n_labelled,
        drift_detected=report.drift.detected, drift_share=report.drift.share,
        performance_metric=perf_metric, performance_value=report.performance_value,
        performance_degraded=report.performance_degraded,
        report_path=str(html_path if html else json_path), summary=summary, replaces=replaces,
    )
