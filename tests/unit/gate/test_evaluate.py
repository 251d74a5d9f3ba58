"""Gate policies, slices, regression set, budgets and reports on controlled models; the
stored evidence read back as typed models (opsloop.core.evidence)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from opsloop.config import parse_config
from opsloop.core.evidence import GateEvidence, GateReportData
from opsloop.data.features import FeatureSpec
from opsloop.errors import ConfigError, DataValidationError
from opsloop.gate.evaluate import GateReport, run_gate
from opsloop.gate.report import to_html, to_markdown
from opsloop.registry.base import LoadedModel
from opsloop.store._util import jsonable

BASE = {"model": "m", "target": "y", "id_column": "id", "time_column": "t"}


class ColumnScore:
    """A 'model' whose P(positive) is one column of its input: full control over scores."""

    classes_ = np.array([0, 1])

    def __init__(self, column: str, payload: int = 0) -> None:
        self.column = column
        self.payload = np.zeros(payload)  # makes the pickled artifact bigger

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        p = x[self.column].to_numpy(float)
        return np.c_[1 - p, p]

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return (x[self.column].to_numpy(float) >= 0.5).astype(int)


def model(column: str, version: str, payload: int = 0) -> LoadedModel:
    return LoadedModel(
        "m",
        version,
        ColumnScore(column, payload),
        [FeatureSpec(column, "numeric", "float64", False)],
        "binary_classification",
    )


def frame(
    n: int = 3000, *, lift: float = 0.0, slice_penalty: float = 0.0, seed: int = 0
) -> pd.DataFrame:
    """Scores of a champion (`sk`) and a challenger (`sa`) with segment a/b/c; the challenger
    is `lift` better overall and `slice_penalty` worse on segment c."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    segment = rng.choice(["a", "b", "c"], n, p=[0.4, 0.4, 0.2])
    shared = rng.normal(0, 1, n)
    strength_a = 1.2 + lift - np.where(segment == "c", slice_penalty, 0.0)
    sa = y * strength_a + shared + rng.normal(0, 0.8, n)
    sk = y * 1.2 + shared + rng.normal(0, 0.8, n)
    return pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(n)],
            "y": y,
            "segment": segment,
            "sa": 1 / (1 + np.exp(-sa + 0.5)),
            "sk": 1 / (1 + np.exp(-sk + 0.5)),
            "amount": rng.uniform(0, 100, n),
        }
    )


def gate(
    data: pd.DataFrame,
    gate_cfg: dict[str, Any],
    *,
    champion: bool = True,
    root: Path = Path("."),
    challenger: LoadedModel | None = None,
    champion_model: LoadedModel | None = None,
) -> GateReport:
    cfg = parse_config({**BASE, "gate": gate_cfg})
    return run_gate(
        cfg,
        holdout=data,
        challenger=challenger or model("sa", "2"),
        champion=(champion_model or model("sk", "1")) if champion else None,
        root=root,
    )


def test_equal_models_pass_non_inferiority_and_fail_superiority() -> None:
    data = frame().assign(sa=lambda d: d["sk"])
    ni = gate(data, {"metric": "roc_auc", "policy": "non_inferiority", "margin": 0.01})
    assert ni.passed and ni.primary["ci_low"] == ni.primary["ci_high"] == 0
    sup = gate(data, {"metric": "roc_auc", "policy": "superiority", "margin": 0.0})
    assert not sup.passed and "lower bound <= +0.0000" in sup.reasons[0]


def test_superiority_needs_the_whole_ci_above_delta() -> None:
    better = frame(lift=0.6)
    report = gate(better, {"metric": "roc_auc", "policy": "superiority", "margin": 0.01})
    row = report.primary
    assert report.passed and row["method"] == "delong" and row["ci_low"] > 0.01
    too_much = gate(
        better, {"metric": "roc_auc", "policy": "superiority", "margin": row["ci_low"] + 0.001}
    )
    assert not too_much.passed


def test_non_inferiority_rejects_a_clearly_worse_challenger() -> None:
    worse = frame(lift=-0.6)
    report = gate(worse, {"metric": "roc_auc", "margin": 0.01})
    assert not report.passed and report.primary["ci_high"] < 0


def test_floor_alone_judges_the_first_model() -> None:
    data = frame()
    assert gate(data, {"floor": 0.6}, champion=False).passed
    first = gate(data, {"floor": 0.99}, champion=False)
    assert not first.passed and "misses the floor (>= 0.99)" in first.reasons[0]
    assert first.primary["champion"] is None and first.budgets["champion"] is None
    two = gate(
        data,
        {
            "metrics": [{"metric": "roc_auc"}, {"metric": "f1"}],
            "slices": [{"name": "segment", "column": "segment"}],
        },
        champion=False,
    )
    assert two.reasons == [
        "no champion yet: judged on the floor alone",
        "slices: 3 reported, none tested (no champion yet)",
    ]
    assert [s["status"] for s in two.slices] == ["ok", "ok", "ok"]


def test_every_metric_rule_must_pass_and_each_uses_its_test() -> None:
    data = frame(lift=0.6)
    report = gate(
        data,
        {
            "metrics": [
                {"metric": "roc_auc", "policy": "superiority"},
                {"metric": "accuracy", "margin": 0.0},
                {"metric": "log_loss", "policy": "non_inferiority", "margin": 0.0},
                {"metric": "f1", "floor": 0.999},
            ],
            "resamples": 300,
        },
    )
    methods = {r["metric"]: r["method"] for r in report.metrics}
    assert methods == {
        "roc_auc": "delong",
        "accuracy": "mcnemar",
        "log_loss": "bootstrap",
        "f1": "bootstrap",
    }
    ll = next(r for r in report.metrics if r["metric"] == "log_loss")
    assert ll["direction"] == "lower" and ll["challenger"] < ll["champion"]
    assert ll["improvement"] > 0 and ll["passed"]  # lower log loss is an improvement
    assert [r["passed"] for r in report.metrics] == [True, True, True, False]
    assert not report.passed


def test_a_slice_regression_fails_a_challenger_that_is_better_overall() -> None:
    data = frame(n=6000, lift=0.4, slice_penalty=1.4)
    report = gate(
        data,
        {
            "metric": "roc_auc",
            "slices": [{"name": "segment", "column": "segment", "min_rows": 100}],
        },
    )
    assert report.primary["passed"]  # better overall ...
    status = {s["slice"]: s["status"] for s in report.slices}
    assert status == {"segment=a": "ok", "segment=b": "ok", "segment=c": "regressed"}
    assert not report.passed  # ... but worse on one slice
    c = next(s for s in report.slices if s["slice"] == "segment=c")
    assert c["p_holm"] >= c["p_regression"] and c["ci_high"] < 0
    assert any("slice segment=c" in r and "Holm" in r for r in report.reasons)


def test_slices_by_query_small_slices_and_no_regression() -> None:
    data = frame(n=3000, lift=0.3)
    report = gate(
        data,
        {
            "metric": "roc_auc",
            "slices": [
                {"name": "big_spenders", "query": "amount > 50", "min_rows": 100},
                {"name": "tiny", "query": "amount < 1", "min_rows": 100},
            ],
        },
    )
    assert report.passed
    rows = {s["slice"]: s for s in report.slices}
    assert rows["big_spenders"]["status"] == "ok" and rows["big_spenders"]["rows"] > 1000
    assert rows["tiny"]["status"] == "skipped" and "< min_rows" in rows["tiny"]["note"]
    assert any("no slice regressed (1 tested" in r for r in report.reasons)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"name": "s", "query": "amount > 1000"}, "matched no holdout rows"),
        ({"name": "s", "query": "amount >>> 3"}, "the query 'amount >>> 3' failed"),
        ({"name": "s", "query": "no_such_column = 1"}, "failed"),
        ({"name": "s", "column": "plan"}, "column 'plan' is not in the data"),
    ],
)
def test_bad_slices_are_clear_config_errors(spec: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError, match=r"gate\.slices 's'") as info:
        gate(frame(n=500), {"slices": [spec]})
    assert fragment in str(info.value)


def test_regression_set(tmp_path: Path) -> None:
    golden = pd.DataFrame({"id": ["g1", "g2", "g3"], "sa": [0.9, 0.2, 0.7], "expected": [1, 0, 1]})
    golden.to_csv(tmp_path / "golden.csv", index=False)
    spec = {"path": "golden.csv", "expected": "expected"}
    ok = gate(frame(n=500), {"regression_set": spec}, root=tmp_path)
    assert ok.regression_set is not None and ok.regression_set["passed"]
    golden.assign(expected=[1, 1, 0]).to_csv(tmp_path / "golden.csv", index=False)
    bad = gate(frame(n=500), {"regression_set": spec}, root=tmp_path)
    assert not bad.passed and bad.regression_set is not None
    assert [f["id"] for f in bad.regression_set["failures"]] == ["g2", "g3"]
    lenient = gate(frame(n=500), {"regression_set": {**spec, "min_pass": 0.3}}, root=tmp_path)
    assert lenient.regression_set is not None and lenient.regression_set["passed"]
    with pytest.raises(ConfigError, match="does not exist"):
        gate(frame(n=500), {"regression_set": {"path": "nope.csv"}}, root=tmp_path)
    with pytest.raises(DataValidationError, match=r"lacks the column\(s\) \['y'\]"):
        gate(frame(n=500), {"regression_set": {"path": "golden.csv"}}, root=tmp_path)


def test_budgets_on_size_and_latency() -> None:
    data = frame(n=500).assign(sa=lambda d: d["sk"])  # equal quality: only budgets matter
    heavy = model("sa", "2", payload=500_000)  # ~4 MB
    report = gate(data, {"budgets": {"max_size_ratio": 2.0, "max_size_mb": 100}}, challenger=heavy)
    checks = {c["budget"]: c["passed"] for c in report.budgets["checks"]}
    assert checks == {"size MB": True, "size vs champion": False} and not report.passed
    assert report.budgets["challenger"]["size_mb"] > 3
    assert report.budgets["challenger"]["p99_ms"] is None  # no latency limit: not timed
    assert "not timed" in to_markdown(report)
    slow = gate(data, {"budgets": {"max_latency_p99_ms": 1e-6}})
    assert not slow.passed and "budget latency p99 ms" in slow.reasons[-1]
    fine = gate(data, {"budgets": {"max_latency_p99_ratio": 1000, "batch_rows": 20}})
    assert fine.passed and fine.budgets["challenger"]["rows"] == 20


def test_reports_render_every_part() -> None:
    report = gate(
        frame(n=6000, lift=0.4, slice_penalty=1.4),
        {"slices": [{"name": "segment", "column": "segment"}]},
    )
    md, html = to_markdown(report), to_html(report)
    for label in ("segment=a", "segment=b", "segment=c", "regressed", "delong", "Gate FAILED"):
        assert label in md and label in html
    assert "<script" not in html and "http" not in html  # self-contained
    again = GateReport.from_dict(report.to_dict())
    assert to_markdown(again) == md


# Evidence as an older opsloop stored it: one metric, no slices, regression set or budgets
# in the report, an integer margin, and no artifacts.
OLD = """{"report": {"model": "churn", "version": "3", "champion_version": "2",
"passed": true, "reasons": ["non_inferiority: roc_auc 0.8000 vs 0.7900"],
"holdout_rows": 1200, "confidence": 0.95, "metrics": [{"metric": "roc_auc",
"policy": "non_inferiority", "margin": 0, "floor": null, "challenger": 0.8,
"champion": 0.79, "improvement": 0.01, "ci_low": -0.002, "ci_high": 0.022,
"method": "delong", "p_value": 0.01, "passed": true, "reasons": []}],
"window": "2026-01-01T00:00:00+00:00/2026-02-01T00:00:00+00:00",
"created": "2026-02-01T03:00:00+00:00"}}"""


def test_an_older_gate_evidence_loads_and_round_trips() -> None:
    data = json.loads(OLD)
    evidence = GateEvidence.parse(data)
    assert json.dumps(evidence.to_json()) == json.dumps(data)
    assert evidence.artifacts == {} and evidence.report is not None
    report = evidence.report
    assert report.primary.method == "delong" and report.primary.margin == 0
    assert isinstance(report.primary.margin, int)
    assert report.slices == [] and report.regressed_slices == []
    assert report.regression_set is None and report.budgets is None
    assert GateReportData().primary.method is None  # a report without metrics


def test_a_gate_report_with_every_part_round_trips_as_stored(tmp_path: Path) -> None:
    golden = pd.DataFrame({"id": ["g1", "g2"], "sa": [0.9, 0.2], "expected": [1, 1]})
    golden.to_csv(tmp_path / "golden.csv", index=False)
    cfg = parse_config(
        {
            **BASE,
            "gate": {
                "slices": [{"name": "segment", "column": "segment"}],
                "regression_set": {"path": "golden.csv", "expected": "expected"},
                "budgets": {"max_size_mb": 100},
            },
        }
    )
    report = run_gate(
        cfg,
        holdout=frame(n=3000, lift=0.4, slice_penalty=1.4),
        challenger=model("sa", "2"),
        champion=model("sk", "1"),
        root=tmp_path,
    )
    stored = jsonable({"report": report.to_dict(), "artifacts": {"gate_report.html": "a:/r"}})
    evidence = GateEvidence.parse(stored)
    assert json.dumps(evidence.to_json()) == json.dumps(stored)
    data = evidence.report
    assert data is not None and data.primary.ci_low == report.primary["ci_low"]
    assert data.regressed_slices == ["segment=c"]
    assert data.regression_set is not None and [f.id for f in data.regression_set.failures] == [
        "g2"
    ]
    assert data.budgets is not None and data.budgets.challenger is not None
    assert [c.budget for c in data.budgets.checks] == ["size MB"]
    assert data.slices[0].rows == 1181 and isinstance(data.slices[0].rows, int)


def test_the_report_shows_the_holdouts_own_time_span_not_the_training_window() -> None:
    data = frame(n=600).assign(
        t=pd.date_range("2026-01-25", periods=600, freq="min", tz="UTC")[::-1]
    )
    window = "2026-01-01T00:00:00+00:00/2026-02-01T00:00:00+00:00"
    cfg = parse_config(BASE)
    report = run_gate(
        cfg,
        holdout=data,
        challenger=model("sa", "2"),
        champion=model("sk", "1"),
        root=Path("."),
        window=window,
    )
    assert report.holdout_start == "2026-01-25T00:00:00+00:00"
    assert report.holdout_end == "2026-01-25T09:59:00+00:00"
    assert report.window == window  # the training window, kept as such
    span = (
        "Holdout: 600 rows, event time 2026-01-25T00:00:00+00:00 to 2026-01-25T09:59:00+00:00 "
        f"(the latest part of training window {window})"
    )
    assert span in to_markdown(report) and span in to_html(report)
    stored = GateReportData.model_validate(jsonable(report.to_dict()))
    assert (stored.holdout_start, stored.holdout_end) == (report.holdout_start, report.holdout_end)
    # a report stored before the span was recorded still renders, with the window alone
    old = GateReport.from_dict({**report.to_dict(), "holdout_start": None, "holdout_end": None})
    assert f"Holdout: 600 rows (the latest part of training window {window})" in to_markdown(old)


def test_a_holdout_without_its_time_column_has_no_span() -> None:
    report = gate(frame(n=600), {})
    assert report.holdout_start is None and report.holdout_end is None
    assert "Holdout: 600 rows;" in to_markdown(report)
