"""`opsloop status` says when each trigger fired last and when it can fire next."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from opsloop.orchestrate.outlook import trigger_outlook
from opsloop.project import Project
from tinyproject import write_tiny_project

RETRAIN = "retrain: {on: [drift, performance], training_window: 30d, cooldown: 1h}"
ALL = (
    "retrain: {on: [drift, performance, schedule, labels, estimated_performance, "
    "quality], schedule: '0 3 * * *', "
    "labels: {min_rows: 500}, training_window: 30d, cooldown: 1h}"
)


def project(tmp_path: Path) -> Project:
    from opsloop.engines.memory import MemoryEngine
    from opsloop.registry.memory import MemoryRegistry
    from opsloop.store import OpsStore

    root = write_tiny_project(tmp_path / "p")
    text = (root / "opsloop.yaml").read_text().replace(RETRAIN, ALL)
    (root / "opsloop.yaml").write_text(text)
    return Project(
        root,
        registry=MemoryRegistry(),
        store=OpsStore("sqlite://"),
        engine=MemoryEngine(),
        actor="tester",
    )


def by_trigger(p: Project, now: datetime) -> dict[str, dict[str, Any]]:
    return {e["trigger"]: e for e in trigger_outlook(p.store, p.config, "tiny", now)}


def test_every_trigger_has_its_last_and_next_firing(tmp_path: Path) -> None:
    import pandas as pd

    p = project(tmp_path)
    now = datetime(2030, 1, 1, 12, 7, tzinfo=UTC)
    before = by_trigger(p, now)
    assert list(before) == [
        "drift",
        "performance",
        "schedule",
        "labels",
        "estimated_performance",
        "quality",
        "manual",
        "resume",
    ]
    assert before["drift"]["detail"] == "once a version is deployed and monitored"
    assert before["drift"]["next"] is None
    assert before["schedule"]["next"] == now.isoformat()  # never trained: due
    assert before["labels"]["progress"] == {"rows": 0, "min_rows": 500}
    assert before["manual"]["pending"] == [] and before["manual"]["last_ts"] is None

    p.train()
    p.add_labels(pd.DataFrame({"row_id": ["a", "b"], "label": [1, 0]}))
    request = p.request_retrain(reason="because")
    p.monitor()
    firing = p.store.try_fire("tiny", "drift", "w1", {"x": 1})
    assert firing is not None
    now = firing.ts
    after = by_trigger(p, now)
    until = firing.ts + timedelta(hours=1)
    assert after["drift"]["last_key"] == "w1" and after["drift"]["last_ts"] == firing.ts.isoformat()
    assert after["drift"]["cooldown_until"] == until.isoformat()
    # the first monitor run (every 15 minutes) at or after the end of the cooldown
    nxt = datetime.fromisoformat(after["drift"]["next"])
    assert until <= nxt < until + timedelta(minutes=15) and nxt.minute % 15 == 0
    assert "cooldown until" in after["performance"]["detail"]
    for judged_by_the_monitor in ("estimated_performance", "quality"):
        assert after[judged_by_the_monitor]["next"] == after["drift"]["next"]
        assert after[judged_by_the_monitor]["detail"] == after["drift"]["detail"]
    sched = datetime.fromisoformat(after["schedule"]["next"])
    # the next 03:00 after now, unless the retraining cooldown ends later (a test run
    # between 02:00 and 03:00 UTC: then the chance is when the cooldown ends)
    three = now.replace(hour=3, minute=0, second=0, microsecond=0)
    three += timedelta(days=1) if three <= now else timedelta(0)
    assert sched == max(three, until)
    assert after["labels"]["progress"] == {"rows": 2, "min_rows": 500}
    assert (
        after["labels"]["detail"] == "when 498 more rows arrive (2 of 500 rows since "
        f"the last training) (cooldown until {until:%Y-%m-%d %H:%M} UTC)"
    )
    assert after["manual"]["pending"] == [request.id] and after["manual"]["cooldown_until"] is None
    assert f"#{request.id}" in after["manual"]["detail"]


def test_status_and_its_rendering_show_the_triggers(tmp_path: Path) -> None:
    from rich.console import Console

    from opsloop.cli.render import print_status

    p = project(tmp_path)
    p.train()
    request = p.request_retrain(reason="because")
    status = p.status()
    triggers = {t["trigger"]: t for t in status["schedule"]["triggers"]}
    assert triggers["manual"]["pending"] == [request.id]
    assert status["retrain_requests"][-1]["id"] == request.id
    assert status["retrain_requests"][-1]["status"] == "pending"
    assert status["schedule"]["cooldown_until"] is None
    console = Console(record=True, width=200)
    print_status(console, status)
    text = console.export_text()
    assert "manual" in text and f"#{request.id}" in text
    assert "labels" in text and "0 of 500 rows" in text
    assert "schedule" in text and "never fired" in text


def test_the_status_view_is_typed_and_dumps_the_stable_json(tmp_path: Path) -> None:
    import json

    from rich.console import Console

    from opsloop.cli.render import print_status
    from opsloop.services.view_models import StatusView

    p = project(tmp_path)
    p.train()
    p.request_retrain(reason="because")
    view = p.status_view()
    assert view.champion is not None and view.champion.version == "1"
    assert view.champion.gate is not None and view.champion.gate.passed
    assert view.schedule.retrain_on == list(p.config.retrain.on)
    data = view.to_json()
    assert list(data) == [
        "model",
        "task",
        "stack",
        "champion",
        "challenger",
        "deployment",
        "rollout",
        "last_monitor",
        "pending_approvals",
        "versions",
        "schedule",
        "retrain_requests",
        "runs",
        "running",
        "agent",
        "prediction_log",
        "servers",
        "load_failures",
        "batch",
    ]
    # the JSON reads back into the same view, and renders the same from either
    again = StatusView.model_validate(json.loads(json.dumps(data)))
    assert again == view
    texts = []
    for s in (view, data):
        console = Console(record=True, width=200)
        print_status(console, s)
        texts.append(console.export_text())
    assert texts[0] == texts[1] and "version 1" in texts[0]
