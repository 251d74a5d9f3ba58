"""The events a monitored window implies, as data.

From a window's result (its numbers and summary) this decides which events to write —
`monitored` always; `drift_detected`, `performance_degraded`,
`performance_estimated_degraded` and `quality_failed` when the summary says so — with
their prose and evidence. Drift counts material drift only (`monitor.drift`'s
materiality floors): features whose change is detectable but immaterial are named in the
evidence (`immaterial_features`), never a reason for `drift_detected`. The ops store
writes them with the result in one transaction (`OpsStore.record_monitor`) and starts
each evidence with the stored result's `id`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opsloop.store.records import Evidence, NewEvent, NewMonitorResult


def monitor_events(result: NewMonitorResult, *, replaces: Sequence[int] = ()) -> list[NewEvent]:
    """`monitored` and the alarms the window raises, in that order. `replaces`: ids of
    results of the same window this one supersedes (kept in the evidence)."""
    summary = result.summary
    brief = _brief(result, replaces)
    out = [_event(result, "monitored", _monitored_summary(result), brief)]
    if result.drift_detected:
        out.append(
            _event(result, "drift_detected", _drift_summary(result.drift_share, summary), brief)
        )
    if result.performance_degraded:
        text = f"{result.performance_metric}={result.performance_value:.4f} below floor"
        out.append(_event(result, "performance_degraded", text, brief))
    estimated = summary.get("estimated_performance") or {}
    if estimated.get("degraded"):
        text = "; ".join(estimated.get("reasons", [])) + (
            f" ({estimated.get('n')} rows, no labels: CBPE)"
        )
        evidence = {**brief, "estimated_performance": estimated}
        out.append(_event(result, "performance_estimated_degraded", text, evidence))
    quality = summary.get("quality")
    if isinstance(quality, Mapping) and quality.get("passed") is False:
        breaches = [c for c in quality.get("checks", []) if c.get("status") == "breach"]
        out.append(
            _event(
                result,
                "quality_failed",
                _quality_summary(breaches),
                {**brief, "quality_breaches": breaches},
            )
        )
    return out


def _event(result: NewMonitorResult, kind: str, summary: str, evidence: Evidence) -> NewEvent:
    return NewEvent(kind, result.model, result.version, summary, evidence)


def _brief(r: NewMonitorResult, replaces: Sequence[int]) -> Evidence:
    """What every event of the window carries: the result without its summary (the store
    adds its id), the drifted features, the comparison with the previous window."""
    brief: Evidence = {
        "ts": r.ts.isoformat(),
        "model": r.model,
        "version": r.version,
        "window_start": r.window_start.isoformat(),
        "window_end": r.window_end.isoformat(),
        "n_rows": r.n_rows,
        "n_labelled": r.n_labelled,
        "drift_detected": r.drift_detected,
        "drift_share": r.drift_share,
        "performance_metric": r.performance_metric,
        "performance_value": r.performance_value,
        "performance_degraded": r.performance_degraded,
        "report_path": r.report_path,
        "drifted_features": r.summary.get("drifted_features", []),
    }
    immaterial = _immaterial(r.summary)
    if immaterial:
        brief["immaterial_features"] = immaterial
    previous = r.summary.get("previous") or {}
    if previous:
        brief["previous"] = {k: previous.get(k) for k in ("id", "newly_drifted", "recovered")}
    if replaces:
        brief["replaces"] = list(replaces)
    if r.summary.get("multivariate"):
        brief["multivariate"] = r.summary["multivariate"]
    return brief


def _immaterial(summary: Mapping[str, Any]) -> list[str]:
    drift = summary.get("drift")
    names = drift.get("immaterial_features") if isinstance(drift, Mapping) else None
    return list(names or [])


def _monitored_summary(r: NewMonitorResult) -> str:
    parts = [f"{r.n_rows} rows", f"drift share {r.drift_share:.0%}"]
    if r.performance_value is not None:
        parts.append(f"{r.performance_metric}={r.performance_value:.4f} on {r.n_labelled} labels")
    newly = (r.summary.get("previous") or {}).get("newly_drifted")
    if newly:
        parts.append(f"newly drifted since the previous window: {', '.join(newly)}")
    immaterial = _immaterial(r.summary)
    if immaterial:
        parts.append(f"detectable but immaterial: {', '.join(immaterial)}")
    return ", ".join(parts)


def _drift_summary(share: float, summary: Mapping[str, Any]) -> str:
    text = f"{share:.0%} of features drifted"
    ranking = summary.get("ranking")
    if isinstance(ranking, Mapping):  # a recommender's window (opsloop.monitor.ranking)
        breaches = [b for b in ranking.get("breaches", []) if not str(b).startswith("realised:")]
        # (a breach that fires nothing, the recommendations' shift, is named too)
        if breaches:
            text += f"; recommendations: {', '.join(breaches)}"
    mv = summary.get("multivariate") or {}
    if mv.get("drifted") and mv.get("value") is not None:
        text += (
            f"; multivariate reconstruction error {mv['value']:.4g} outside "
            f"[{mv['lower']:.4g}, {mv['upper']:.4g}]"
        )
    return text


def _quality_summary(breaches: list[dict[str, Any]]) -> str:
    names = [c["check"] + (f" ({c['feature']})" if c.get("feature") else "") for c in breaches]
    more = f" (+{len(names) - 5} more)" if len(names) > 5 else ""
    return "data quality: " + ", ".join(names[:5]) + more
