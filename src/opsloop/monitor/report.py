"""A self-contained HTML monitoring report: inline CSS and SVG, no scripts, no CDN.

Rendered from a result's summary (`MonitorReport.to_dict()` or a stored summary) and the
summaries of earlier windows of the same version (`history`, oldest first). Every key
beyond the original ones (``quality``, ``estimated_performance``, ``calibration``,
``multivariate``, ``previous``) is optional: older results lack them, and their sections
are left out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any

from opsloop.core.profile import Profile
from opsloop.monitor.run import MonitorReport
from opsloop.monitor.svg import Series, line_chart, num

Summary = Mapping[str, Any]

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:.25em .7em;border-bottom:1px solid #ddd;
text-align:left}th{background:#f4f4f4}.bad{color:#b00020;font-weight:600}.ok{color:#1b7f3b}
.verdict{padding:.7em 1em;border-radius:6px;background:#f4f4f4;display:inline-block}
.charts{display:flex;flex-wrap:wrap;gap:1em}.chart{border:1px solid #eee;padding:.4em}
.legend span{display:inline-block;width:10px;height:10px;margin:0 .3em 0 1em}
.muted{color:#777}
"""
_MAX_LOG_P = 50.0  # −log10 p is capped: p underflows to 0 in large windows


def _fmt(value: Any, digits: int = 4) -> str:
    return (
        num(value, digits)
        if value is None or isinstance(value, int | float)
        else escape(str(value))
    )


def _when(iso: Any, pattern: str = "%Y-%m-%d %H:%M") -> str:
    try:
        return datetime.fromisoformat(str(iso)).strftime(pattern)
    except ValueError:
        return escape(str(iso))


def _features(s: Summary) -> list[Mapping[str, Any]]:
    return [f for f in (s.get("drift") or {}).get("features", []) if isinstance(f, Mapping)]


# ---- the current window ---------------------------------------------------------------
def _histogram(
    f: Mapping[str, Any], labels: Sequence[str], width: int = 320, height: int = 140
) -> str:
    ref_counts, cur_counts = f.get("reference_counts") or [], f.get("current_counts") or []
    n = max(len(ref_counts), 1)
    rs, cs = max(sum(ref_counts), 1), max(sum(cur_counts), 1)
    shares = [(r / rs, c / cs) for r, c in zip(ref_counts, cur_counts, strict=False)]
    top = max([max(a, b) for a, b in shares] + [1e-9])
    slot = (width - 20) / n
    bars = []
    for i, (a, b) in enumerate(shares):
        x = 10 + i * slot
        label = escape(labels[i] if i < len(labels) else str(i))
        for j, (value, colour) in enumerate(((a, "#9db4d8"), (b, "#e07b39"))):
            h = value / top * (height - 30)
            bars.append(
                f'<rect x="{x + j * slot / 2:.1f}" y="{height - 20 - h:.1f}" '
                f'width="{max(slot / 2 - 1, 1):.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{label}: {'reference' if j == 0 else 'current'} {value:.1%}</title></rect>"
            )
    name = escape(str(f.get("name")))
    return (
        f'<svg class="chart" width="{width}" height="{height}" role="img" '
        f'aria-label="{name} histogram">'
        f'<text x="10" y="14" font-size="12">{name} '
        f"{'(drifted)' if f.get('drifted') else ''}</text>{''.join(bars)}</svg>"
    )


def _state(bad: bool, bad_text: str, ok_text: str) -> str:
    return f'<span class="{"bad" if bad else "ok"}">{bad_text if bad else ok_text}</span>'


def _verdict(s: Summary) -> str:
    drift = s.get("drift") or {}
    share, tested = drift.get("share") or 0.0, drift.get("tested", 0)
    text = (
        f'<span class="bad">DRIFT</span> in {share:.0%} of {tested} features'
        if drift.get("detected")
        else f'<span class="ok">no dataset drift</span> ({share:.0%} of {tested} features drifted)'
    )
    if s.get("performance_value") is not None:
        state = _state(bool(s.get("performance_degraded")), "below floor", "ok")
        text += (
            f" · {escape(str(s.get('performance_metric')))} = "
            f"{s['performance_value']:.4f} on {s.get('n_labelled', 0)} labelled rows "
            f"({state})"
        )
    est = s.get("estimated_performance")
    if isinstance(est, Mapping) and est.get("value") is not None:
        state = _state(bool(est.get("degraded")), "degraded", "ok")
        text += (
            f" · estimated {escape(str(est.get('metric')))} = {est['value']:.4f} "
            f"(band {_fmt(est.get('lower'))} … {_fmt(est.get('upper'))}; {state})"
        )
    mv = s.get("multivariate")
    if isinstance(mv, Mapping) and mv.get("value") is not None:
        state = _state(bool(mv.get("drifted")), "outside the band", "inside the band")
        text += (
            f" · multivariate reconstruction error {_fmt(mv['value'])} "
            f"(band {_fmt(mv.get('lower'))} … {_fmt(mv.get('upper'))}; {state})"
        )
    q = s.get("quality")
    if isinstance(q, Mapping) and "passed" in q:
        text += " · data quality " + _state(not q["passed"], "breached", "passed")
    return text


def _feature_table(features: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for f in features:
        cls = "bad" if f.get("drifted") else ""
        rows.append(
            f"<tr><td class='{cls}'>{escape(str(f.get('name')))}</td><td>{_fmt(f.get('kind'))}"
            f"</td><td>{_fmt(f.get('test'))}</td><td>{_fmt(f.get('statistic'))}</td>"
            f"<td>{_fmt(f.get('p_value'), 3)}</td><td>{_fmt(f.get('psi'), 3)}</td>"
            f"<td>{f.get('missing_rate_reference') or 0:.1%}</td>"
            f"<td>{f.get('missing_rate_current') or 0:.1%}</td><td>{_fmt(f.get('unseen'))}</td>"
            f"<td class='{cls}'>{_fmt(f.get('status'))}</td></tr>"
        )
    return (
        "<table><tr><th>feature</th><th>kind</th><th>test</th><th>statistic</th>"
        "<th>p-value</th><th>PSI</th><th>missing (ref)</th><th>missing (now)</th>"
        f"<th>unseen</th><th>status</th></tr>{''.join(rows)}</table>"
    )


def _quality(s: Summary) -> str:
    q = s.get("quality")
    if not isinstance(q, Mapping):
        return ""
    rows = []
    for c in q.get("checks", []):
        status = str(c.get("status"))
        cls = {"breach": "bad", "ok": "ok"}.get(status, "muted")
        rows.append(
            f"<tr><td>{_fmt(c.get('check'))}</td><td>{_fmt(c.get('feature') or '—')}"
            f"</td><td class='{cls}'>{escape(status)}</td><td>{_fmt(c.get('value'))}</td>"
            f"<td>{_fmt(c.get('expected'))}</td><td>{_fmt(c.get('detail'))}</td></tr>"
        )
    verdict = (
        '<span class="ok">passed</span>' if q.get("passed") else '<span class="bad">breached</span>'
    )
    return (
        f"<h2>Data quality</h2><p>{verdict}</p><table><tr><th>check</th><th>feature</th>"
        "<th>status</th><th>value</th><th>expected</th><th>detail</th></tr>"
        f"{''.join(rows)}</table>"
    )


def _performance(s: Summary) -> str:
    perf = s.get("performance") or {}
    n = s.get("n_labelled", 0)
    rows = "".join(
        f"<tr><td>{escape(str(k))}</td><td>{_fmt(v)}</td></tr>" for k, v in sorted(perf.items())
    )
    out = (
        f"<table><tr><th>metric</th><th>value ({n} labelled rows)</th></tr>{rows}</table>"
        if rows
        else f"<p>Not enough labelled rows yet ({n}).</p>"
    )
    est = s.get("estimated_performance")
    if isinstance(est, Mapping):
        metrics = "".join(
            f"<tr><td>{escape(str(k))}</td><td>{_fmt(v)}</td></tr>"
            for k, v in sorted((est.get("metrics") or {}).items())
        )
        out += (
            f"<p>Estimated without labels ({_fmt(est.get('method'))}, {est.get('n', 0)} "
            f"rows): {_fmt(est.get('metric'))} = {_fmt(est.get('value'))}, alert band "
            f"{_fmt(est.get('lower'))} … {_fmt(est.get('upper'))}</p>"
        )
        if metrics:
            out += f"<table><tr><th>estimated metric</th><th>value</th></tr>{metrics}</table>"
    cal = s.get("calibration")
    if isinstance(cal, Mapping):
        out += (
            f"<p>Calibration on labelled rows: ECE {_fmt(cal.get('ece'))}, Brier "
            f"{_fmt(cal.get('brier'))}</p>"
        )
    return out


# ---- comparison with the previous window ----------------------------------------------
def _signed(value: Any) -> str:
    return "—" if not isinstance(value, int | float) else f"{value:+.4g}"


def _previous(s: Summary) -> str:
    p = s.get("previous")
    if not isinstance(p, Mapping):
        return (
            "<h2>Since the previous window</h2><p class='muted'>No earlier window of this "
            "version to compare with.</p>"
        )
    lines = [
        f"Previous window {_when(p.get('window_start'))} → {_when(p.get('window_end'))}"
        f" UTC (result {_fmt(p.get('id'))})."
    ]
    for key, label in (
        ("n_rows", "rows"),
        ("drift_share", "drift share"),
        ("estimated_performance", "estimated performance"),
        ("multivariate", "multivariate score"),
    ):
        pair = p.get(key)
        if isinstance(pair, Mapping):
            before, now, change = pair.get("previous"), pair.get("value"), pair.get("change")
            if (
                key == "drift_share"
                and before is not None
                and now is not None
                and change is not None
            ):
                lines.append(f"{label}: {before:.0%} → {now:.0%} ({change * 100:+.0f} points)")
            else:
                lines.append(f"{label}: {_fmt(before)} → {_fmt(now)} ({_signed(change)})")
    perf = p.get("performance")
    if isinstance(perf, Mapping) and (
        perf.get("value") is not None or perf.get("previous") is not None
    ):
        lines.append(
            f"{_fmt(perf.get('metric'))}: {_fmt(perf.get('previous'))} on "
            f"{_fmt(perf.get('previous_n_labelled'))} labels → {_fmt(perf.get('value'))}"
            f" on {_fmt(perf.get('n_labelled'))} labels ({_signed(perf.get('change'))})"
        )
    q = p.get("quality")
    if isinstance(q, Mapping) and q.get("new_breaches"):
        lines.append("new data-quality breaches: " + ", ".join(map(escape, q["new_breaches"])))
    for key, label, cls in (
        ("newly_drifted", "newly drifted", "bad"),
        ("recovered", "recovered", "ok"),
    ):
        names = p.get(key) or []
        lines.append(
            f"{label}: "
            + (f"<span class='{cls}'>{escape(', '.join(names))}</span>" if names else "none")
        )
    rows = []
    feats = [f for f in p.get("features", []) if isinstance(f, Mapping)]
    feats.sort(key=lambda f: -abs(f.get("change") or 0.0))
    for f in feats:
        was, now = f.get("previously_drifted"), f.get("drifted")
        state = (
            "<span class='bad'>newly drifted</span>"
            if now and not was
            else "<span class='ok'>recovered</span>"
            if was and not now
            else "drifted"
            if now
            else "ok"
        )
        test = _fmt(f.get("test"))
        if f.get("previous_test") not in (None, f.get("test")):
            test = f"{_fmt(f.get('previous_test'))} → {test}"
        rows.append(
            f"<tr><td>{escape(str(f.get('name')))}</td><td>{test}</td>"
            f"<td>{_fmt(f.get('previous_statistic'))}</td><td>{_fmt(f.get('statistic'))}"
            f"</td><td>{_signed(f.get('change'))}</td><td>{state}</td></tr>"
        )
    table = (
        (
            "<table><tr><th>feature</th><th>test</th><th>previous statistic</th>"
            "<th>statistic</th><th>change</th><th>verdict</th></tr>"
            f"{''.join(rows)}</table>"
        )
        if rows
        else ""
    )
    items = "".join(f"<li>{line}</li>" for line in lines)
    return f"<h2>Since the previous window</h2><ul>{items}</ul>{table}"


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


def _over_time(series: Sequence[Summary]) -> str:
    """Drift per feature, drift share, performance and the multivariate score over the
    windows in `series` (oldest first, the current window last)."""
    labels = [_when(s.get("window_end"), "%m-%d %H:%M") for s in series]
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
    return (
        f"<h2>Over time ({len(series)} windows of this version)</h2>"
        "<p class='muted'>Ringed points are flagged windows (drifted, degraded); dashed "
        "red lines are thresholds; green bands are alert bands; grey bars are labelled "
        "rows.</p>"
        f"<div class='charts'>{''.join(general)}</div><h3>Drift per feature</h3>"
        f"<div class='charts'>{''.join(charts)}</div>"
    )


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
    features = sorted(_features(s), key=lambda f: (not f.get("drifted"), str(f.get("name"))))
    pred = ""
    p = (s.get("drift") or {}).get("prediction")
    if isinstance(p, Mapping):
        pred = (
            f"<p>Prediction (score) drift: KS {_fmt(p.get('statistic'))}, p "
            f"{_fmt(p.get('p_value'), 3)}, PSI {_fmt(p.get('psi'), 3)} — "
            f"{'<span class=bad>drifted</span>' if p.get('drifted') else 'ok'}</p>"
        )
    ref_features = reference.features if reference is not None else {}
    charts = "".join(
        _histogram(
            f, ref_features[str(f["name"])].labels() if f.get("name") in ref_features else []
        )
        for f in features
        if f.get("status") != "insufficient_data" and f.get("reference_counts")
    )
    notes = "".join(f"<li>{escape(str(n))}</li>" for n in s.get("notes", []))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>{_CSS}</style></head><body>
<h1>opsloop monitoring · {escape(title)}</h1>
<p class="verdict">{s.get("n_rows", 0)} predictions, {_when(s.get("window_start"))} →
{_when(s.get("window_end"))} UTC · {_verdict(s)}</p>
{f"<ul>{notes}</ul>" if notes else ""}
{_previous(s)}
<h2>Features</h2>
{_feature_table(features)}
{pred}
{_quality(s)}
<h2>Reference vs current</h2>
<p class="legend"><span style="background:#9db4d8"></span>reference
<span style="background:#e07b39"></span>current window (share of rows per bin)</p>
<div class="charts">{charts}</div>
{_over_time([*history, s])}
<h2>Performance</h2>
{_performance(s)}
</body></html>
"""
