"""The gate report as Markdown and as a self-contained HTML page (no scripts, no CDN).

The JSON (`GateReport.to_dict`) is the record; these are renderings of it, stored next to
it as MLflow artifacts of the challenger and printed by `opsloop gate NAME VERSION`. The
HTML page is the template `gate/report.html` of `opsloop.templates`.
"""

from __future__ import annotations

from typing import Any

from opsloop.core.evidence import GateMetric, GateReportData, GateSlice
from opsloop.gate.evaluate import GateReport


def _num(value: Any, signed: bool = False) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:+.4f}" if signed else f"{value:.4f}"
    return str(value)


def _p(value: Any) -> str:
    return "–" if value is None else f"{value:.3g}"


def _ms(value: float | None) -> str:
    return "not timed" if value is None else f"{value:.2f}"


def _ci(row: GateMetric | GateSlice) -> str:
    if row.ci_low is None:
        return "–"
    return f"[{row.ci_low:+.4f}, {row.ci_high:+.4f}]"


def _tables(report: GateReport) -> list[tuple[str, list[str], list[list[str]]]]:
    data = GateReportData.parse(report.to_dict())
    pct = f"{report.confidence * 100:g}%"
    metrics = [
        [
            str(r.metric),
            str(r.policy),
            f"{r.margin:g}",
            _num(r.floor),
            _num(r.challenger),
            _num(r.champion),
            _num(r.improvement, True),
            _ci(r),
            r.method or "–",
            _p(r.p_value),
            "pass" if r.passed else "FAIL",
        ]
        for r in data.metrics
    ]
    out = [
        (
            "Metrics",
            [
                "metric",
                "policy",
                "δ",
                "floor",
                "challenger",
                "champion",
                "improvement",
                f"{pct} CI",
                "test",
                "p",
                "verdict",
            ],
            metrics,
        )
    ]
    if data.slices:
        out.append(
            (
                "Slices",
                [
                    "slice",
                    "rows",
                    "challenger",
                    "champion",
                    "improvement",
                    f"{pct} CI",
                    "p (regressed)",
                    "p (Holm)",
                    "status",
                ],
                [
                    [
                        str(s.slice),
                        str(s.rows),
                        _num(s.challenger),
                        _num(s.champion),
                        _num(s.improvement, True),
                        _ci(s),
                        _p(s.p_regression),
                        _p(s.p_holm),
                        str(s.status) + (f" ({s.note})" if s.note else ""),
                    ]
                    for s in data.slices
                ],
            )
        )
    rs = data.regression_set
    if rs is not None and rs.to_json():
        rows = [[str(f.id), str(f.expected), str(f.got)] for f in rs.failures]
        out.append(
            (
                f"Regression set ({rs.passed_rows}/{rs.rows} as expected)",
                ["id", "expected", "got"],
                rows,
            )
        )
    b = data.budgets
    if b is not None and b.to_json():
        rows = []
        for who, m in (("challenger", b.challenger), ("champion", b.champion)):
            if m is not None and m.to_json():
                rows.append([who, _ms(m.p50_ms), _ms(m.p99_ms), f"{m.size_mb:.3f}"])
        out.append(
            ("Operational budget", ["model", "latency p50 ms", "latency p99 ms", "size MB"], rows)
        )
    return out


def _title(report: GateReport) -> str:
    verdict = "PASSED" if report.passed else "FAILED"
    against = (
        f"vs champion version {report.champion_version}"
        if report.champion_version
        else "(no champion yet)"
    )
    return f"Gate {verdict}: {report.model} version {report.version} {against}"


def holdout_text(report: GateReport) -> str:
    """The holdout's rows and event-time span, then the training window it was split from
    (a report stored before the span was recorded shows the window alone)."""
    text = f"{report.holdout_rows} rows"
    if report.holdout_start and report.holdout_end:
        text += f", event time {report.holdout_start} to {report.holdout_end}"
    if report.window:
        text += f" (the latest part of training window {report.window})"
    return text


def to_markdown(report: GateReport) -> str:
    lines = [
        f"# {_title(report)}",
        "",
        f"Holdout: {holdout_text(report)}; confidence {report.confidence:g}; "
        f"created {report.created}.",
        "",
    ]
    if report.warnings:
        lines += ["## Warnings", "", *(f"- {w}" for w in report.warnings), ""]
    lines += ["## Reasons", ""]
    lines += [f"- {r}" for r in report.reasons]
    for title, header, rows in _tables(report):
        lines += [
            "",
            f"## {title}",
            "",
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
        ]
        lines += [
            "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows
        ]
    return "\n".join(lines) + "\n"


def to_html(report: GateReport) -> str:
    """The page from the template `gate/report.html` of `opsloop.templates`."""
    from opsloop.templates import render

    return render(
        "gate/report.html",
        report=report,
        title=_title(report),
        holdout=holdout_text(report),
        tables=_tables(report),
    )
