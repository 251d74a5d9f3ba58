"""A self-contained HTML monitoring report: inline CSS and SVG, no scripts, no CDN."""

from __future__ import annotations

from html import escape

from opsloop.monitor.drift import FeatureDrift
from opsloop.monitor.profile import FeatureProfile, Profile
from opsloop.monitor.run import MonitorReport

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:.25em .7em;border-bottom:1px solid #ddd;
text-align:left}th{background:#f4f4f4}.bad{color:#b00020;font-weight:600}.ok{color:#1b7f3b}
.verdict{padding:.7em 1em;border-radius:6px;background:#f4f4f4;display:inline-block}
.charts{display:flex;flex-wrap:wrap;gap:1em}.chart{border:1px solid #eee;padding:.4em}
.legend span{display:inline-block;width:10px;height:10px;margin:0 .3em 0 1em}
"""


def _fmt(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}g}"


def _labels(ref: FeatureProfile) -> list[str]:
    return ref.labels()


def _histogram(d: FeatureDrift, ref: FeatureProfile, width: int = 320, height: int = 140) -> str:
    ref_counts, cur_counts = d.reference_counts, d.current_counts
    n = max(len(ref_counts), 1)
    rs, cs = max(sum(ref_counts), 1), max(sum(cur_counts), 1)
    shares = [(r / rs, c / cs) for r, c in zip(ref_counts, cur_counts, strict=False)]
    top = max([max(a, b) for a, b in shares] + [1e-9])
    slot = (width - 20) / n
    bars = []
    labels = _labels(ref)
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
    return (f'<svg class="chart" width="{width}" height="{height}" role="img" '
            f'aria-label="{escape(d.name)} histogram">'
            f'<text x="10" y="14" font-size="12">{escape(d.name)} '
            f'{"(drifted)" if d.drifted else ""}</text>{"".join(bars)}</svg>')


def _multivariate(report: MonitorReport) -> str:
    m = report.multivariate
    if m is None:
        return ""
    if m.value is None or m.lower is None or m.upper is None:
        return (f"<p>Multivariate drift (PCA reconstruction, {m.components} components): "
                f"not judged ({m.n} rows).</p>")
    state = "<span class=bad>outside the band</span>" if m.drifted else "inside the band"
    return (f"<p>Multivariate drift (PCA reconstruction, {m.components} components): mean "
            f"error {_fmt(m.value)} over {m.n} rows, band [{_fmt(m.lower)}, {_fmt(m.upper)}] "
            f"— {state}</p>")


def render_html(report: MonitorReport, reference: Profile, *, title: str) -> str:
    drift = report.drift
    verdict = (f'<span class="bad">DRIFT</span> in {drift.share:.0%} of {drift.tested} features'
               if drift.detected else
               f'<span class="ok">no dataset drift</span> ({drift.share:.0%} of '
               f"{drift.tested} features drifted)")
    perf = ""
    if report.performance_value is not None:
        state = ('<span class="bad">below floor</span>' if report.performance_degraded
                 else '<span class="ok">ok</span>')
        perf = (f" · {escape(report.performance_metric)} = {report.performance_value:.4f} on "
                f"{report.n_labelled} labelled rows ({state})")
    rows = []
    ordered = sorted(drift.features, key=lambda f: (not f.drifted, f.name))
    for f in ordered:
        cls = "bad" if f.drifted else ""
        rows.append(
            f"<tr><td class='{cls}'>{escape(f.name)}</td><td>{f.kind}</td><td>{f.test}</td>"
            f"<td>{_fmt(f.statistic)}</td><td>{_fmt(f.p_value, 3)}</td><td>{_fmt(f.psi, 3)}</td>"
            f"<td>{f.missing_rate_reference:.1%}</td><td>{f.missing_rate_current:.1%}</td>"
            f"<td>{f.unseen}</td><td class='{cls}'>{f.status}</td></tr>"
        )
    pred = ""
    if drift.prediction is not None:
        p = drift.prediction
        pred = (f"<p>Prediction (score) drift: KS {_fmt(p.statistic)}, p {_fmt(p.p_value, 3)}, "
                f"PSI {_fmt(p.psi, 3)} — {'<span class=bad>drifted</span>' if p.drifted else 'ok'}"
                "</p>")
    charts = "".join(_histogram(f, reference.features[f.name]) for f in ordered
                     if f.name in reference.features and f.status != "insufficient_data")
    perf_rows = "".join(f"<tr><td>{escape(k)}</td><td>{v:.4f}</td></tr>"
                        for k, v in sorted(report.performance.items()))
    perf_table = (f"<table><tr><th>metric</th><th>value ({report.n_labelled} labelled rows)"
                  f"</th></tr>{perf_rows}</table>" if perf_rows else
                  f"<p>Not enough labelled rows yet ({report.n_labelled}).</p>")
    notes = "".join(f"<li>{escape(n)}</li>" for n in report.notes)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>{_CSS}</style></head><body>
<h1>opsloop monitoring · {escape(title)}</h1>
<p class="verdict">{report.n_rows} predictions, {report.window_start:%Y-%m-%d %H:%M} →
{report.window_end:%Y-%m-%d %H:%M} UTC · {verdict}{perf}</p>
{f"<ul>{notes}</ul>" if notes else ""}
<h2>Features</h2>
<table><tr><th>feature</th><th>kind</th><th>test</th><th>statistic</th><th>p-value</th>
<th>PSI</th><th>missing (ref)</th><th>missing (now)</th><th>unseen</th><th>status</th></tr>
{"".join(rows)}</table>
{pred}
{_multivariate(report)}
<h2>Reference vs current</h2>
<p class="legend"><span style="background:#9db4d8"></span>reference
<span style="background:#e07b39"></span>current window (share of rows per bin)</p>
<div class="charts">{charts}</div>
<h2>Performance</h2>
{perf_table}
</body></html>
"""
