"""The monitor's CLI text shows the estimate (with its band and row count) and the
calibration next to the labelled performance."""

from __future__ import annotations

import io
import re
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


def test_a_skipped_training_says_so_and_names_the_champion() -> None:
    from types import SimpleNamespace

    from opsloop.cli.render import print_train
    from opsloop.orchestrate.loop import TrainOutcome

    o = TrainOutcome(
        run_id=4,
        version="3",
        metrics={},
        gate_passed=False,
        gate_reasons=["data, code and configuration equal champion version 3's: nothing"],
        approval="none",
        promoted=False,
        champion_version="3",
        skipped=True,
    )
    console = Console(record=True, width=200)
    print_train(console, SimpleNamespace(name="m"), o)  # type: ignore[arg-type]
    text = console.export_text()
    assert "Skipped: nothing registered for m; version 3 stays champion." in text
    assert "equal champion version 3's" in text and "registered (" not in text
    assert o.to_dict()["skipped"] is True


NOT_JUDGED_DRIFT = {
    "drift": {
        "features": [
            {"name": "x", "test": "ks", "drifted": False, "status": "insufficient_data", "n": 12},
            {"name": "c", "test": "chi2", "drifted": False, "status": "insufficient_data"},
        ],
        "share": 0.0,
        "detected": False,
        "tested": 0,
    }
}


def test_a_window_too_small_to_judge_is_not_judged_not_no_drift() -> None:
    console = Console(record=True, width=200)
    print_monitor(console, result(NOT_JUDGED_DRIFT))
    text = console.export_text()
    assert "Drift not judged (too few rows): no feature had enough rows" in text
    assert "no drift" not in text
    assert text.count("not judged (too few rows)") == 3  # the window, then each feature


def test_a_feature_too_sparse_to_judge_is_not_judged_alone() -> None:
    drift = NOT_JUDGED_DRIFT["drift"]
    judged = {"name": "c", "test": "chi2", "drifted": False, "status": "ok", "p_value": 0.4}
    summary = {"drift": {**drift, "features": [drift["features"][0], judged], "tested": 1}}
    console = Console(record=True, width=200)
    print_monitor(console, result(summary))
    text = console.export_text()
    assert "no drift: 0% of features drifted" in text
    assert text.count("not judged (too few rows)") == 1


def test_status_and_history_say_not_judged_for_a_window_without_rows(tmp_path) -> None:
    from opsloop.cli.render import print_monitor_history, print_status
    from opsloop.engines.memory import MemoryEngine
    from opsloop.project import Project
    from opsloop.registry.memory import MemoryRegistry
    from opsloop.store import OpsStore
    from tinyproject import write_tiny_project

    p = Project(
        write_tiny_project(tmp_path / "p"),
        registry=MemoryRegistry(),
        store=OpsStore("sqlite://"),
        engine=MemoryEngine(),
    )
    p.train()
    r = p.monitor()  # nothing served yet: no rows in the window
    assert r.n_rows == 0 and not r.drift_detected and not r.summary_model.drift_judged
    status = p.status_view()
    assert status.last_monitor is not None and status.last_monitor.drift_judged is False
    assert p.status()["last_monitor"]["drift_judged"] is False
    console = Console(record=True, width=200)
    print_status(console, status)
    text = console.export_text()
    assert "drift not judged (too few rows) (multivariate" in text and "no drift" not in text
    history = p.monitoring_view()
    assert [w.drift_judged for w in history.windows] == [False]
    console = Console(record=True, width=200)
    print_monitor_history(console, history)
    assert "not judged" in console.export_text()


def test_monitor_shows_each_features_verdict_and_effect_against_its_floor() -> None:
    def feat(name: str, status: str, **more: object) -> dict:  # type: ignore[type-arg]
        return {"name": name, "test": "ks", "statistic": 0.0104, "status": status, **more}

    features = [
        feat("dow", "immaterial", effect="wasserstein", effect_size=0.0123, floor=0.1),
        feat("age", "drifted", drifted=True, effect="wasserstein", effect_size=0.31, floor=0.1),
        feat("plan", "ok", effect="jensenshannon", effect_size=0.004, floor=0.1),
        feat("tiny", "insufficient_data"),
        feat("old", "drifted", drifted=True),  # stored before materiality
    ]
    score = feat("score", "immaterial", effect="wasserstein", effect_size=0.02, floor=0.1)
    drift = {"features": features, "share": 0.5, "detected": True, "prediction": score}
    console = Console(record=True, width=200)
    print_monitor(console, replace(result({"drift": drift}), drift_detected=True, drift_share=0.4))
    text = console.export_text()
    assert "DRIFT: 40% of features drifted []; detectable but immaterial: ['dow']" in text
    names = {f["name"] for f in features}
    rows = [
        re.split(r"\s{2,}", line.strip())
        for line in text.splitlines()
        if line.split()[:1] and line.split()[0] in names
    ]
    assert [r[0] for r in rows] == ["age", "old", "dow", "plan", "tiny"]  # drift first
    assert [r[4:] for r in rows] == [
        ["wasserstein 0.3100 ≥ 0.1", "drift"],
        ["—", "drift"],  # stored before materiality: no effect size, verdict from its status
        ["wasserstein 0.0123 < 0.1", "immaterial"],
        ["jensenshannon 0.0040 < 0.1", "no drift"],
        ["—", "not judged (too few rows)"],
    ]
    assert (
        "Prediction (score) drift: immaterial (ks 0.0104, p-value —; "
        "effect wasserstein 0.0200 < 0.1)." in text
    )
