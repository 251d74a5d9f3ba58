"""The main job: `opsloop demo` runs the whole loop and leaves a project whose status and
events prove v2 was promoted after drift."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def opsloop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opsloop", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_demo_closes_the_loop(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    run = opsloop("demo", "--project", str(root))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "now answers with version 2" in run.stdout
    assert "Warning" not in run.stderr

    status = json.loads(opsloop("status", "-p", str(root), "--json").stdout)
    assert status["champion"]["version"] == "2"
    assert status["champion"]["gate"]["passed"] is True
    assert status["deployment"]["previous_version"] == "1"
    monitor = status["last_monitor"]
    assert monitor["drift_detected"] and monitor["performance_degraded"]
    assert monitor["n_labelled"] >= 1000 and Path(monitor["report_path"]).is_file()
    estimated = monitor["estimated_performance"]  # CBPE on MLflow's cbpe.json + DuckDB
    assert estimated["method"] == "cbpe" and estimated["n"] == monitor["n_rows"]
    assert estimated["value"] is not None and estimated["lower"] is not None

    events = json.loads(opsloop("events", "-p", str(root), "--json", "--limit", "500").stdout)
    kinds = [e["kind"] for e in events]
    for kind in (
        "trained",
        "registered",
        "gate_passed",
        "approved",
        "promoted",
        "labels_added",
        "monitored",
        "drift_detected",
        "performance_degraded",
        "trigger_fired",
    ):
        assert kind in kinds, kind
    promoted = [e for e in events if e["kind"] == "promoted"]
    assert [e["version"] for e in promoted] == ["1", "2"]
    assert kinds.index("drift_detected") < len(kinds) - 1 - kinds[::-1].index("promoted")
    fired = [e for e in events if e["kind"] == "trigger_fired"]
    assert {e["evidence"]["trigger"] for e in fired} == {"drift", "performance"}
    assert fired[0]["evidence"]["drift_share"] >= 0.3
