"""`opsloop.services`: admin actions with the actor named per call, the read side from the
ops store alone, the runtime of a project folder, and the layer rule (no `Project`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from opsloop.backends import load_project_config
from opsloop.errors import NotFoundError, ProjectNotFoundError, StateError
from opsloop.project import Project
from opsloop.services import AdminService, ReadService
from tinyproject import write_tiny_project


@pytest.fixture
def trained(tmp_path: Path) -> Project:
    from opsloop.engines.memory import MemoryEngine
    from opsloop.registry.memory import MemoryRegistry
    from opsloop.store import OpsStore

    root = write_tiny_project(tmp_path / "p", approval="manual")
    p = Project(
        root,
        registry=MemoryRegistry(),
        store=OpsStore("sqlite://"),
        engine=MemoryEngine(),
        actor="project-actor",
    )
    p.train()
    return p


def test_each_call_records_its_own_actor(trained: Project) -> None:
    admin = AdminService(trained.runtime)
    reads = ReadService(trained.store, trained.config)
    decision = admin.decide("1", approved=True, actor="api:alice", comment="ok")
    assert decision.approval.actor == "api:alice" and decision.approval.status == "approved"
    assert decision.deployment is not None and decision.deployment.version == "1"
    assert decision.to_dict()["deployment"]["version"] == "1"
    request = admin.request_retrain(actor="api:bob", reason="fresh data")
    assert [(r.id, r.actor) for r in reads.retrain_requests()] == [(request.id, "api:bob")]
    assert reads.retrain_request(request.id).reason == "fresh data"
    actors = {e.kind: e.actor for e in reads.events(limit=50)}
    assert actors["retrain_requested"] == "api:bob"
    status = reads.status().to_json()
    assert status["champion"]["version"] == "1"
    assert status["champion"]["approval"]["actor"] == "api:alice"
    # the façade delegates with its own actor
    trained.request_retrain(reason="again")
    assert [r.actor for r in trained.retrain_requests()] == ["api:bob", "project-actor"]


def test_nothing_to_roll_back_or_promote_is_a_state_error(trained: Project) -> None:
    admin = AdminService(trained.runtime)
    with pytest.raises(StateError):
        admin.rollback(actor="api:carol")
    with pytest.raises(StateError):
        admin.promote_rollout(actor="api:carol")
    assert admin.rollout_status() is None and admin.advance_rollout() is None


def test_reads_need_no_registry(trained: Project) -> None:
    reads = ReadService(trained.store, trained.config)
    report = reads.gate_report("1")
    assert (report.model, report.version, report.champion_version) == ("tiny", "1", None)
    with pytest.raises(NotFoundError, match="no gate decision"):
        reads.gate_report("7")
    assert reads.monitoring().windows == [] and reads.model == "tiny"


def test_the_config_of_a_folder_with_another_stack(tmp_path: Path) -> None:
    root = write_tiny_project(
        tmp_path / "p", extra_yaml="stacks:\n  other:\n    ops_store: sqlite:///elsewhere.db\n"
    )
    assert load_project_config(root).stack == "local"
    assert load_project_config(root, "other").active_stack.ops_store == "sqlite:///elsewhere.db"
    with pytest.raises(ProjectNotFoundError, match=r"no opsloop\.yaml"):
        load_project_config(tmp_path)


def test_services_import_neither_project_nor_serve() -> None:
    code = (
        "import sys, opsloop.services, opsloop.backends; "
        "print(sorted(m for m in sys.modules if m.startswith(('opsloop.project', "
        "'opsloop.serve', 'opsloop.cli', 'fastapi', 'mlflow'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
