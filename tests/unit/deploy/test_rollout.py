"""The rollout controller on in-memory backends: canary steps advance on passing analysis
and end in promotion; each analysis check rolls back on its own breach with the evidence in
the event; shadow; manual promote/abort/rollback/reject; training and the agent."""

from __future__ import annotations

import itertools
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from opsloop import latency
from opsloop.errors import InvalidInputError, StateError
from opsloop.project import Project
from opsloop.store.records import Rollout, ServeStat, utcnow

SEEDS = itertools.count(2026)

CANARY = """
deploy:
  strategy: canary
  steps: [10, 50, 100]
  bake: 0s
  analysis: {min_requests: 50, max_error_rate: 0.02, max_p99_ratio: 2.0,
             max_divergence: 0.2, performance_margin: 0.05, min_labels: 50}
"""


@pytest.fixture
def project(tmp_path) -> Project:
    from opsloop.engines.memory import MemoryEngine
    from opsloop.registry.memory import MemoryRegistry
    from opsloop.store import OpsStore
    from tinyproject import write_tiny_project

    root = write_tiny_project(tmp_path / "canary", extra_yaml=CANARY)
    p = Project(
        root,
        registry=MemoryRegistry(),
        store=OpsStore("sqlite://"),
        engine=MemoryEngine(),
        actor="alice",
    )
    assert p.train().promoted  # v1: the first deployment is always direct
    return p


def register_v2(p: Project) -> str:
    """A second version registered while v1 stays deployed: training starts a canary of
    it (gate passed, auto approval), which is aborted at once."""
    outcome = p.train(force=True)
    assert outcome.rollout is not None
    p.abort_rollout(reason="test set-up")
    return outcome.version


def serve(
    p: Project,
    version: str,
    route: str,
    n: int,
    *,
    errors: int = 0,
    seconds: float = 0.002,
    shift: float = 0.0,
    labels: bool = False,
    flip: bool = False,
) -> None:
    """What a server replica records for n answered requests: statistics in the store and
    rows in the prediction log (scores from a Beta distribution, optionally shifted)."""
    hist = latency.empty()
    hist[latency.bucket(seconds)] = n
    p.store.add_serve_stats(
        p.name, "production", "test:1", [ServeStat(version, route, n, errors, hist)]
    )
    rng = np.random.default_rng(next(SEEDS))  # independent, reproducible samples
    score = np.clip(rng.beta(2, 2, n) + shift, 0, 1)
    ids = [f"{route}-{version}-{i}-{rng.integers(1e9)}" for i in range(n)]
    now = pd.Timestamp(utcnow())
    frame = pd.DataFrame(
        {
            "prediction_id": ids,
            "request_id": ids,
            "ts": now,
            "model_version": version,
            "route": route,
            "prediction": (score >= 0.5).astype(int),
            "score": score,
            "x1": 0.0,
            "x2": 0.0,
            "color": "red",
        }
    )
    engine = p.engine
    engine.add_predictions(frame)  # type: ignore[attr-defined]
    if labels:
        truth = (score >= 0.5).astype(int)
        if flip:
            truth = 1 - truth
        engine.add_labels(
            pd.DataFrame(
                {  # type: ignore[attr-defined]
                    "prediction_id": ids,
                    "label": truth,
                    "label_ts": now,
                }
            )
        )


def healthy_step(p: Project, r: Rollout, n: int = 60) -> None:
    serve(p, r.candidate_version, "candidate" if r.strategy == "canary" else "shadow", n)
    serve(p, r.stable_version, "stable", n)


def test_canary_advances_step_by_step_then_promotes(project: Project) -> None:
    p = project
    v2 = register_v2(p)
    r = p.deploy(v2)
    assert isinstance(r, Rollout) and (r.strategy, r.share, r.stable_version) == ("canary", 10, "1")
    assert p.registry.find_alias("tiny", "challenger").version == v2  # type: ignore[union-attr]
    waiting = p.advance_rollout()
    assert waiting is not None and waiting.action == "waiting"
    assert {c.name: c.status for c in waiting.analysis.checks}["error_rate"] == "pending"
    shares = []
    for _ in range(3):
        healthy_step(p, p.store.find_running_rollout("tiny"))  # type: ignore[arg-type]
        step = p.advance_rollout()
        assert step is not None, "a running rollout is always analysed"
        assert step.analysis.verdict == "pass", step.analysis.to_dict()
        shares.append(step.rollout.share)
    assert shares == [50, 100, 100] and step.action == "promoted"
    deployment = p.store.find_deployment("tiny")
    assert deployment is not None and deployment.version == v2
    assert p.registry.find_alias("tiny", "champion").version == v2  # type: ignore[union-attr]
    assert p.registry.find_alias("tiny", "challenger") is None
    events = [e for e in p.events() if e.kind in ("rollout_advanced", "promoted")][-3:]
    assert [e.kind for e in events] == ["rollout_advanced", "rollout_advanced", "promoted"]
    checks = {c["name"]: c for c in events[-1].evidence["analysis"]["checks"]}
    assert checks["error_rate"]["status"] == "pass" and checks["divergence"]["status"] == "pass"
    assert p.advance_rollout() is None  # nothing running any more


@pytest.mark.parametrize(
    ("breach", "check"),
    [
        ({"errors": 10}, "error_rate"),
        ({"seconds": 0.05}, "p99_ratio"),
        ({"shift": 0.45}, "divergence"),
        ({"labels": True, "flip": True}, "performance"),
    ],
)
def test_each_check_rolls_back_on_its_own(
    project: Project, breach: dict[str, object], check: str
) -> None:
    p = project
    v2 = register_v2(p)
    p.deploy(v2)
    serve(p, "1", "stable", 250, labels="labels" in breach)  # 200 needed for a p99
    serve(p, v2, "candidate", 250, **breach)  # type: ignore[arg-type]
    step = p.advance_rollout()
    assert step is not None and step.action == "rolled_back"
    failed = [c.name for c in step.analysis.checks if c.status == "fail"]
    assert failed == [check]
    deployment, running = p.store.find_routing("tiny")
    assert running is None and deployment is not None and deployment.version == "1"
    event = p.events()[-1]
    assert event.kind == "rolled_back" and event.actor == "opsloop (rollout)"
    assert event.evidence["automatic"] is True and event.evidence["from_version"] == v2
    assert check in event.summary
    assert p.rollout_status()["status"] == "rolled_back"  # type: ignore[index]


def test_shadow_promotes_after_one_passing_bake(project: Project) -> None:
    p = project
    v2 = register_v2(p)
    r = p.deploy(v2, strategy="shadow")
    assert isinstance(r, Rollout) and r.steps == [100] and r.share == 100
    healthy_step(p, r)
    step = p.advance_rollout()
    assert step is not None and step.action == "promoted"
    assert p.store.find_deployment("tiny").version == v2  # type: ignore[union-attr]


def test_bake_time_holds_a_healthy_step(project: Project) -> None:
    p = project
    v2 = register_v2(p)
    r = p.deploy(v2, bake=timedelta(minutes=5))
    healthy_step(p, r)  # type: ignore[arg-type]
    step = p.advance_rollout()
    assert step is not None and step.action == "waiting" and "baking" in step.analysis.reasons[0]
    later = p.runtime.now() + timedelta(minutes=6)
    from opsloop.deploy import advance

    moved = advance(p.runtime, later)
    assert moved is not None and moved.action == "advanced"


def test_manual_controls(project: Project) -> None:
    p = project
    v2 = register_v2(p)
    p.deploy(v2, steps=(25, 100))
    with pytest.raises(StateError, match="already rolling out"):
        p.deploy(v2)
    with pytest.raises(StateError, match="rollout promote"):
        p.deploy("1", strategy="canary")
    done = p.promote_rollout(reason="looks fine")
    assert done.status == "promoted" and p.store.find_deployment("tiny").version == v2  # type: ignore[union-attr]
    with pytest.raises(StateError, match="no rollout"):
        p.abort_rollout()

    p.deploy("1", strategy="canary")  # v1 is the candidate now
    aborted = p.abort_rollout(reason="not today")
    assert aborted.status == "aborted" and p.events()[-1].kind == "rollout_aborted"
    assert p.store.find_deployment("tiny").version == v2  # type: ignore[union-attr]

    p.deploy("1", strategy="shadow")
    dep = p.rollback(reason="stop it")  # rollback during a rollout ends the rollout
    assert dep.version == v2 and p.store.find_rollout("tiny").status == "rolled_back"  # type: ignore[union-attr]

    p.deploy("1", strategy="canary")
    p.reject("1", comment="bad")
    assert p.store.find_rollout("tiny").status == "rolled_back"  # type: ignore[union-attr]
    assert p.store.find_approval("tiny", "1").status == "rejected"  # type: ignore[union-attr]

    # forced over that rejection, the rollout runs; a rejection recorded during it whose
    # abort never ran (crash point `reject.after_record`) rolls it back at the next step
    from opsloop.deploy.approvals import record_approval

    p.deploy("1", strategy="canary", force=True)
    assert p.advance_rollout().action == "waiting"  # type: ignore[union-attr]
    before = p.store.find_approval("tiny", "1")
    record_approval(p.runtime, "1", "rejected", actor="bob", decided_on=before)
    step = p.advance_rollout()
    assert step is not None and step.action == "rolled_back", step
    assert p.store.find_deployment("tiny").version == v2  # type: ignore[union-attr]


def test_direct_promotion_ends_a_rollout(project: Project) -> None:
    p = project
    v2 = register_v2(p)
    p.deploy(v2)
    dep = p.promote(v2, reason="ship it")
    assert dep.version == v2 and p.store.find_rollout("tiny").status == "promoted"  # type: ignore[union-attr]
    p.deploy("1", strategy="canary")
    dep = p.promote("1", reason="direct")
    assert dep.version == "1" and p.store.find_rollout("tiny").status == "promoted"  # type: ignore[union-attr]


def test_bad_deploy_requests(project: Project) -> None:
    p = project
    with pytest.raises(InvalidInputError, match="strategy"):
        p.deploy("1", strategy="yolo")
    v2 = register_v2(p)
    with pytest.raises(InvalidInputError, match="ending at 100"):
        p.deploy(v2, steps=(50, 20))
    with pytest.raises(StateError, match="already deployed"):
        p.deploy("1", strategy="canary")
    assert p.store.find_running_rollout("tiny") is None  # nothing was written


def test_training_and_agent_drive_a_rollout(project: Project) -> None:
    p = project
    outcome = p.train(force=True)  # gate passes, auto approval: a canary, not a switch
    assert outcome.approval == "approved" and not outcome.promoted
    assert outcome.rollout is not None
    healthy_step(p, p.store.find_running_rollout("tiny"))  # type: ignore[arg-type]
    tick = p.tick()
    assert tick.rollout is not None and tick.rollout.action == "advanced"
    assert any("rollout" in note for note in tick.notes)
    # a newer approved version supersedes the running rollout
    again = p.train(force=True)
    assert again.rollout is not None and again.rollout != outcome.rollout
    kinds = [e.kind for e in p.events()]
    assert "rollout_aborted" in kinds
    assert p.status()["rollout"]["candidate_version"] == again.version
