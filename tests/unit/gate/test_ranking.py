"""The ranking gate on simulated recommenders: rules, coverage, slices, regression set, report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from opsloop.config import GateConfig, MetricRule, RegressionSetConfig
from opsloop.core.evidence import GateReportData
from opsloop.errors import DataValidationError
from opsloop.gate.ranking import (
    Ranked,
    UserSlice,
    evaluate_ranking_rule,
    evaluate_ranking_slices,
    run_ranking_gate,
)
from opsloop.gate.ranking_regression import (
    RegressionUsers,
    evaluate_ranking_regression,
    load_regression_users,
    overlap_counts,
)
from opsloop.gate.ranking_stats import user_mean
from opsloop.gate.report import to_html, to_markdown
from opsloop.ranking.data import PAD
from opsloop.ranking.metrics import PerUser, metric_value
from ranking_sim import World, ranker, world


def rule(metric: str, **kw: Any) -> MetricRule:
    return MetricRule(metric=metric, **kw)


def pair(
    n: int = 1500, seed: int = 0, noise_a: Any = 0.6, noise_k: Any = 1.0, **kw: Any
) -> tuple[World, PerUser, PerUser]:
    rng = np.random.default_rng(seed)
    w = world(n, rng)
    return w, ranker(w, rng, noise_a, **kw), ranker(w, rng, noise_k)


def test_user_mean_is_the_weighted_mean_over_users_with_a_value() -> None:
    fn = user_mean(np.array([1.0, np.nan, 3.0, 0.0]))
    w = np.array([[1, 1, 1, 1], [0, 5, 2, 0], [0, 3, 0, 0]], dtype=float)
    out = fn(w)
    assert out[:2].tolist() == [pytest.approx(4 / 3), 3.0]
    assert np.isnan(out[2])  # a resample of users without a value: dropped by the bootstrap


def test_a_better_ranker_passes_superiority_and_an_equal_one_does_not() -> None:
    _, a, k = pair()
    row = evaluate_ranking_rule(rule("ndcg_at_k", policy="superiority", margin=0.0), a, k)
    assert row["passed"] and row["method"] == "bootstrap" and row["unit"] == "user"
    assert row["n"] == int((a.n_relevant > 0).sum())
    assert row["challenger"] == pytest.approx(metric_value("ndcg_at_k", a))
    assert row["ci_low"] > 0 and row["p_value"] < 0.025
    _, a, k = pair(noise_a=1.0)
    row = evaluate_ranking_rule(rule("ndcg_at_k", policy="superiority", margin=0.0), a, k)
    assert not row["passed"]
    # non-inferiority with a margin lets the equal ranker through
    row = evaluate_ranking_rule(rule("map_at_k", margin=0.05), a, k)
    assert row["passed"] and row["threshold"] == -0.05


def test_popularity_bias_is_lower_is_better() -> None:
    _, a, k = pair(noise_a=1.0, popular=2.0)  # the challenger leans to popular items
    assert metric_value("popularity_bias", a) > metric_value("popularity_bias", k)
    row = evaluate_ranking_rule(rule("popularity_bias", margin=0.0), a, k)
    assert row["direction"] == "lower" and row["improvement"] < 0 and not row["passed"]
    row = evaluate_ranking_rule(rule("novelty", margin=0.0), k, a)
    assert row["improvement"] > 0 and row["passed"]  # less popular = more novel


def test_coverage_is_compared_on_the_point_value() -> None:
    _, a, k = pair(noise_a=1.0, popular=10.0)  # nearly always the same popular items
    ca, ck = metric_value("coverage", a), metric_value("coverage", k)
    assert ca is not None and ck is not None and ca < ck
    row = evaluate_ranking_rule(rule("coverage", margin=0.0, floor=0.1), a, k)
    assert row["method"] == "point" and row["ci_low"] == row["ci_high"] == ca - ck
    assert not row["passed"]
    row = evaluate_ranking_rule(rule("coverage", margin=1.0), a, k)
    assert row["passed"]


def test_without_a_champion_the_floor_decides() -> None:
    _, a, _ = pair()
    value = metric_value("ndcg_at_k", a)
    assert value is not None
    ok = evaluate_ranking_rule(rule("ndcg_at_k", floor=value - 0.01), a, None)
    low = evaluate_ranking_rule(rule("ndcg_at_k", floor=value + 0.01), a, None)
    assert ok["passed"] and not low["passed"] and low["champion"] is None
    with pytest.raises(DataValidationError, match="could not be computed"):
        evaluate_ranking_rule(rule("cold_start_ndcg_at_k"), a, None)  # no cold-start mask


def test_a_slice_where_the_challenger_collapses_is_caught_after_holm() -> None:
    n = 3000
    area = np.random.default_rng(5).choice(["a", "b", "c"], n, p=[0.45, 0.45, 0.1])
    _, a, k = pair(n, seed=5, noise_a=np.where(area == "c", 4.0, 0.6))
    overall = evaluate_ranking_rule(rule("ndcg_at_k"), a, k)
    assert overall["improvement"] > 0
    slices = [UserSlice(f"area={v}", area == v, 0.0) for v in "abc"] + [
        UserSlice("tiny", np.arange(n) < 20, 0.0)
    ]
    rows, reasons, ok = evaluate_ranking_slices(rule("ndcg_at_k"), slices, a, k)
    status = {r["slice"]: r["status"] for r in rows}
    assert status == {"area=a": "ok", "area=b": "ok", "area=c": "regressed", "tiny": "skipped"}
    assert not ok and any("slice area=c" in r for r in reasons)
    c = rows[2]
    assert c["p_holm"] >= c["p_regression"] and c["users"] == int((area == "c").sum())


def test_regression_set_catches_collapsed_lists_per_user() -> None:
    _, a, k = pair(200, noise_a=1.0)
    items = a.items.copy()
    items[:3] = PAD  # three users get nothing
    collapsed = PerUser(**{**a.__dict__, "items": items, "length": (items != PAD).sum(1)})
    spec = RegressionUsers(users=np.array([0, 1, 2, 5, 6, 7, 999]), tolerance=1.0)
    result, reason, ok = evaluate_ranking_regression(spec, collapsed, k)
    assert not ok and result["rows"] == 7 and result["absent"] == 1
    assert result["passed_rows"] == 3  # users 5, 6, 7
    failed = {f["id"]: f for f in result["failures"]}
    assert set(failed) == {"0", "1", "2", "999"} and failed["999"]["got"] == "absent"
    assert failed["0"] == {"id": "0", "expected": ">= 5 items", "got": "0 items"}
    assert reason.startswith("regression set: 3/7 users' lists held (< 100% required); NDCG@5")
    assert result["ndcg"]["regressed"] is False  # tolerance 1.0 forgives any loss
    # no champion: only empty lists fail
    result, _, ok = evaluate_ranking_regression(spec, collapsed, None)
    assert result["passed_rows"] == 3 and result["ndcg"] is None and not ok


def test_regression_set_catches_a_group_of_users_whose_ndcg_collapses() -> None:
    _, a, k = pair(400, noise_a=3.0)  # full lists, but far worse for these users
    spec = RegressionUsers(users=np.arange(400), tolerance=0.0)
    result, reason, ok = evaluate_ranking_regression(spec, a, k, resamples=500)
    assert result["passed_rows"] == 400 and not ok
    assert result["ndcg"]["regressed"] and result["ndcg"]["p_regression"] < 0.025
    assert "regressed beyond -0" in reason
    # the champion against itself does not regress
    assert evaluate_ranking_regression(spec, k, k, resamples=500)[2]


def test_regression_set_overlap_with_the_champion() -> None:
    a = np.array([[1, 2, 3, PAD], [4, 5, 6, 7], [PAD, PAD, PAD, PAD]])
    k = np.array([[3, 9, 1, 2], [7, 6, 5, 4], [1, 2, PAD, PAD]])
    assert overlap_counts(a, k).tolist() == [3, 4, 0]
    _, ra, rk = pair(300, noise_a=0.3)
    loose = evaluate_ranking_regression(
        RegressionUsers(np.arange(300), tolerance=1.0, min_overlap=0.0), ra, rk
    )
    tight = evaluate_ranking_regression(
        RegressionUsers(np.arange(300), tolerance=1.0, min_overlap=1.0), ra, rk
    )
    assert loose[2] and not tight[2]
    assert "overlap >= 100%" in tight[0]["failures"][0]["expected"]


def test_regression_users_are_read_from_the_configured_file(tmp_path: Path) -> None:
    pd.DataFrame({"user_id": [3, 1, 4]}).to_csv(tmp_path / "vip.csv", index=False)
    spec = RegressionSetConfig(path="vip.csv", tolerance=0.02, min_pass=0.9)
    users = load_regression_users(spec, tmp_path, "user_id", min_overlap=0.5)
    assert users.users.tolist() == [3, 1, 4] and users.tolerance == 0.02
    assert (users.min_pass, users.min_overlap, users.path) == (0.9, 0.5, "vip.csv")
    with pytest.raises(DataValidationError, match="lacks the user column 'user'"):
        load_regression_users(spec, tmp_path, "user")


def test_the_whole_gate_reports_like_the_tabular_gate() -> None:
    n = 2000
    rng = np.random.default_rng(9)
    cold = rng.random(n) < 0.2
    frame = pd.DataFrame({"area": rng.choice(["north", "south"], n)})
    _, a, k = pair(n, seed=9)
    gate = GateConfig.model_validate(
        {
            "metrics": [
                {"metric": "ndcg_at_k", "policy": "superiority", "margin": 0.0},
                {"metric": "coverage", "margin": 0.5},
                {"metric": "cold_start_ndcg_at_k", "margin": 0.05},
            ],
            "slices": [{"name": "area", "column": "area", "min_rows": 50}],
            "resamples": 200,
        }
    )
    report = run_ranking_gate(
        "restaurants",
        gate,
        Ranked("2", a),
        Ranked("1", k),
        cold_start=cold,
        users=frame,
        regression=RegressionUsers(np.arange(50), tolerance=1.0),
    )
    assert report.passed, report.reasons
    assert [m["metric"] for m in report.metrics] == [
        "ndcg_at_k",
        "coverage",
        "cold_start_ndcg_at_k",
    ]
    assert {s["slice"] for s in report.slices} == {
        "area=north",
        "area=south",
        "user=new",
        "user=returning",
    }
    data = GateReportData.parse(report.to_dict())
    assert data.primary.method == "bootstrap" and data.regression_set is not None
    assert data.regression_set.passed_rows == 50
    text = to_markdown(report)
    assert "Gate PASSED: restaurants version 2 vs champion version 1" in text
    assert "| cold_start_ndcg_at_k |" in text and "| user=new |" in text
    page = to_html(report)
    assert "cold_start_ndcg_at_k" in page and "user=returning" in page and "point" in page
    assert report.holdout_rows == int((a.n_relevant > 0).sum()) and not report.warnings


def test_the_gate_refuses_models_scored_on_different_users() -> None:
    _, a, _ = pair(300)
    _, _, k = pair(200)
    gate = GateConfig.model_validate({"metric": "ndcg_at_k"})
    with pytest.raises(DataValidationError, match="same users in the same order"):
        run_ranking_gate("m", gate, Ranked("2", a), Ranked("1", k))
    sliced = GateConfig.model_validate(
        {"metric": "ndcg_at_k", "slices": [{"name": "area", "column": "area"}]}
    )
    with pytest.raises(DataValidationError, match="no per-user frame"):
        run_ranking_gate("m", sliced, Ranked("2", a), None)
    with pytest.raises(DataValidationError, match="one boolean per evaluated user"):
        run_ranking_gate("m", gate, Ranked("2", a), None, cold_start=np.ones(3, bool))
    with pytest.raises(DataValidationError, match="one row per evaluated user"):
        run_ranking_gate("m", sliced, Ranked("2", a), None, users=pd.DataFrame({"area": [1]}))


def test_a_small_evaluation_is_flagged() -> None:
    _, a, _ = pair(60)
    gate = GateConfig.model_validate({"metric": "ndcg_at_k"})
    report = run_ranking_gate("m", gate, Ranked("1", a), None)
    assert report.passed and report.warnings[0].startswith("holdout too small:")
