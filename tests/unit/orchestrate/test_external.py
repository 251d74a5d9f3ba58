"""The agent's tick split for an external orchestrator: fire without training, then train
once per trigger."""

from __future__ import annotations

import pytest

from opsloop.errors import InvalidInputError
from opsloop.orchestrate.external import check_triggers, train_for_trigger, verdict
from opsloop.project import Project
from tinyproject import add_training_data, tiny_frame
from unit.orchestrate.test_agent import serve_traffic


def test_no_breach_no_verdict(memory_project: Project) -> None:
    p = memory_project
    p.train()
    serve_traffic(p, tiny_frame(600, seed=11, prefix="ok", days=0.01), "1")
    result = check_triggers(p.runtime)
    assert result.monitored is not None and result.monitored.n_rows == 600
    assert result.fired == [] and verdict(p.runtime, result) is None


def test_drift_fires_without_training_then_trains_once(memory_project: Project) -> None:
    p = memory_project
    p.train()
    serve_traffic(p, tiny_frame(800, drift=1.0, seed=5, prefix="prod", days=0.01), "1")
    result = check_triggers(p.runtime)
    assert result.trained is None and "training left to the orchestrator" in result.notes
    assert {f.trigger for f in result.fired} == {"drift", "performance"}
    found = verdict(p.runtime, result)
    assert found is not None and result.monitored is not None
    first = result.fired[0]
    assert found["trigger"] == f"{first.trigger}:{first.key}"
    assert found["monitor_result"] == result.monitored.id
    assert found["drift_share"] == result.monitored.drift_share >= 0.3
    assert "x1" in found["drifted_features"] and found["performance_degraded"]
    assert [f["id"] for f in found["firings"]] == [f.id for f in result.fired]
    assert len(p.store.list_runs("tiny")) == 1  # nothing trained

    again = check_triggers(p.runtime)  # the same window: recorded once
    assert again.fired == [] and verdict(p.runtime, again) is None

    add_training_data(p.root)  # a retrain on the champion's data would be skipped
    done = train_for_trigger(p.runtime, found["trigger"])
    assert done.outcome is not None and done.outcome.version == "2"
    assert p.store.list_runs("tiny")[0].trigger == found["trigger"]
    repeat = train_for_trigger(p.runtime, found["trigger"])
    assert repeat.outcome is None and repeat.previous is not None
    assert repeat.previous.id == done.outcome.run_id
    assert repeat.to_dict()["trained"] is False
    assert len(p.store.list_runs("tiny")) == 2


def test_keyless_manual_trigger_always_trains(memory_project: Project) -> None:
    p = memory_project
    p.train()
    assert train_for_trigger(p.runtime, "manual").outcome is not None
    assert train_for_trigger(p.runtime, "manual").outcome is not None


@pytest.mark.parametrize("bad", ["", "drift:", "bogus:key", "Drift:x"])
def test_bad_trigger_is_refused(memory_project: Project, bad: str) -> None:
    with pytest.raises(InvalidInputError, match="--trigger"):
        train_for_trigger(memory_project.runtime, bad)


@pytest.mark.parametrize(
    "trigger", ["estimated_performance:w", "labels:1-9", "quality:w", "new_data:1-3"]
)
def test_every_retrain_trigger_is_accepted(trigger: str) -> None:
    """A firing of any trigger `retrain.on` can list can be trained for (the Airflow
    training DAG passes `<name>:<key>` of whatever fired)."""
    from opsloop.orchestrate.external import check_trigger

    assert check_trigger(trigger) == trigger
