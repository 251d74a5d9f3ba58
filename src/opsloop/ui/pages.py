"""What each page shows, built from the application services' typed views (never a query
of its own): the overview rows, the monitoring charts, the rollout analysis over time.
The routes (ui/routes.py) hand these to the templates under templates/ui/."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from opsloop.templates import safe_svg, when
from opsloop.templates.svg import Cell, Series, heatmap, histogram, line_chart

if TYPE_CHECKING:
    from markupsafe import Markup

    from opsloop.core.summaries import FeatureDriftSummary, QualityCheckSummary
    from opsloop.services.view_models import (
        DayView,
        MonitoringDaysView,
        MonitoringView,
        StatusView,
        WindowView,
    )
    from opsloop.store.records import Event, MonitorResult

ROLLOUT_KINDS = [
    "rollout_started",
    "rollout_advanced",
    "promoted",
    "rolled_back",
    "rollout_aborted",
]


@dataclass(frozen=True)
class OverviewRow:
    status: StatusView
    candidate: str | None
    split: str  # e.g. "v2 90% · v3 10% (canary)"
    alerts: list[str]
    next_trigger: str


def overview_row(status: StatusView) -> OverviewRow:
    return OverviewRow(
        status=status,
        candidate=candidate(status),
        split=traffic_split(status),
        alerts=alerts(status),
        next_trigger=next_trigger(status),
    )


def candidate(status: StatusView) -> str | None:
    """The running rollout's candidate, else the challenger (newest version not rejected
    and not serving)."""
    r = status.rollout
    if r is not None and r.status == "running":
        return r.candidate_version
    return None if status.challenger is None else status.challenger.version


def traffic_split(status: StatusView) -> str:
    r = status.rollout
    champion = None if status.deployment is None else status.deployment.version
    if r is not None and r.status == "running":
        share = float(r.share)
        if r.strategy == "shadow":
            return f"v{r.stable_version} 100% · v{r.candidate_version} shadow"
        return (
            f"v{r.stable_version} {1 - share:.0%} · v{r.candidate_version} {share:.0%} "
            f"({r.strategy})"
        )
    return "nothing deployed" if champion is None else f"v{champion} 100%"


def alerts(status: StatusView) -> list[str]:
    """What needs a look: the last window's breaches, a failing rollout, a failed run."""
    found: list[str] = []
    last = status.last_monitor
    if last is not None:
        if last.drift_detected:
            names = ", ".join(last.drifted_features[:4])
            found.append(f"drift: {last.drift_share:.0%} of features ({names})")
        if last.performance_degraded:
            found.append(f"{last.performance_metric} below its floor")
        est = last.estimated_performance or {}
        if est.get("degraded"):
            found.append(f"estimated {est.get('metric') or 'performance'} below its floor")
        if last.quality_passed is False:
            found.append(f"data quality: {len(last.quality_breaches)} breach(es)")
        mv = last.multivariate or {}
        if mv.get("drifted"):
            found.append("multivariate drift")
    r = status.rollout
    if r is not None and r.status == "running" and r.verdict == "fail":
        found.append(f"rollout of v{r.candidate_version} failing its analysis")
    if status.runs and status.runs[0].status == "failed":
        found.append(f"last {status.runs[0].pipeline} run failed")
    return found


def next_trigger(status: StatusView) -> str:
    """The retraining trigger that can fire first, in words."""
    parts = []
    for t in status.schedule.triggers:
        if t.get("trigger") in ("resume",):
            continue
        detail = str(t.get("detail") or "")
        if t.get("trigger") == "manual" and not t.get("pending"):
            continue
        parts.append(f"{t.get('trigger')}: {detail}" if detail else str(t.get("trigger")))
    return "; ".join(parts) or "no retraining trigger configured"


# ---- monitoring ------------------------------------------------------------------------
# Up to this many windows a page shows each one; more are aggregated per day in SQL. A week
# of hourly windows is 168 columns: about the most a 900-pixel heatmap can tell apart.
PER_WINDOW_MAX = 168
# At most a month of hourly windows a page (older ones a page back): reading a window's
# verdicts out of its JSON digest costs SQLite ~0.1 ms a window, so a year at once would
# take seconds (docs/benchmarks.md, "Dashboard pages").
MAX_WINDOWS = 24 * 31


def older_link(
    here: str,
    view: MonitoringView | None,
    days: MonitoringDaysView | None,
    n: int,
    version: str | None,
) -> str | None:
    """The link to the `n` windows before the oldest shown (None when there is nothing
    shown, or fewer than `n` windows: nothing older)."""
    if view is not None:
        if len(view.windows) < n:
            return None
        oldest = view.windows[0].window_start
    elif days is not None:
        if days.windows < n or not days.days:
            return None
        oldest = days.days[0].first_start
    else:
        return None
    query = {"windows": str(n), "to": oldest or ""}
    if version:
        query["version"] = version
    return f"{here}?{urlencode(query)}"


@dataclass(frozen=True)
class MonitoringCharts:
    heatmap: Markup | None
    drift: Markup | None
    performance: Markup | None
    multivariate: Markup | None
    features: list[str]


def _label(w: WindowView) -> str:
    return when(w.window_end, "%m-%d %H:%M")


def monitoring_charts(
    view: MonitoringView, prefix: str, drift_share: float, keep: str = ""
) -> MonitoringCharts:
    """The heatmap of drift verdicts (features × windows, each cell linking to that
    feature and window; `keep`: the page's query, `a=1&`, so the link shows the same
    windows) and the series over time."""
    windows = view.windows
    if not windows:
        return MonitoringCharts(None, None, None, None, [])
    labels = [_label(w) for w in windows]
    features = sorted({name for w in windows for name in w.features})
    cells = []
    for name in features:
        row = []
        for w, label in zip(windows, labels, strict=True):
            f = w.features.get(name)
            status = None if f is None else (f.status or ("drifted" if f.drifted else "ok"))
            stat = "" if f is None or f.statistic is None else f" {f.test} {f.statistic:.4g}"
            row.append(
                Cell(
                    status=status,
                    tip=f"{name} · {label}: {status or 'not judged'}{stat}",
                    href=f"{prefix}?{keep}window={w.id}&feature={quote(name)}",
                )
            )
        cells.append(row)
    heat = heatmap(features, labels, cells, title="Drift per feature over time")
    drift = line_chart(
        labels,
        [
            Series(
                "drift share",
                [float(w.drift_share) for w in windows],
                "#e07b39",
                [w.drift_detected for w in windows],
            )
        ],
        title="Share of features drifted",
        threshold=drift_share,
        threshold_label="alert share",
        span=(0.0, 1.0),
        width=480,
    )
    metric = next((w.performance_metric for w in windows if w.performance_metric), None)
    est = [w.estimated_performance for w in windows]
    performance = line_chart(
        labels,
        [
            Series(
                f"realised {metric or 'performance'}",
                [
                    None if w.performance_value is None else float(w.performance_value)
                    for w in windows
                ],
                "#1f5fa8",
                [w.performance_degraded for w in windows],
            ),
            Series(
                "estimated (CBPE)",
                [None if e is None or e.value is None else float(e.value) for e in est],
                "#7a49a5",
                [bool(e and e.degraded) for e in est],
            ),
        ],
        title=f"Performance ({metric or 'no metric'}): realised, estimated and its band",
        band=[
            (None, None)
            if e is None
            else (
                None if e.lower is None else float(e.lower),
                None if e.upper is None else float(e.upper),
            )
            for e in est
        ],
        bars=[w.n_labelled for w in windows],
        bars_label="labelled rows",
        width=480,
    )
    mv = [w.multivariate for w in windows]
    multivariate = None
    if any(m is not None for m in mv):
        multivariate = line_chart(
            labels,
            [
                Series(
                    "reconstruction error",
                    [None if m is None or m.value is None else float(m.value) for m in mv],
                    "#2a9d8f",
                    [bool(m and m.drifted) for m in mv],
                )
            ],
            title="Multivariate (PCA reconstruction error) and its band",
            band=[
                (None, None)
                if m is None
                else (
                    None if m.lower is None else float(m.lower),
                    None if m.upper is None else float(m.upper),
                )
                for m in mv
            ],
            width=480,
        )
    return MonitoringCharts(
        safe_svg(heat),
        safe_svg(drift),
        safe_svg(performance),
        None if multivariate is None else safe_svg(multivariate),
        features,
    )


# a day's cell takes the colour of its worst verdict, darker the more windows had it
_SEVERITY = ("drifted", "immaterial", "ok", "insufficient_data")


def _day_cell(name: str, d: DayView, href: str) -> Cell:
    counts = d.features.get(name) or {}
    judged = sum(counts.values())
    worst = next((s for s in _SEVERITY if counts.get(s)), None)
    if worst is None:
        return Cell(status=None, tip=f"{name} · {d.day}: not judged", href=href)
    share = counts[worst] / judged
    parts = ", ".join(f"{n} {s}" for s, n in counts.items())
    return Cell(
        status=worst,
        tip=f"{name} · {d.day}: {parts} of {d.windows} windows",
        href=href,
        opacity=0.35 + 0.65 * share,
    )


def monitoring_day_charts(
    view: MonitoringDaysView, prefix: str, drift_share: float
) -> MonitoringCharts:
    """The same charts as `monitoring_charts`, one column or point per UTC day: the
    heatmap's cell has the worst verdict of the day's windows (darker when more windows had
    it; it links to that day's windows), the lines the day's means (marked when a window
    of the day was flagged), the bands the day's widest."""
    days = view.days
    if not days:
        return MonitoringCharts(None, None, None, None, [])
    labels = [d.day for d in days]
    features = sorted({name for d in days for name in d.features})
    same = {"version": view.version} if view.version else {}  # that day, the same version
    links = [
        f"{prefix}?{urlencode({'windows': 24, 'to': d.last_end or '', **same})}&feature="
        for d in days
    ]
    cells = [
        [_day_cell(name, d, link + quote(name)) for d, link in zip(days, links, strict=True)]
        for name in features
    ]
    heat = heatmap(features, labels, cells, title="Drift per feature per day")
    drift = line_chart(
        labels,
        [
            Series(
                "drift share (day's mean)",
                [float(d.drift_share_mean) for d in days],
                "#e07b39",
                [d.drifted > 0 for d in days],
            )
        ],
        title="Share of features drifted (mean per day)",
        threshold=drift_share,
        threshold_label="alert share",
        span=(0.0, 1.0),
        width=480,
    )
    metric = next((d.performance_metric for d in days if d.performance_metric), None)
    performance = line_chart(
        labels,
        [
            Series(
                f"realised {metric or 'performance'} (mean)",
                [_f(d.performance_mean) for d in days],
                "#1f5fa8",
                [d.degraded > 0 for d in days],
            ),
            Series(
                "estimated (CBPE, mean)",
                [_f(d.estimated_mean) for d in days],
                "#7a49a5",
                [d.estimated_degraded > 0 for d in days],
            ),
        ],
        title=f"Performance ({metric or 'no metric'}) per day: realised, estimated, widest band",
        band=[(_f(d.estimated_lower), _f(d.estimated_upper)) for d in days],
        bars=[d.n_labelled for d in days],
        bars_label="labelled rows",
        width=480,
    )
    multivariate = None
    if any(d.multivariate_mean is not None for d in days):
        multivariate = line_chart(
            labels,
            [
                Series(
                    "reconstruction error (mean)",
                    [_f(d.multivariate_mean) for d in days],
                    "#2a9d8f",
                    [d.multivariate_drifted > 0 for d in days],
                )
            ],
            title="Multivariate (PCA reconstruction error) per day and its widest band",
            band=[(_f(d.multivariate_lower), _f(d.multivariate_upper)) for d in days],
            width=480,
        )
    return MonitoringCharts(
        safe_svg(heat),
        safe_svg(drift),
        safe_svg(performance),
        None if multivariate is None else safe_svg(multivariate),
        features,
    )


def _f(value: float | None) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class WindowDetail:
    result: MonitorResult
    feature: FeatureDriftSummary | None
    histogram: Markup | None
    quality: list[QualityCheckSummary]


def window_detail(result: MonitorResult, feature: str | None) -> WindowDetail:
    """One window: the chosen feature's reference vs current histogram (default: the first
    drifted feature, else the first) and the data-quality checks."""
    summary = result.summary_model
    features = [f for f in summary.features if f.name is not None]
    chosen = next((f for f in features if f.name == feature), None)
    if chosen is None and feature is None:
        chosen = next((f for f in features if f.drifted), features[0] if features else None)
    chart = None
    if chosen is not None and chosen.reference_counts and chosen.current_counts is not None:
        n = len(chosen.reference_counts)
        chart = safe_svg(
            histogram(
                str(chosen.name),
                chosen.reference_counts,
                chosen.current_counts,
                [f"bin {i + 1}" for i in range(n)],
                drifted=bool(chosen.drifted),
                width=480,
                height=180,
            )
        )
    quality = [] if summary.quality is None else summary.quality.checks
    return WindowDetail(result, chosen, chart, quality)


# ---- deployment --------------------------------------------------------------------
@dataclass(frozen=True)
class AnalysisPoint:
    event: Event
    verdict: str | None
    checks: dict[str, Any]  # check name → value


def rollout_analysis(events: list[Event]) -> tuple[list[AnalysisPoint], Markup | None]:
    """Each rollout event's analysis (verdict and check values) and a chart of the check
    values over those events."""
    points = []
    for e in events:
        analysis = e.evidence.get("analysis")
        if not isinstance(analysis, dict):
            continue
        checks = {
            str(c.get("name")): c.get("value")
            for c in analysis.get("checks") or []
            if isinstance(c, dict) and c.get("name")
        }
        points.append(AnalysisPoint(e, analysis.get("verdict"), checks))
    names = sorted({n for p in points for n in p.checks})
    if not points or not names:
        return points, None
    colours = ["#1f5fa8", "#e07b39", "#2a9d8f", "#7a49a5", "#b00020", "#555555"]
    chart = line_chart(
        [when(p.event.ts.isoformat(), "%m-%d %H:%M") for p in points],
        [
            Series(
                name,
                [
                    float(v) if isinstance(v := p.checks.get(name), int | float) else None
                    for p in points
                ],
                colours[i % len(colours)],
            )
            for i, name in enumerate(names)
        ],
        title="Rollout analysis: each check's value at each step",
        width=480,
    )
    return points, safe_svg(chart)
