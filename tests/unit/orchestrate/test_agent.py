"""The agent closes the loop: monitor → trigger (idempotent, cooled down) → retrain."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from opsloop.project import Project
from tinyproject import prediction_log, tiny_frame


def answered_clock(p: Project) -> None:
    """Monitor by answer time: each tick judges the window ending now, so traffic logged
    now is judged at once and a breach persists from tick to tick (the trigger mechanics
    these tests are about). The event clock's windows: `test_agent_event_time.py`."""
    monitor = p.config.monitor.model_copy(update={"clock": "answered"})
    p.config = p.runtime.config = p.config.model_copy(update={"monitor": monitor})


def serve_traffic(p: Project, frame: pd.DataFrame, version: str) -> None:
    """What the server would log: predictions of `version` plus, later, their labels,
    monitored on the answered clock (`answered_clock`)."""
    answered_clock(p)
    now = datetime.now(UTC)
    p.engine.add_predictions(prediction_log(p, frame, version, ts=now))  # type: ignore[attr-defined]
    p.engine.add_labels(
        pd.DataFrame(
            {  # type: ignore[attr-defined]
                "prediction_id": frame["row_id"].astype(str),
                "label": frame["label"],
                "label_ts": pd.Timestamp(now),
            }
        )
    )


def test_tick_without_deployment_does_nothing(memory_project: Project) -> None:
    result = memory_project.tick(force_monitor=True)
    assert result.monitored is None and result.trained is None
    assert "nothing deployed" in result.notes[0]


def test_no_drift_no_retrain(memory_project: Project) -> None:
    p = memory_project
    p.train()
    serve_traffic(p, tiny_frame(600, seed=11, prefix="ok", days=0.01), "1")
    result = p.tick(force_monitor=True)
    assert result.monitored is not None and not result.monitored.drift_detected
    assert result.monitored.n_rows == 600 and result.monitored.n_labelled == 600
    assert result.fired == [] and result.trained is None


def test_drift_fires_once_and_retrains(memory_project: Project) -> None:
    p = memory_project
    p.train()
    drifted = tiny_frame(800, drift=1.0, seed=5, prefix="prod", days=0.01)
    serve_traffic(p, drifted, "1")
    drifted.to_parquet(p.root / "data" / "production.parquet", index=False)  # the warehouse

    first = p.tick(force_monitor=True)
    assert first.monitored is not None and first.monitored.drift_detected
    assert first.monitored.performance_degraded
    assert {f.trigger for f in first.fired} == {"drift", "performance"}
    assert first.trained is not None and first.trained.version == "2"
    run = p.store.list_runs("tiny")[0]
    assert run.trigger is not None and run.trigger.startswith("drift:")

    second = p.tick(force_monitor=True)  # v2 now serves and has no traffic yet
    assert second.monitored is not None and second.monitored.version == "2"
    assert second.monitored.n_rows == 0 and not second.monitored.drift_detected
    assert second.fired == [] and second.trained is None
    kinds = [e.kind for e in p.events()]
    assert kinds.count("trigger_fired") == 2 and "drift_detected" in kinds


def test_monitor_not_due_is_reported(memory_project: Project) -> None:
    p = memory_project
    p.train()
    answered_clock(p)  # an empty window ending now is stored; its schedule is then not due
    p.tick(force_monitor=True)
    result = p.tick()
    assert result.monitored is None
    assert any("monitor not due" in n for n in result.notes)


def test_same_breach_fires_once(tmp_path) -> None:
    """With manual approval v1 keeps serving, so the breach persists: no second firing."""
    from opsloop.engines.memory import MemoryEngine
    from opsloop.registry.memory import MemoryRegistry
    from opsloop.store import OpsStore
    from tinyproject import add_training_data, write_tiny_project

    p = Project(
        write_tiny_project(tmp_path / "m", approval="manual"),
        registry=MemoryRegistry(),
        store=OpsStore("sqlite://"),
        engine=MemoryEngine(),
    )
    p.train()
    p.approve("1")
    serve_traffic(p, tiny_frame(800, drift=1.0, seed=5, prefix="prod", days=0.01), "1")
    add_training_data(p.root)  # a retrain on the champion's data would be skipped
    first = p.tick(force_monitor=True)
    assert first.fired and first.trained is not None and first.trained.approval == "pending"
    second = p.tick(force_monitor=True)
    assert second.monitored is not None and second.monitored.drift_detected
    assert second.fired == [] and second.trained is None
    assert any("cooldown" in n for n in second.notes)
    assert len(p.store.list_firings("tiny")) == len(first.fired)


def test_schedule_trigger_retrains_once_per_slot(tmp_path) -> None:
    from opsloop.engines.memory import MemoryEngine
    from opsloop.registry.memory import MemoryRegistry
    from opsloop.store import OpsStore
    from tinyproject import add_training_data, write_tiny_project

    root = write_tiny_project(tmp_path / "s")
    text = (
        (root / "opsloop.yaml")
        .read_text()
        .replace(
            "retrain: {on: [drift, performance], training_window: 30d, cooldown: 1h}",
            "retrain: {on: [schedule], schedule: '0 3 * * *', training_window: 30d, cooldown: 0s}",
        )
    )
    (root / "opsloop.yaml").write_text(text)
    p = Project(root, registry=MemoryRegistry(), store=OpsStore("sqlite://"), engine=MemoryEngine())
    p.train()
    # the last 03:00 slot is before the first training, so nothing is due yet
    assert p.tick().fired == []
    later = datetime.now(UTC).replace(hour=3, minute=0, second=30) + pd.Timedelta(days=1)
    p.runtime.clock = lambda: later
    add_training_data(root)  # a retrain on the champion's data would be skipped
    result = p.tick()
    assert [f.trigger for f in result.fired] == ["schedule"]
    assert result.trained is not None and result.trained.version == "2"
    assert p.tick().fired == []  # the same slot never fires twice


def test_estimated_performance_fires_without_labels(tmp_path) -> None:
    """The CBPE reference is stored with the version; an unlabelled window whose estimate
    is below the floor fires the estimated_performance trigger with its evidence."""
    from opsloop.engines.memory import MemoryEngine
    from opsloop.monitor.cbpe import CBPEReference
    from opsloop.registry.memory import MemoryRegistry
    from opsloop.store import OpsStore
    from tinyproject import write_tiny_project

    root = write_tiny_project(tmp_path / "e")
    text = (
        (root / "opsloop.yaml")
        .read_text()
        .replace(
            "retrain: {on: [drift, performance],",
            "  estimated_performance: {metric: accuracy, floor: 0.99}\n"
            "retrain: {on: [estimated_performance],",
        )
    )
    (root / "opsloop.yaml").write_text(text)
    p = Project(root, registry=MemoryRegistry(), store=OpsStore("sqlite://"), engine=MemoryEngine())
    outcome = p.train()
    cbpe = CBPEReference.from_json(p.registry.read_artifact("tiny", "1", "cbpe.json"))
    assert cbpe.rows == outcome.rows["holdout"] and "accuracy" in cbpe.bands
    frame = tiny_frame(400, seed=12, prefix="nolabel", days=0.01)
    p.engine.add_predictions(prediction_log(p, frame, "1"))  # type: ignore[attr-defined]
    answered_clock(p)

    result = p.tick(force_monitor=True)
    assert result.monitored is not None and result.monitored.n_labelled == 0
    est = result.monitored.summary["estimated_performance"]
    assert est["degraded"] and est["n"] == 400 and est["value"] < 0.99
    assert [f.trigger for f in result.fired] == ["estimated_performance"]
    assert result.fired[0].evidence["estimated_performance"]["value"] == est["value"]
    kinds = [e.kind for e in p.events()]
    assert "performance_estimated_degraded" in kinds and "performance_degraded" not in kinds


def test_quality_breach_is_recorded_and_fires_when_configured(tmp_path) -> None:
    """Rows with a category the reference never saw: `quality_failed` with the evidence,
    visible in status; with `retrain.on: [quality]` it fires the quality trigger."""
    from opsloop.engines.memory import MemoryEngine
    from opsloop.registry.memory import MemoryRegistry
    from opsloop.store import OpsStore
    from tinyproject import write_tiny_project

    root = write_tiny_project(tmp_path / "q")
    text = (
        (root / "opsloop.yaml")
        .read_text()
        .replace("retrain: {on: [drift, performance],", "retrain: {on: [quality],")
    )
    (root / "opsloop.yaml").write_text(text)
    p = Project(root, registry=MemoryRegistry(), store=OpsStore("sqlite://"), engine=MemoryEngine())
    p.train()
    assert "quality_expectations.json" in p.registry._artifacts[("tiny", "1")]  # type: ignore[attr-defined]
    traffic = tiny_frame(600, seed=12, prefix="q", days=0.01)
    traffic.loc[:99, "color"] = "purple"
    serve_traffic(p, traffic, "1")
    result = p.tick(force_monitor=True)
    m = result.monitored
    assert m is not None and m.summary["quality"]["passed"] is False
    breaches = [
        (c["check"], c["feature"])
        for c in m.summary["quality"]["checks"]
        if c["status"] == "breach"
    ]
    assert breaches == [("unseen", "color")]
    event = p.store.list_events("tiny", kinds=["quality_failed"])[0]
    assert event.evidence["quality_breaches"][0]["feature"] == "color"
    assert [f.trigger for f in result.fired] == ["quality"]
    assert result.fired[0].evidence["quality_breaches"][0]["check"] == "unseen"
    assert p.status()["last_monitor"]["quality_passed"] is False
