"""`opsloop demo --example restaurants` at a small size (2,000 users x 200 restaurants): each
step of the loop really happened — v1 promoted and its lists served by the web app (a real
process), the posted visits stored as labels, a monitor breach recorded with its evidence
and the trigger it fired, v2 trained, gated and promoted, its lists served, and after the
batch rollback v1's lists served again — and the project's store tells the story on the
data's clock."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from opsloop.cli.demo_restaurants import HISTORY_END, UNKNOWN_USER, run_restaurants_demo
from opsloop.project import Project

pytestmark = pytest.mark.slow


def test_the_restaurants_demo_closes_the_loop(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    out = io.StringIO()
    s = run_restaurants_demo(
        root, console=Console(file=out, width=120), users=2_000, restaurants=200, max_days=21
    )
    text = out.getvalue()

    # v1: trained, gated, promoted; its published lists served by the web app
    assert s.v1["version"] == "1" and s.v1["promoted"] and s.v1["gate_passed"]
    v1 = s.served["v1"]
    assert v1.version == "1" and v1.fallback and v1.fallback_user == UNKNOWN_USER
    assert all(len(items) == 10 for items in v1.lists.values()) and len(v1.lists) == 50

    # the visits posted to the web app are the project's labels, one row each
    assert s.posted > 100 and s.stored == s.posted and len(s.days) >= 3
    labels = pd.read_parquet(root / ".opsloop" / "labels")
    assert len(labels) == s.posted
    assert labels["label_ts"].min() >= pd.Timestamp(HISTORY_END)
    assert (root / "data" / f"visits-{s.days[0].replace('-', '')}.parquet").is_file()

    # the monitor's breach, the trigger it fired, the retraining it started
    assert s.monitor is not None and s.monitor["drift_detected"]
    breaches = s.monitor["summary"]["ranking"]["breaches"]
    assert breaches and s.fired and "drift" in s.fired
    assert s.v2 is not None and s.v2["promoted"] and s.v2["gate_passed"]
    assert s.v2["version"] not in ("1", *s.refused)
    assert s.v2["requested"] == {} and str(s.v2["window"]).endswith("Z")

    p = Project(root)
    events = p.events(limit=2000)
    kinds = [e.kind for e in events]
    for kind in (
        "trained",
        "registered",
        "gate_passed",
        "promoted",
        "batch_predicted",
        "batch_published",
        "labels_added",
        "monitored",
        "drift_detected",
        "trigger_fired",
        "batch_rolled_back",
    ):
        assert kind in kinds, kind
    fired = [e for e in events if e.kind == "trigger_fired"]
    assert fired[-1].evidence["monitor_result"] == s.monitor["id"]
    assert fired[-1].evidence["trigger"] == "drift"
    promoted = [e.version for e in events if e.kind == "promoted"]
    assert promoted[0] == "1" and promoted[-1] == s.v2["version"]
    assert {e.actor for e in events if e.kind == "labels_added"} == {"webapp"}
    # the demo's own records are on the data's clock (2025), the web app's on the wall clock
    demo = [e for e in events if e.actor == "demo"]
    assert demo and all(e.ts < datetime(2026, 1, 1, tzinfo=UTC) for e in demo)
    assert all(e.ts >= HISTORY_END for e in demo)

    # v2's lists served, then v1's again after the rollback
    v2, back = s.served["v2"], s.served["rollback"]
    assert v2.version == s.v2["version"] and v2.run_id != v1.run_id
    assert v2.lists != v1.lists
    assert s.rollback is not None and s.rollback["kind"] == "rolled_back"
    assert back.version == "1" and back.run_id == s.rollback["run_id"] != v2.run_id
    assert back.lists != v2.lists
    history = {h.run.run_id: h for h in p.batch_history(limit=100)}
    assert history[back.run_id].run.version == "1" and history[back.run_id].current
    assert history[v2.run_id].run.version == v2.version
    status = p.status()
    assert status["champion"]["version"] == s.v2["version"]
    assert "opsloop demo (restaurants) finished" in text
