"""The monitor's CLI text shows the estimate (with its band and row count) and the
calibration next to the labelled performance."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime

from rich.console import Console

from opsloop.cli.render import estimated_line, print_events, print_monitor
from opsloop.store.records import Event, MonitorResult

EST = {
    "method": "cbpe",
    "metric": "roc_auc",
    "value": 0.71,
    "lower": 0.78,
    "upper": 0.9,
    "degraded": True,
    "metrics": {"roc_auc": 0.71},
    "n": 640,
    "reasons": ["estimated roc_auc 0.7100 < band lower 0.7800"],
}


def result(summary: dict) -> MonitorResult:  # type: ignore[type-arg]
    now = datetime(2026, 5, 1, tzinfo=UTC)
    return MonitorResult(
        id=1,
        ts=now,
        model="m",
        version="3",
        window_start=now,
        window_end=now,
        n_rows=640,
        n_labelled=120,
        drift_detected=False,
        drift_share=0.0,
        performance_metric="roc_auc",
        performance_value=0.8,
        performance_degraded=False,
        report_path="r.html",
        summary=summary,
    )


def test_monitor_text_has_estimate_and_calibration() -> None:
    console = Console(record=True, width=200)
    print_monitor(
        console,
        result(
            {
                "estimated_performance": EST,
                "calibration": {"ece": 0.031, "brier": 0.18, "n": 120, "bins": []},
            }
        ),
    )
    text = console.export_text()
    assert "roc_auc = 0.8000 on 120 labelled rows" in text
    assert "roc_auc ≈ 0.7100 (band 0.7800–0.9000) on 640 rows, degraded" in text
    assert "ECE 0.0310, Brier 0.1800 on 120 labelled rows" in text


def test_older_results_and_missing_estimates_render() -> None:
    console = Console(record=True, width=200)
    print_monitor(console, result({}))
    assert "Estimated" not in console.export_text()
    missing = {**EST, "value": None, "degraded": False, "reasons": ["12 scored rows (< 100)"]}
    assert estimated_line(missing) == "not estimated (12 scored rows (< 100))"


LONG_FEATURE = "contract_type_of_the_enterprise_customers_in_the_north_east_region"
LONG_REPORT = "/var/lib/opsloop/projects/customer-churn/.opsloop/reports/" + (
    "churn-v12-20260501T000000Z-20260502T000000Z-with-the-history.html"
)


def test_off_a_terminal_identifiers_are_never_cut_at_80_columns() -> None:
    """A pipe or a file has no window: Rich's 80 columns must not cut a feature or slice
    name, a report path or an event's summary with an ellipsis."""
    out = io.StringIO()
    console = Console(file=out, width=80, highlight=False)
    assert not console.is_terminal
    feature = {"name": LONG_FEATURE, "test": "jensen_shannon", "statistic": 0.12345}
    summary = {"drift": {"features": [feature], "share": 0.0, "detected": False}}
    print_monitor(console, replace(result(summary), report_path=LONG_REPORT))
    now = datetime(2026, 5, 1, tzinfo=UTC)
    slice_summary = f"gate failed: slice {LONG_FEATURE}=month-to-month regressed by 0.0412"
    print_events(console, [Event(7, now, "gate_failed", "m", "12", "opsloop", slice_summary)])
    text = out.getvalue()
    assert LONG_FEATURE in text
    assert LONG_REPORT in text
    assert slice_summary in text
    assert "…" not in text


def test_on_a_terminal_tables_still_fit_the_window() -> None:
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=True, highlight=False, color_system=None)
    feature = {"name": LONG_FEATURE * 2, "test": "psi", "statistic": 0.1}
    print_monitor(console, result({"drift": {"features": [feature], "share": 0.0}}))
    assert max(len(line) for line in out.getvalue().splitlines()) <= 80
