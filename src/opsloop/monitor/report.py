"""A self-contained HTML monitoring report: inline CSS and SVG, no scripts, no CDN.

Rendered from a result's summary (`MonitorReport.to_dict()` or a stored summary) and the
summaries of earlier windows of the same version (`history`, oldest first) with the
template `monitor/report.html` of `opsloop.templates`. Every key beyond the original ones
(``quality``, ``estimated_performance``, ``calibration``, ``multivariate``, ``previous``)
is optional: older results lack them, and their sections are left out. The charts are
computed here (`opsloop.templates.svg`); the template lays them out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opsloop.core.profile import Profile
from opsloop.core.summaries import VERDICTS, feature_verdict
from opsloop.monitor.run import MonitorReport
from opsloop.templates import render, safe_svg, when
from opsloop.templates.svg import Series, histogram, line_chart

Summary = Mapping[str, Any]

_MAX_LOG_P = 50.0  # −log10 p is capped: p underflows to 0 in large windows


def _features(s: Summary) -> list[Mapping[str, Any]]:
    return [f for f in (s.get("drift") or {}).get("features", []) if isinstance(f, Mapping)]


def _with_verdict(f: Mapping[str, Any]) -> dict[str, Any]:
    """The feature with its verdict (derived from its status in older summaries)."""
    verdict = f.get("verdict")
    if verdict not in VERDICTS:
        verdict = feature_verdict(f.get("status"), f.get("drifted"))
    return {**f, "verdict": verdict}


@dataclass(frozen=True)
class OverTime:
    """The over-time section's charts (SVG markup): drift share, performance and the
    multivariate score (`general`), and drift per feature (`features`)."""

    windows: int
    general: list[str]
    features: list[str]


# ---- over time --------------------------------------------------------------------------
def _p_based(f: Mapping[str, Any]) -> bool:
    return f.get("p_value") is not None


def _drift_series(
    points: Sequence[Mapping[str, Any] | None],
) -> tuple[list[float | None], float | None, str]:
    """Values to plot, the threshold line and its label. One method and threshold over the
    series: its own units (tests: −log10 p, the line at −log10 α; distances: the
    statistic). Otherwise (auto switched method with the window's size) value ÷ threshold,
    the line at 1."""
    judged = [p for p in points if p is not None]
    methods = {(p.get("test"), p.get("threshold"), _p_based(p)) for p in judged}

    def log_p(p: Mapping[str, Any]) -> float:
        return min(-math.log10(max(float(p["p_value"]), 1e-300)), _MAX_LOG_P)

    if len(methods) == 1:
        test, thr, p_based = next(iter(methods))
        if p_based and isinstance(thr, int | float) and 0 < thr < 1:
            values = [None if p is None else log_p(p) for p in points]
            return values, -math.log10(thr), f"−log10 p ({test}); line p = {thr:g}"
        values = [
            None if p is None or p.get("statistic") is None else float(p["statistic"])
            for p in points
        ]
        return values, thr if isinstance(thr, int | float) else None, f"{test}; line {thr}"

    def ratio(p: Mapping[str, Any]) -> float | None:
        thr = p.get("threshold")
        if not isinstance(thr, int | float) or thr <= 0:
            return None
        if _p_based(p):
            return log_p(p) / -math.log10(thr) if 0 < thr < 1 else None
        stat = p.get("statistic")
        return None if stat is None else float(stat) / thr

    return (
        [None if p is None else ratio(p) for p in points],
        1.0,
        "score ÷ threshold (method changed)",
    )


def _over_time(series: Sequence[Summary]) -> OverTime:
    """Drift per feature, drift share, performance and the multivariate score over the
    windows in `series` (oldest first, the current window last)."""
    labels = [when(s.get("window_end"), "%m-%d %H:%M") for s in series]
    names: list[str] = []
    for s in series:
        names += [str(f.get("name")) for f in _features(s) if f.get("name") not in names]
    charts = []
    for name in names:
        points = []
        for s in series:
            f = next((f for f in _features(s) if f.get("name") == name), None)
            points.append(f if f is not None and f.get("status") != "insufficient_data" else None)
        values, thr, label = _drift_series(points)
        marks = [bool(p and p.get("drifted")) for p in points]
        charts.append(
            line_chart(
                labels,
                [Series(name, values, "#3b6db3", marks)],
                title=name,
                threshold=thr,
                threshold_label=label,
            )
        )
    share = [(s.get("drift") or {}).get("share") for s in series]
    detected = [bool((s.get("drift") or {}).get("detected")) for s in series]
    general = [
        line_chart(
            labels,
            [Series("drift share", share, "#7a4fb3", detected)],
            title="share of drifted features",
            span=(0.0, 1.0),
        )
    ]
    realised = [s.get("performance_value") for s in series]
    est = [s.get("estimated_performance") for s in series]
    est_values = [e.get("value") if isinstance(e, Mapping) else None for e in est]
    if any(v is not None for v in realised + est_values):
        metric = next(
            (
                str(s.get("performance_metric"))
                for s in reversed(series)
                if s.get("performance_metric")
            ),
            "performance",
        )
        lines = [
            Series(
                f"{metric} (realised)",
                realised,
                "#1b7f3b",
                [bool(s.get("performance_degraded")) for s in series],
            )
        ]
        if any(v is not None for v in est_values):
            lines.append(
                Series(
                    f"{metric} (estimated)",
                    est_values,
                    "#e07b39",
                    [bool(isinstance(e, Mapping) and e.get("degraded")) for e in est],
                )
            )
        floor = series[-1].get("performance_floor")
        general.append(
            line_chart(
                labels,
                lines,
                title=f"{metric}: realised (green), estimated (orange)",
                threshold=floor if isinstance(floor, int | float) else None,
                threshold_label="floor",
                band=[
                    (e.get("lower"), e.get("upper")) if isinstance(e, Mapping) else (None, None)
                    for e in est
                ],
                bars=[s.get("n_labelled") for s in series],
                bars_label="labelled rows",
            )
        )
    mv = [s.get("multivariate") for s in series]
    if any(isinstance(m, Mapping) and m.get("value") is not None for m in mv):
        general.append(
            line_chart(
                labels,
                [
                    Series(
                        "reconstruction error",
                        [m.get("value") if isinstance(m, Mapping) else None for m in mv],
                        "#b35f3b",
                        [bool(isinstance(m, Mapping) and m.get("drifted")) for m in mv],
                    )
                ],
                title="multivariate drift (PCA reconstruction error)",
                band=[
                    (m.get("lower"), m.get("upper")) if isinstance(m, Mapping) else (None, None)
                    for m in mv
                ],
            )
        )
    return OverTime(len(series), [safe_svg(c) for c in general], [safe_svg(c) for c in charts])


def render_html(
    report: MonitorReport | Summary,
    reference: Profile | None,
    *,
    title: str,
    history: Sequence[Summary] = (),
) -> str:
    """The report of one window. `report`: the result or its summary; `reference`: the
    version's profile (bin labels of the histograms); `history`: earlier windows'
    summaries of the same version, oldest first."""
    s: Summary = report.to_dict() if isinstance(report, MonitorReport) else report
    features = sorted(
        (_with_verdict(f) for f in _features(s)),
        key=lambda f: (VERDICTS.index(f["verdict"]), str(f.get("name"))),
    )
    prediction = (s.get("drift") or {}).get("prediction")
    ref_features = reference.features if reference is not None else {}
    histograms = [
        safe_svg(
            histogram(
                str(f.get("name")),
                f.get("reference_counts") or [],
                f.get("current_counts") or [],
                ref_features[str(f["name"])].labels() if f.get("name") in ref_features else [],
                drifted=bool(f.get("drifted")),
            )
        )
        for f in features
        if f.get("status") != "insufficient_data" and f.get("reference_counts")
    ]
    previous = s.get("previous")
    changed = [
        f
        for f in (previous.get("features", []) if isinstance(previous, Mapping) else [])
        if isinstance(f, Mapping)
    ]
    changed.sort(key=lambda f: -abs(f.get("change") or 0.0))
    return render(
        "monitor/report.html",
        s=s,
        title=title,
        features=features,
        prediction=_with_verdict(prediction) if isinstance(prediction, Mapping) else None,
        histograms=histograms,
        previous_features=changed,
        over_time=_over_time([*history, s]),
    )
