"""The HTML report from summaries: over-time charts, the optional sections, self-contained."""

from __future__ import annotations

import re
from xml.etree import ElementTree

from monitor_fixtures import feature, summary
from opsloop.monitor.previous import compare_windows
from opsloop.monitor.report import render_html

EXTERNAL = re.compile(r"""(src|href|xlink:href)\s*=\s*["']?\s*(https?:)?//""", re.I)


def svgs(html: str) -> list[ElementTree.Element]:
    """Every inline SVG, parsed (well-formed XML)."""
    return [ElementTree.fromstring(m) for m in re.findall(r"<svg\b.*?</svg>", html, re.S)]


def history(extras: bool) -> list[dict]:
    return [
        summary(
            h,
            [
                feature("x", None, test="ks", p_value=0.5 / (h + 1), drifted=h >= 3),
                feature(
                    "c", 0.05 * h, test="jensenshannon", threshold=0.12, drifted=0.05 * h >= 0.12
                ),
            ],
            perf=0.85 - 0.02 * h,
            n_labelled=100 + 10 * h,
            extras=extras,
        )
        for h in range(5)
    ]


def test_older_summaries_render_without_optional_sections() -> None:
    *older, current = history(extras=False)
    html = render_html(current, None, title="tiny v1", history=older)
    assert "Data quality" not in html and "Estimated without labels" not in html
    assert "multivariate" not in html and "No earlier window" in html
    charts = svgs(html)
    labels = [c.get("aria-label") for c in charts]
    # drift share, realised performance, one chart per feature (histograms need counts)
    assert {"share of drifted features", "x", "c"} <= set(labels)
    assert any(str(label).startswith("roc_auc") for label in labels)
    assert not EXTERNAL.search(html) and "<script" not in html


def test_every_optional_key_is_rendered() -> None:
    *older, current = history(extras=True)
    current["previous"] = compare_windows(
        current, older[-1], previous_id=4, previous_version="1"
    ).to_json()
    html = render_html(current, None, title="tiny <v1>", history=older)
    assert "tiny &lt;v1&gt;" in html and "40% missing &lt;b&gt;" in html
    assert "Data quality" in html and "missing_rate" in html and "breached" in html
    assert "estimated roc_auc = 0.7800" in html and "ECE 0.03" in html
    assert "multivariate drift (PCA reconstruction error)" in html
    assert "Since the previous window" in html and "result 4" in html
    charts = {c.get("aria-label"): c for c in svgs(html)}
    perf = charts["roc_auc: realised (green), estimated (orange)"]
    tips = "".join(t.text or "" for t in perf.iter("title"))
    assert "labelled rows" in tips and "(estimated)" in tips and "(realised)" in tips
    assert perf.find("polygon") is not None  # the estimated performance's alert band
    mv = charts["multivariate drift (PCA reconstruction error)"]
    assert mv.find("polygon") is not None and "flagged" in "".join(
        t.text or "" for t in mv.iter("title")
    )
    # x: a test (p-values) over all windows → −log10 p with the α line
    x_chart = charts["x"]
    assert any("−log10 p (ks); line p = 0.01" in (t.text or "") for t in x_chart.iter("text"))
    assert len([c for c in x_chart.iter("circle")]) == 5
    assert not EXTERNAL.search(html) and "<script" not in html and "http" not in html


def test_a_changed_method_is_plotted_relative_to_its_threshold() -> None:
    windows = [
        summary(h, [feature("x", 0.2, test="ks", p_value=0.001, drifted=True)]) for h in range(2)
    ]
    windows.append(summary(2, [feature("x", 0.05, test="wasserstein", threshold=0.1)]))
    windows.append(summary(3, [feature("x", None, status="insufficient_data")]))
    html = render_html(windows[-1], None, title="t", history=windows[:-1])
    chart = {c.get("aria-label"): c for c in svgs(html)}["x"]
    assert any("score ÷ threshold" in (t.text or "") for t in chart.iter("text"))
    tips = [t.text or "" for t in chart.iter("title")]
    # 0.001 vs α 0.01 → 1.5; 0.05 vs 0.1 → 0.5; the insufficient window is left out
    assert sum("x 1.5 (flagged)" in t for t in tips) == 2
    assert sum("x 0.5" in t for t in tips) == 1 and len(tips) == 3


def test_history_from_digests_charts_the_same() -> None:
    from opsloop.core.digest import digest

    *older, current = history(extras=True)
    full = render_html(current, None, title="t", history=older)
    thin = render_html(current, None, title="t", history=[digest(s) for s in older])
    assert full.split("<h2>Over time")[1] == thin.split("<h2>Over time")[1]
