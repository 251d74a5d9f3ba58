"""A window's result against the previous window's: what changed since the last look.

The reference comparison answers "is this window unlike training?"; this one answers "what
is new?": per feature the change in the verdict statistic, the features that drifted in
this window but not in the previous one (newly drifted) and the reverse (recovered), and
the change in drift share, performance, estimated performance and the multivariate score.
The previous window is the stored result of the same model *and version* (same reference)
whose window ends last before this one ends (`OpsStore.find_previous_monitor`).

Stored under the summary key ``previous`` (docs/monitoring.md#windows-and-history).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opsloop.core.summaries import (
    FeatureChange,
    FeatureDriftSummary,
    FlagChange,
    MonitorSummary,
    PerformanceChange,
    PreviousComparison,
    QualityChange,
    QualitySummary,
    ValueChange,
)

Summary = MonitorSummary | Mapping[str, Any]


def _change(now: Any, before: Any) -> float | None:
    if (
        isinstance(now, int | float)
        and isinstance(before, int | float)
        and not isinstance(now, bool)
        and not isinstance(before, bool)
    ):
        return float(now) - float(before)
    return None


def _pair(now: Any, before: Any) -> dict[str, Any]:
    return {"value": now, "previous": before, "change": _change(now, before)}


def _features(summary: MonitorSummary) -> dict[str, FeatureDriftSummary]:
    return {f.name: f for f in summary.features if f.name is not None}


def _judged(f: FeatureDriftSummary | None) -> bool:
    return f is not None and f.judged


def compare_windows(
    current: Summary,
    previous: Summary,
    *,
    previous_id: int | None = None,
    previous_version: str | None = None,
) -> PreviousComparison:
    """The ``previous`` summary key: `current` (a summary) against `previous` (the previous
    window's summary). Features judged in only one of the two windows are listed with
    ``change: null``; only features judged in both can be newly drifted or recovered."""
    now_s, before_s = MonitorSummary.parse(current), MonitorSummary.parse(previous)
    now_f, before_f = _features(now_s), _features(before_s)
    features = []
    newly, recovered = [], []
    for name, f in now_f.items():
        p = before_f.get(name)
        both = _judged(f) and _judged(p)
        same_test = both and p is not None and p.test == f.test
        drifted, was = bool(f.drifted), bool(p and p.drifted)
        if both and drifted and not was:
            newly.append(name)
        if both and was and not drifted:
            recovered.append(name)
        features.append(
            FeatureChange(
                name=name,
                test=f.test,
                previous_test=None if p is None else p.test,
                statistic=f.statistic,
                previous_statistic=None if p is None else p.statistic,
                # a change of method (auto switches with the window's size) is not a change
                change=_change(f.statistic, p.statistic) if same_test and p is not None else None,
                drifted=drifted,
                previously_drifted=was,
            )
        )
    now_d, before_d = now_s.drift, before_s.drift
    out: dict[str, Any] = {
        "id": previous_id,
        "version": previous_version,
        "window_start": before_s.window_start,
        "window_end": before_s.window_end,
        "n_rows": ValueChange(**_pair(now_s.n_rows, before_s.n_rows)),
        "drift_share": ValueChange(
            **_pair(
                None if now_d is None else now_d.share,
                None if before_d is None else before_d.share,
            )
        ),
        "drift_detected": FlagChange(
            value=None if now_d is None else now_d.detected,
            previous=None if before_d is None else before_d.detected,
        ),
        "newly_drifted": newly,
        "recovered": recovered,
        "features": features,
    }
    if now_s.performance_metric == before_s.performance_metric:
        out["performance"] = PerformanceChange(
            metric=now_s.performance_metric,
            **_pair(now_s.performance_value, before_s.performance_value),
            n_labelled=now_s.n_labelled,
            previous_n_labelled=before_s.n_labelled,
            degraded=now_s.performance_degraded,
            previously_degraded=before_s.performance_degraded,
        )
    if now_s.estimated_performance is not None and before_s.estimated_performance is not None:
        out["estimated_performance"] = ValueChange(
            **_pair(now_s.estimated_performance.value, before_s.estimated_performance.value)
        )
    if now_s.multivariate is not None and before_s.multivariate is not None:
        out["multivariate"] = ValueChange(
            **_pair(now_s.multivariate.value, before_s.multivariate.value)
        )
    if now_s.quality is not None and before_s.quality is not None:
        out["quality"] = QualityChange(
            passed=now_s.quality.passed,
            previously_passed=before_s.quality.passed,
            new_breaches=_new_breaches(now_s.quality, before_s.quality),
        )
    return PreviousComparison(**out)


def _new_breaches(now: QualitySummary, before: QualitySummary) -> list[str]:
    def breaches(q: QualitySummary) -> set[str]:
        return {f"{c.check}:{c.feature or '*'}" for c in q.breaches}

    return sorted(breaches(now) - breaches(before))
