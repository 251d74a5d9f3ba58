"""A window's result against the previous window's (summary key `previous`)."""

from __future__ import annotations

import pytest

from monitor_fixtures import feature, summary
from opsloop.monitor.previous import compare_windows


def test_newly_drifted_recovered_and_changes() -> None:
    before = summary(
        0,
        [
            feature("a", 0.05),
            feature("b", 0.30, drifted=True),
            feature("c", 0.10),
            feature("d", 0.02),
        ],
        perf=0.85,
        n_labelled=300,
    )
    now = summary(
        1,
        [
            feature("a", 0.25, drifted=True),
            feature("b", 0.04),
            feature("c", 0.12, drifted=True, test="wasserstein", threshold=0.1),
            feature("d", None, status="insufficient_data"),
        ],
        perf=0.70,
        n_labelled=120,
    )
    out = compare_windows(now, before, previous_id=7, previous_version="1").to_json()
    # c changed method (auto switched): drifted now, but its statistics are not comparable
    assert out["newly_drifted"] == ["a", "c"] and out["recovered"] == ["b"]
    by_name = {f["name"]: f for f in out["features"]}
    assert by_name["a"]["change"] == pytest.approx(0.20)
    assert by_name["b"]["change"] == pytest.approx(-0.26)
    assert by_name["c"]["change"] is None and by_name["c"]["previous_test"] == "ks"
    assert by_name["d"]["change"] is None and not by_name["d"]["drifted"]
    assert out["id"] == 7 and out["version"] == "1"
    assert out["window_end"] == before["window_end"]
    assert out["drift_share"]["previous"] == pytest.approx(0.25)
    assert out["drift_share"]["change"] == pytest.approx(2 / 3 - 0.25)
    perf = out["performance"]
    assert perf["change"] == pytest.approx(-0.15) and perf["n_labelled"] == 120
    assert perf["previous_n_labelled"] == 300 and perf["degraded"] is True
    assert "estimated_performance" not in out and "multivariate" not in out


def test_a_feature_not_judged_before_is_not_newly_drifted() -> None:
    before = summary(0, [feature("a", None, status="insufficient_data")])
    now = summary(1, [feature("a", 0.4, drifted=True), feature("new", 0.5, drifted=True)])
    out = compare_windows(now, before).to_json()
    assert out["newly_drifted"] == [] and out["recovered"] == []
    assert {f["name"]: f["previous_statistic"] for f in out["features"]} == {"a": None, "new": None}


def test_optional_keys_compared_when_both_have_them() -> None:
    before = summary(0, [feature("a", 0.1)], extras=True)
    now = summary(1, [feature("a", 0.1)], extras=True, perf=None)
    now["estimated_performance"] = {**now["estimated_performance"], "value": 0.70}
    now["multivariate"] = {**now["multivariate"], "value": 1.5}
    now["quality"] = {
        "passed": False,
        "checks": [
            *now["quality"]["checks"],
            {
                "check": "range",
                "feature": "a",
                "status": "breach",
                "value": 9.0,
                "expected": "[0, 1]",
                "detail": "",
            },
        ],
    }
    out = compare_windows(now, before).to_json()
    assert out["estimated_performance"]["change"] == pytest.approx(-0.08)
    assert out["multivariate"]["change"] == pytest.approx(0.3)
    assert out["quality"] == {
        "passed": False,
        "previously_passed": False,
        "new_breaches": ["range:a"],
    }
    assert out["performance"]["value"] is None and out["performance"]["change"] is None
    # an older previous result without the optional keys: no comparison, no error
    older = summary(0, [feature("a", 0.1)])
    assert "quality" not in compare_windows(now, older).to_json()
    assert "multivariate" not in compare_windows(now, older).to_json()
