"""The monitoring job: a window of the prediction log (joined with late labels) against the
deployed version's reference profile; results to the ops store, an HTML + JSON report to
`.opsloop/reports/`, events on breaches (written by the store in the same transaction)."""

from __future__ import annotations

import json

from opsloop.data.features import features_from_json
from opsloop.data.window import Window
from opsloop.errors import ProfileFormatError, StateError
from opsloop.runtime import Runtime
from opsloop.store.records import MonitorResult


def run_monitor_job(rt: Runtime, *, window: Window | None = None) -> MonitorResult:
    from opsloop.monitor.multivariate import window_multivariate
    from opsloop.monitor.profile import Profile
    from opsloop.monitor.report import render_html
    from opsloop.monitor.run import run_monitor
    from opsloop.monitor.thresholds import find_learned

    cfg = rt.config
    deployment = rt.store.find_deployment(rt.model)
    if deployment is None:
        raise StateError(
            f"{rt.model!r} has no deployed version to monitor",
            fix="train and promote a model first (`opsloop train`)",
        )
    version = deployment.version
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
    missing: list[str] = []  # artifacts an older version lacks
    report = run_monitor(
        reference=reference, current=current, labelled=labelled, features=features,
        task=cfg.task, cfg=cfg.monitor, window_start=window.start, window_end=window.end,
        learned=find_learned(rt, version, missing),
        multivariate=window_multivariate(rt, version, window.start, window.end, missing),
    )
    report.notes.extend(missing)
    summary = report.to_dict()
    rt.paths.reports.mkdir(parents=True, exist_ok=True)
    stamp = f"{window.end:%Y%m%dT%H%M%SZ}"
    html_path = rt.paths.reports / f"{rt.model}-v{version}-{stamp}.html"
    html_path.write_text(
        render_html(report, reference, title=f"{rt.model} v{version} · {window.key}"),
        encoding="utf-8",
    )
    html_path.with_suffix(".json").write_text(json.dumps(summary, indent=2, default=str),
                                              encoding="utf-8")
    perf_metric = cfg.monitor.performance.metric
    return rt.store.record_monitor(
        model=rt.model, version=version, window_start=window.start, window_end=window.end,
        n_rows=report.n_rows, n_labelled=report.n_labelled,
        drift_detected=report.drift_detected, drift_share=report.drift.share,
        performance_metric=perf_metric, performance_value=report.performance_value,
        performance_degraded=report.performance_degraded, report_path=str(html_path),
        summary=summary,
    )
