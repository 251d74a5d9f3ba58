"""A rollout step's analysis as stored (`rollouts.analysis`) read as RolloutAnalysis."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from opsloop.core.evidence import RolloutAnalysis
from opsloop.deploy.analysis import Analysis, Check
from opsloop.store.records import Rollout


def test_an_analysis_round_trips_as_stored() -> None:
    analysis = Analysis(
        verdict="fail",
        checks=[
            Check("error_rate", "fail", 0.05, 0.02, "5 errors in 100 requests"),
            Check("p99", "pending", None, 250, "12 requests (< 100)"),
        ],
        candidate_requests=100,
        stable_requests=900,
        baked=30.5,
        bake=300,
        since="2026-05-01T00:00:00+00:00",
        reasons=["error_rate 0.05 > 0.02"],
    )
    stored = json.loads(json.dumps(analysis.to_dict()))
    model = RolloutAnalysis.parse(stored)
    assert json.dumps(model.to_json()) == json.dumps(stored)
    assert [c.name for c in model.checks if c.status == "fail"] == ["error_rate"]
    assert model.checks[1].limit == 250 and isinstance(model.checks[1].limit, int)
    assert model.bake == 300 and model.baked == 30.5


def test_a_rollout_not_analysed_yet_reads_empty() -> None:
    t = datetime(2026, 5, 1, tzinfo=UTC)
    rollout = Rollout(
        id=1,
        model="m",
        env="production",
        strategy="canary",
        status="running",
        stable_version="1",
        candidate_version="2",
        steps=[10.0, 100.0],
        step=0,
        share=10.0,
        started=t,
        step_started=t,
        finished=None,
        actor="opsloop",
        reason="new champion",
    )
    assert rollout.analysis_model.verdict is None and rollout.analysis_model.checks == []
    assert rollout.analysis_model.to_json() == {} == rollout.analysis
