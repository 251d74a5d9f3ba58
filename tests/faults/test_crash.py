"""Crash harness: SIGKILL a real `opsloop` CLI process at each crash point
(`opsloop.faults`, `OPSLOOP_CRASH_AT`), restart, and check what recovery leaves: the MLflow
`champion` alias = the deployment row = the newest deployment event, no pipeline run still
`running` once its heartbeat timed out, and the interrupted work done exactly once (one
version per completed training, one promotion). docs/reliability.md, "Crash harness".

Each case starts from a small state built in process (nothing, or version 1 deployed and
version 2 waiting for approval, ...), kills one CLI command at its point, then recovers the
way an operator would: one agent tick once what the dead process held is given up
(reconcilers, crashed-run recovery and resume, unfinished batch runs — run in this process:
`Project.tick` is what `opsloop agent --once` runs) and the command again.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from opsloop.core.aliases import CHAMPION
from opsloop.errors import StateError
from opsloop.faults import ENV, POINTS
from opsloop.lease import agent_lease_name, training_lease_name
from opsloop.project import Project
from opsloop.store.records import ServeStat
from store_fixtures import POSTGRES
from tinyproject import write_tiny_project
from tree_sync import sync_tree

pytestmark = pytest.mark.slow

# small timeouts, so recovery is seconds away; a canary that can pass a step on one request
AGENT_YAML = """\
agent: {heartbeat_interval: 0.2s, heartbeat_timeout: 1s, lease_ttl: 2s}
deploy:
  steps: [50, 100]
  bake: 0s
  analysis: {min_requests: 1, max_p99_ratio: null, max_divergence: null}
"""
TIMEOUT = 1.0  # agent.heartbeat_timeout
LEASE_TTL = 2.0  # agent.lease_ttl
DEPLOY_KINDS = ["promoted", "rolled_back"]


def _write(root: Path, approval: str, ops_store: str | None) -> Path:
    stack = "" if ops_store is None else f"stacks: {{local: {{ops_store: '{ops_store}'}}}}\n"
    root = write_tiny_project(root, approval=approval, rows=600, extra_yaml=AGENT_YAML + stack)
    if ops_store is not None:  # the PostgreSQL database is shared: a model of its own
        yaml = (root / "opsloop.yaml").read_text()
        model = f"tiny-{uuid.uuid4().hex[:8]}"
        (root / "opsloop.yaml").write_text(yaml.replace("model: tiny", f"model: {model}"))
    return root


def _model(root: Path) -> str:
    for line in (root / "opsloop.yaml").read_text().splitlines():
        if line.startswith("model: "):
            return line.removeprefix("model: ").strip()
    raise AssertionError("no model in opsloop.yaml")


def _cli(root: Path, *args: str, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    if crash_at is not None:
        env[ENV] = crash_at
    return subprocess.run(
        # the cases name the model `tiny`: the project's own name instead
        [sys.executable, "-m", "opsloop", *(_model(root) if a == "tiny" else a for a in args)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _killed(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stdout, proc.stderr)


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout


def _refused(proc: subprocess.CompletedProcess[str], words: str) -> None:
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert words in proc.stdout + proc.stderr


def _dead_until(p: Project) -> datetime | None:
    """When what the killed process held is given up: its leases (agent, training slot)
    expired and its running pipeline runs' heartbeats timed out (None: it held nothing)."""
    times = [
        lease.expires
        for name in (agent_lease_name(p.name), training_lease_name(p.name))
        if (lease := p.store.find_lease(name)) is not None
    ]
    times += [
        (r.heartbeat or r.started) + timedelta(seconds=TIMEOUT)
        for r in p.store.list_runs(p.name, limit=1000)
        if r.status == "running"
    ]
    return max(times, default=None)


def _recover(root: Path) -> None:
    """What an operator (or the running agent) does after a crash: once the heartbeat timed
    out and the dead lease expired, one agent tick — in this process (`Project.tick` is
    what `opsloop agent --once` runs; a CLI process would add its imports, seconds a case).
    A killed command that held nothing is recovered at once. The tick runs as if the kill
    were older than `recover.PUBLISH_GRACE` (a run recorded with --publish is then
    published), whatever the seconds the case took: the outcome never depends on timing."""
    from opsloop.batch import recover

    p = Project(root)
    grace = recover.PUBLISH_GRACE
    try:
        until = _dead_until(p)
        if until is not None:
            time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 0.3)
        recover.PUBLISH_GRACE = timedelta(0)
        p.tick()
    finally:
        recover.PUBLISH_GRACE = grace
        p.store.close()


OPENED: list[Project] = []


@pytest.fixture(autouse=True)
def _close_projects() -> Iterator[None]:
    yield
    while OPENED:
        OPENED.pop().store.close()


def check_consistent(root: Path) -> Project:
    """alias = deployment row = events; no run left `running`; one history."""
    p = Project(root)
    OPENED.append(p)
    current = p.store.find_deployment(p.name)
    alias = p.registry.find_alias(p.name, CHAMPION)
    events = p.store.list_events(p.name, kinds=DEPLOY_KINDS, limit=10_000)
    history = p.store.list_deployments(p.name)
    assert [d.revision for d in history] == list(range(1, len(history) + 1))
    if current is None:
        assert alias is None and not events
    else:
        assert alias is not None and alias.version == current.version
        newest = max(events, key=lambda e: (e.ts, e.id))
        assert newest.version == current.version, (newest, current)
        assert len(events) == len(history)  # one event per committed revision
    running = [r for r in p.store.list_runs(p.name, limit=1000) if r.status == "running"]
    assert not running, running
    return p


@dataclass(frozen=True)
class Case:
    point: str
    setup: str  # "fresh" | "pending" (v1 deployed, v2 pending) | "canary" (v2 rolling out)
    command: tuple[str, ...]
    verify: Callable[[Path], None]
    prepare: Callable[[Path], None] | None = None  # on the restored state, before the kill


def _after_training(root: Path) -> None:
    """The crashed training was resumed once by the agent: one succeeded run, whose version
    is the one deployed; the crashed run failed; nothing else deployed."""
    _recover(root)
    p = check_consistent(root)
    runs = p.store.list_runs(p.name, limit=1000)
    done = [r for r in runs if r.pipeline == "train" and r.status == "succeeded"]
    crashed = [r for r in runs if r.pipeline == "train" and r.status == "failed"]
    assert len(done) == 1 and len(crashed) == 1, runs
    assert (done[0].trigger or "").startswith("resume:")
    version = str(done[0].result["version"])
    assert [d.version for d in p.store.list_deployments(p.name)] == [version]
    registered = p.store.list_events(p.name, kinds=["registered"], limit=100)
    assert [e.version for e in registered].count(version) == 1


def _v2_deployed_once(root: Path) -> Project:
    p = check_consistent(root)
    assert [d.version for d in p.store.list_deployments(p.name)] == ["1", "2"]
    return p


def _after_approve(root: Path) -> None:
    _ok(_cli(root, "approve", "tiny", "2"))  # the decision again: this time it deploys
    _recover(root)
    _v2_deployed_once(root)


def _after_promote(root: Path) -> None:
    _recover(root)  # the reconciler moves the alias to the committed row
    p = _v2_deployed_once(root)
    repaired = p.store.list_events(p.name, kinds=["alias_repaired"], limit=10)
    assert len(repaired) <= 1
    _refused(_cli(root, "promote", "tiny", "2"), "already deployed")
    _v2_deployed_once(root)


def _after_rollback(root: Path) -> None:
    _recover(root)
    p = check_consistent(root)
    assert [d.version for d in p.store.list_deployments(p.name)] == ["1", "2", "1"]
    _refused(_cli(root, "rollback", "tiny"), "no earlier version")
    check_consistent(root)


def _after_rollout_start(root: Path) -> None:
    _recover(root)
    p = check_consistent(root)
    rollout = p.store.find_running_rollout(p.name)
    assert rollout is not None and rollout.candidate_version == "2"
    _refused(_cli(root, "deploy", "tiny", "2", "--strategy", "canary"), "already rolling out")
    assert p.store.find_running_rollout(p.name) == rollout
    assert [d.version for d in p.store.list_deployments(p.name)] == ["1"]


def _after_advance(root: Path) -> None:
    _recover(root)  # no new requests at 100 %: the step waits, nothing advances twice
    p = check_consistent(root)
    rollout = p.store.find_running_rollout(p.name)
    assert rollout is not None and rollout.step == 1 and rollout.share == 100
    advanced = p.store.list_events(p.name, kinds=["rollout_advanced"], limit=10)
    assert len(advanced) == 1
    assert [d.version for d in p.store.list_deployments(p.name)] == ["1"]


def _after_rollout_promote(root: Path) -> None:
    _recover(root)
    p = _v2_deployed_once(root)
    assert p.store.find_running_rollout(p.name) is None
    _refused(_cli(root, "rollout", "promote", "tiny"), "no rollout")
    _v2_deployed_once(root)


def _after_tick(root: Path) -> None:
    # the dead agent never released its lease: it runs until its expiry (a live lease is
    # released at once, its expiry set to the release time)
    p = Project(root)
    OPENED.append(p)
    dead = p.store.find_lease(agent_lease_name(p.name))
    assert dead is not None
    assert (dead.expires - dead.renewed).total_seconds() >= LEASE_TTL * 0.9, dead
    _recover(root)  # the next tick takes the expired lease over, works, releases it
    after = p.store.find_lease(agent_lease_name(p.name))
    assert after is not None and after.holder != dead.holder and after.token > dead.token
    assert after.expires < after.renewed + timedelta(seconds=LEASE_TTL * 0.9)
    check_consistent(root)
    assert [d.version for d in p.store.list_deployments(p.name)] == ["1"]


def _after_reject(root: Path) -> None:
    """Killed after the rejection of the champion committed, before its rollback: version 2
    stays the (consistent) champion until `reject` is repeated, which completes the
    rollback without recording a second decision; a third `reject` is refused."""
    _recover(root)
    p = _v2_deployed_once(root)
    assert p.store.find_approval(p.name, "2").status == "rejected"
    p.reject("2")  # in process: the CLI's refusals are checked by the other cases
    p = check_consistent(root)
    assert [d.version for d in p.store.list_deployments(p.name)] == ["1", "2", "1"]
    rejected = p.store.list_events(p.name, kinds=["rejected"], limit=100)
    assert [e.version for e in rejected] == ["2"]  # one decision, not overwritten
    with pytest.raises(StateError, match="already rejected"):
        p.reject("2")
    check_consistent(root)


def _expiring(root: Path) -> None:
    """The pending approval of version 2 expires at the next tick."""
    yaml = (root / "opsloop.yaml").read_text()
    (root / "opsloop.yaml").write_text(
        yaml.replace("approval: manual}", "approval: manual, approval_expiry: 1s}")
    )


def _after_expiry(root: Path) -> None:
    """Killed after the expiry committed, with the challenger alias still on the expired
    version: the next tick's reconciler drops it (an `alias_repaired` event); the expiry is
    recorded once and an approval of the expired version is refused."""
    from opsloop.core.aliases import CHALLENGER
    from opsloop.deploy.approvals import EXPIRY_ACTOR

    p = Project(root)
    OPENED.append(p)
    assert p.registry.find_alias(p.name, CHALLENGER) is not None  # still on 2
    _recover(root)
    p = check_consistent(root)
    assert p.registry.find_alias(p.name, CHALLENGER) is None
    rejected = p.store.list_events(p.name, kinds=["rejected"], limit=100)
    assert [(e.version, e.actor) for e in rejected] == [("2", EXPIRY_ACTOR)]
    repaired = p.store.list_events(p.name, kinds=["alias_repaired"], limit=100)
    assert [e.version for e in repaired] == ["2"]
    with pytest.raises(StateError, match="was rejected"):
        p.approve("2")
    assert [d.version for d in check_consistent(root).store.list_deployments(p.name)] == ["1"]


PREDICT = ("predict", "tiny", "--input", "data/history.parquet", "--output", "out", "--publish")


@dataclass(frozen=True)
class BatchState:
    succeeded: list[str]  # run ids
    visible: list[str]  # run folders readers can see
    log_rows: int  # rows in the visible prediction-log files
    published: str | None  # the store's current run
    manifest: str | None  # current.json's run


def _batch(root: Path) -> BatchState:
    """The batch output as the ops store, a reader of the folder and the prediction log see
    it."""
    import json

    import pyarrow.parquet as pq

    p = Project(root)
    OPENED.append(p)
    runs = p.store.list_batch_runs(p.name, limit=100)
    publication = p.store.find_published_batch(p.name)
    out = root / "out"
    manifest = out / "current.json"
    log = [f for f in p.paths.predictions.rglob("*.parquet") if not f.name.startswith(".")]
    return BatchState(
        succeeded=[r.run_id for r in runs if r.status == "succeeded"],
        visible=sorted(d.name for d in out.glob("run=*")) if out.exists() else [],
        log_rows=sum(pq.ParquetFile(f).metadata.num_rows for f in log),
        published=None if publication is None else publication.run_id,
        manifest=json.loads(manifest.read_text())["run_id"] if manifest.exists() else None,
    )


ROWS = 600  # data/history.parquet


def _batch_project(root: Path) -> Project:
    p = Project(root)
    OPENED.append(p)
    return p


def _done_once(root: Path) -> BatchState:
    """One succeeded run, visible, published (store = manifest), its rows logged once."""
    b = _batch(root)
    assert len(b.succeeded) == 1 and b.visible == [f"run={b.succeeded[0]}"], b
    assert b.log_rows == ROWS and b.published == b.manifest == b.succeeded[0], b
    check_consistent(root)
    return b


def _after_batch_before_record(root: Path) -> None:
    """Nothing recorded, nothing visible (hidden files only): rerunning scores once."""
    _recover(root)
    assert _batch(root) == BatchState([], [], 0, None, None)
    p = Project(root)
    OPENED.append(p)
    p.predict(str(root / "data" / "history.parquet"), root / "out", publish=True)  # the rerun
    _done_once(root)


def _after_batch_record(root: Path) -> None:
    """The run recorded, its files hidden: the next tick renames them into place (its rows
    reach the log once) and, the run recorded with --publish, publishes it."""
    before = _batch(root)
    assert len(before.succeeded) == 1 and before.visible == [] and before.log_rows == 0
    assert before.published is None, before
    _recover(root)
    assert _done_once(root).succeeded == before.succeeded


def _after_batch_before_publish(root: Path) -> None:
    """The run recorded and in place, not published: the next tick publishes it."""
    before = _batch(root)
    assert len(before.succeeded) == 1 and before.log_rows == ROWS, before
    assert before.published is None, before
    _recover(root)
    _done_once(root)


def _after_batch_publish(root: Path) -> None:
    """The publication committed, `current.json` not written: the next tick writes it."""
    b = _batch(root)
    assert b.published == b.succeeded[0] and b.manifest is None, b
    _recover(root)
    _done_once(root)


PG_OUTPUTS: dict[Path, tuple[str, str]] = {}  # project folder: (database URL, schema)


def _two_outputs_in_postgres(root: Path) -> None:
    """Two runs published, each also written to PostgreSQL (`predict.output_table`, in a
    schema of its own): the view shows the second."""
    from pg_output import base_url, execute, target

    url, schema = base_url(), f"crash_{uuid.uuid4().hex[:10]}"
    execute(url, f"CREATE SCHEMA {schema}")
    PG_OUTPUTS[root] = (url, schema)
    yaml = root / "opsloop.yaml"
    table = target(url, schema)
    yaml.write_text(
        yaml.read_text()
        + f"predict: {{input: data/history.parquet, output: out, output_table: '{table}'}}\n"
    )
    try:
        p = _batch_project(root)
        for _ in range(2):
            p.predict(publish=True)
    except BaseException:
        execute(url, f"DROP SCHEMA IF EXISTS {PG_OUTPUTS.pop(root)[1]} CASCADE")
        raise


def _after_batch_rollback(root: Path) -> None:
    """The rollback committed in the ops store, the view and `current.json` still on the
    second run: the next tick re-points both to the first, as the store says."""
    from pg_output import execute, view_comment, view_runs

    url, schema = PG_OUTPUTS.pop(root)
    try:
        p = _batch_project(root)
        first, second = sorted(p.store.list_batch_runs(p.name, limit=10), key=lambda r: r.started)
        b = _batch(root)
        assert (b.published, b.manifest) == (first.run_id, second.run_id), b
        assert view_runs(url, schema) == {second.run_id: ROWS}  # the view lags the store
        _recover(root)
        b = _batch(root)
        assert b.published == b.manifest == first.run_id, b
        assert view_runs(url, schema) == {first.run_id: ROWS}
        assert view_comment(url, schema)["revision"] == 3
        check_consistent(root)
    finally:
        execute(url, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


TRAIN = ("train",)
CASES = [
    Case("train.after_load", "fresh", TRAIN, _after_training),
    Case("train.after_fit", "fresh", TRAIN, _after_training),
    Case("train.after_mlflow_register", "fresh", TRAIN, _after_training),
    Case("train.after_registered", "fresh", TRAIN, _after_training),
    Case("gate.after_record", "fresh", TRAIN, _after_training),
    Case("approve.after_record", "pending", ("approve", "tiny", "2"), _after_approve),
    Case("promote.after_commit", "pending", ("promote", "tiny", "2"), _after_promote),
    Case("promote.after_alias", "pending", ("promote", "tiny", "2"), _after_promote),
    Case("rollback.after_commit", "deployed2", ("rollback", "tiny"), _after_rollback),
    Case(
        "rollout.after_start",
        "pending",
        ("deploy", "tiny", "2", "--strategy", "canary"),
        _after_rollout_start,
    ),
    Case("rollout.after_advance", "canary", ("agent", "--once"), _after_advance),
    Case(
        "rollout.after_promote_commit",
        "canary",
        ("rollout", "promote", "tiny"),
        _after_rollout_promote,
    ),
    Case("agent.tick_leased", "pending", ("agent", "--once"), _after_tick),
    Case("reject.after_record", "deployed2", ("reject", "tiny", "2"), _after_reject),
    Case("expiry.after_record", "pending", ("agent", "--once"), _after_expiry, _expiring),
    Case("batch.before_record", "pending", PREDICT, _after_batch_before_record),
    Case("batch.after_record", "pending", PREDICT, _after_batch_record),
    Case("batch.before_publish", "pending", PREDICT, _after_batch_before_publish),
    Case("batch.after_publish", "pending", PREDICT, _after_batch_publish),
    Case(
        "batch.after_rollback",
        "pending",
        ("batch", "rollback", "tiny"),
        _after_batch_rollback,
        _two_outputs_in_postgres,
    ),
]
BY_POINT = {c.point: c for c in CASES}
# the subset also run on PostgreSQL: the ops-store commit points
POSTGRES_POINTS = [
    "train.after_mlflow_register",
    "promote.after_commit",
    "rollback.after_commit",
    "reject.after_record",
    "batch.after_record",
]


def test_every_crash_point_is_exercised() -> None:
    from faults.test_replica_crash import REPLICA_POINTS  # a server replica's controller

    assert sorted(set(BY_POINT) | set(REPLICA_POINTS)) == sorted(POINTS)


def _setup(root: Path, kind: str, ops_store: str | None) -> None:
    """Build the state `kind` names in `root` (in process: faster than the CLI)."""
    _write(root, "auto" if kind == "fresh" else "manual", ops_store)
    if kind == "fresh":
        return
    p = Project(root)
    try:
        p.train()
        p.approve("1")
        p.train(force=True)  # version 2, gate passed, waiting for approval
        _extend(p, kind)
    finally:
        p.store.close()


def _extend(p: Project, kind: str) -> None:
    """From "pending" to `kind`."""
    if kind == "deployed2":
        p.promote("2")
    elif kind == "canary":
        from opsloop import latency

        p.deploy("2", strategy="canary")
        hist = latency.empty()
        hist[latency.bucket(0.001)] = 1
        # one answered candidate request, as a server replica reports it
        p.store.add_serve_stats(
            p.name, "production", "test:1", [ServeStat("2", "candidate", 1, 0, hist)]
        )


class Snapshots:
    """SQLite states built once and copied back for each case. MLflow keeps absolute
    artifact paths, so every case runs in the same folder (`work`), restored from a copy."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.work = base / "project"
        self.stashed: dict[str, Path] = {}

    def restore(self, kind: str) -> Path:
        if kind == "fresh":  # a new folder: no state to copy
            self.work = self.base / f"fresh-{len(list(self.base.glob('fresh-*')))}"
            _setup(self.work, "fresh", None)
            return self.work
        self.work = self.base / "project"
        if kind not in self.stashed:
            if kind == "pending":
                _setup(self.work, "pending", None)
            else:
                self.restore("pending")
                p = Project(self.work)
                try:
                    _extend(p, kind)
                finally:
                    p.store.close()
            check_consistent(self.work)
            while OPENED:
                OPENED.pop().store.close()
            self.stashed[kind] = self.base / f"stash-{kind}"
            shutil.copytree(self.work, self.stashed[kind])
        sync_tree(self.stashed[kind], self.work)
        return self.work


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> Snapshots:
    return Snapshots(tmp_path_factory.mktemp("crash"))


@pytest.mark.parametrize("point", list(BY_POINT))
def test_crash_sqlite(point: str, snapshots: Snapshots) -> None:
    case = BY_POINT[point]
    root = snapshots.restore(case.setup)
    if case.prepare is not None:
        case.prepare(root)
    _killed(_cli(root, *case.command, crash_at=case.point))
    case.verify(root)


@pytest.fixture(params=[POSTGRES])
def pg(request: pytest.FixtureRequest) -> Iterator[str]:
    yield request.getfixturevalue("postgres_url")


@pytest.mark.parametrize("point", POSTGRES_POINTS)
def test_crash_postgres(point: str, pg: str, tmp_path: Path) -> None:
    case = BY_POINT[point]
    root = tmp_path / "p"
    _setup(root, case.setup, pg)
    if case.prepare is not None:
        case.prepare(root)
    _killed(_cli(root, *case.command, crash_at=case.point))
    case.verify(root)


# ---- a crash inside the agent's own scheduled batch prediction -------------------------
# The same crash points, hit through `opsloop agent --once` with a `predict:` schedule due
# (a yearly slot long past: due while no batch run exists, never again once one started).
SCHEDULED = "predict: {input: data/history.parquet, output: out, schedule: '0 0 1 1 *'}\n"
# what the kill leaves (recorded runs, visible folders, log rows, published) and what the
# next tick makes of it; the scheduled run is published (killed before its publication:
# by the next tick's recovery, the run having been recorded with the intent to publish)
AGENT_BATCH = {
    "batch.before_record": ((0, 0, 0, False), (1, 1, ROWS, True)),
    "batch.after_record": ((1, 0, 0, False), (1, 1, ROWS, True)),
    "batch.before_publish": ((1, 1, ROWS, False), (1, 1, ROWS, True)),
    "batch.after_publish": ((1, 1, ROWS, True), (1, 1, ROWS, True)),
}


def _counts(b: BatchState) -> tuple[int, int, int, bool]:
    return (len(b.succeeded), len(b.visible), b.log_rows, b.published is not None)


def _whole(root: Path, b: BatchState) -> None:
    """Readers see no half output: every visible run folder holds all its rows, the log
    holds a run's rows wholly or not at all, a manifest names the store's publication."""
    import pyarrow.parquet as pq

    for name in b.visible:
        files = (root / "out" / name).glob("*.parquet")
        assert sum(pq.ParquetFile(f).metadata.num_rows for f in files) == ROWS, name
    assert b.log_rows in (0, ROWS), b
    assert b.manifest is None or b.manifest == b.published, b


@pytest.mark.parametrize("point", list(AGENT_BATCH))
def test_crash_in_agent_scheduled_batch(point: str, snapshots: Snapshots) -> None:
    root = snapshots.restore("pending")
    (root / "opsloop.yaml").write_text((root / "opsloop.yaml").read_text() + SCHEDULED)
    _killed(_cli(root, "agent", "--once", crash_at=point))
    killed, recovered = AGENT_BATCH[point]
    b = _batch(root)
    assert _counts(b) == killed, b
    _whole(root, b)
    for _ in range(2):  # the next tick finishes or reruns it; a second one does nothing
        _recover(root)
        b = _batch(root)
        assert _counts(b) == recovered, b
        _whole(root, b)
        assert b.manifest == b.published, b
    assert b.visible == [f"run={b.succeeded[0]}"]
    check_consistent(root)
