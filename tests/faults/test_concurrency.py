"""Concurrency proof: N concurrent promotions, rollbacks, approvals and deploys — over HTTP
(the management API), the Python API (threads) and the CLI (processes) — on SQLite and
PostgreSQL leave exactly one history (revisions 1..n, no gap, no duplicate), the MLflow
`champion` alias equal to the deployment row, no 5xx, and every loser told who won."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from opsloop.core.aliases import CHAMPION
from opsloop.errors import StateError
from opsloop.project import Project
from opsloop.serve import ServeContext, create_app
from opsloop.store import OpsStore
from store_fixtures import POSTGRES
from tinyproject import write_tiny_project

N = 8
AUTH = {"Authorization": "Bearer t0ken"}
# what a loser is told: the winning change (revision, version, actor), or the state the
# winners left (already deployed or rejected by whom; a rollback: the history it found)
WINNER_NAMED = (
    "rollout of version",  # "a canary rollout of version 4 of 'm' is running": it won
    "committed first",
    "recorded first",
    "already deployed (revision",
    "already rejected by",
    "was rejected by",
    "already rolling out",
    "is already running",
    "history:",
)


def _one_history(p: Project) -> None:
    history = p.store.list_deployments(p.name)
    assert [d.revision for d in history] == list(range(1, len(history) + 1))
    current = p.store.find_deployment(p.name)
    alias = p.registry.find_alias(p.name, CHAMPION)
    assert current is not None and alias is not None and alias.version == current.version


def _project(root: Path, url: str, name: str) -> Project:
    from opsloop.engines.memory import MemoryEngine
    from opsloop.registry.memory import MemoryRegistry

    yaml = (root / "opsloop.yaml").read_text().replace("model: tiny", f"model: {name}")
    (root / "opsloop.yaml").write_text(yaml)
    return Project(
        root, registry=MemoryRegistry(), store=OpsStore(url), engine=MemoryEngine(), actor="t"
    )


@pytest.fixture(params=["sqlite", POSTGRES])
def versions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Project]:
    """Version 1 deployed, versions 2..4 pending approval (manual), on a shared store."""
    root = write_tiny_project(tmp_path / "p", approval="manual")
    url = (
        f"sqlite:///{tmp_path / 'ops.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    p = _project(root, url, f"c{os.urandom(4).hex()}")
    for _ in range(4):
        p.train(force=True)
    p.approve("1")
    p.promote("2")
    yield p
    p.store.close()


def _all_at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait()
        try:
            return call()
        except Exception as exc:  # the test inspects every outcome
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_http_concurrent_deploys_rollbacks_and_approvals(versions: Project) -> None:
    p = versions
    ctx = ServeContext(
        model_name=p.name,
        store=p.store,
        load_version=lambda v: p.registry.load(p.name, v),
        log_writer=None,
        runtime=p.runtime,
        admin_token="t0ken",
        reload_interval=0.05,
    )
    base = f"/api/models/{p.name}"
    with TestClient(create_app(ctx)) as client:
        posts: list[tuple[str, dict[str, Any] | None]] = [
            (f"{base}/deploy", {"version": "2", "strategy": "blue_green"}),
            (f"{base}/deploy", {"version": "3", "strategy": "blue_green"}),
            (f"{base}/deploy", {"version": "4", "strategy": "canary"}),
            (f"{base}/versions/2/approve", None),
            (f"{base}/versions/3/approve", None),
            (f"{base}/rollback", None),
            (f"{base}/versions/4/reject", None),
            (f"{base}/deploy", {"version": "2", "strategy": "blue_green"}),
        ][:N]
        answers = _all_at_once(
            [
                lambda url=url, body=body, i=i: client.post(
                    url, json=body, headers={**AUTH, "X-Opsloop-Actor": f"w{i}"}
                )
                for i, (url, body) in enumerate(posts)
            ]
        )
    statuses = [a.status_code for a in answers]
    assert all(s < 500 for s in statuses), [a.text for a in answers if a.status_code >= 500]
    assert 200 in statuses
    for a in answers:
        if a.status_code == 409:
            assert any(w in a.json()["error"] for w in WINNER_NAMED), a.json()["error"]
        else:
            assert a.status_code in (200, 404), a.text  # 404: e.g. rollout gone
    _one_history(p)


def test_python_api_concurrent_promotions_rollbacks_and_approvals(versions: Project) -> None:
    p = versions
    calls: list[Callable[[], Any]] = [
        lambda: p.promote("2"),
        lambda: p.promote("3"),
        lambda: p.rollback(),
        lambda: p.approve("4"),
        lambda: p.promote("4"),
        lambda: p.rollback(),
        lambda: p.approve("3"),
        lambda: p.deploy("2", strategy="blue_green"),
    ][:N]
    outcomes = _all_at_once(calls)
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert len(errors) < len(outcomes)
    for exc in errors:
        assert isinstance(exc, StateError), repr(exc)
        assert any(w in exc.what for w in WINNER_NAMED), exc.what
    _one_history(p)


@pytest.mark.slow
def test_cli_processes_promote_concurrently(tmp_path: Path) -> None:
    """Real processes over MLflow on SQLite and the SQLite ops store."""
    root = write_tiny_project(tmp_path / "tiny", approval="manual")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cli = [sys.executable, "-m", "opsloop"]
    for _ in range(3):
        done = subprocess.run(
            [*cli, "train", "-p", str(root), "--force"], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
    procs = [
        subprocess.Popen(
            [*cli, "promote", "tiny", str(1 + i % 3), "-p", str(root), "--reason", f"p{i}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(N)
    ]
    results = [(proc.wait(timeout=300), *proc.communicate()) for proc in procs]
    assert any(code == 0 for code, _, _ in results)
    for code, out, err in results:
        assert code in (0, 1), err
        if code == 1:
            line = " ".join((out + err).split())
            assert "Traceback" not in err and any(w in line for w in WINNER_NAMED), err
    from opsloop.registry.mlflow import MlflowRegistry

    p = Project(root, registry=MlflowRegistry(f"sqlite:///{root / '.opsloop' / 'mlflow.db'}"))
    _one_history(p)
