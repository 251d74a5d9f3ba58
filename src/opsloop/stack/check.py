"""`opsloop stack check`: every component a stack names, verified from this machine, each
with exactly what is wrong and how to fix it — the tracking server (unreachable,
authentication), its database (unreachable, authentication, missing, migrations behind),
the artifact root (written and deleted through the server, or on disk), the ops store
(the same database checks against opsloop's newest migration), the prediction-log root
(writable) and the engine (Java for a Spark engine)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from opsloop.stack.plan import StackPlan, plan_stack
from opsloop.stack.postgres import classify, is_postgres, libpq_url, redact

Problem = Literal[
    "unreachable",
    "authentication",
    "missing_database",
    "migrations_behind",
    "not_writable",
    "missing_dependency",
    "error",
]


@dataclass(frozen=True)
class ComponentCheck:
    component: str
    target: str
    ok: bool
    detail: str
    problem: Problem | None = None
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StackCheck:
    stack: str
    components: tuple[ComponentCheck, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.components)

    @property
    def failed(self) -> list[ComponentCheck]:
        return [c for c in self.components if not c.ok]

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "ok": self.ok,
            "components": [c.to_dict() for c in self.components],
        }


def check_stack(root: Path, stack: str | None = None) -> StackCheck:
    plan = plan_stack(root, stack)
    s = plan.stack
    checks: list[ComponentCheck] = []
    tracking = s.tracking_uri or ""
    if tracking.startswith(("http://", "https://")):
        server = check_tracking_server(tracking)
        checks.append(server)
        if plan.server is not None:  # ours: its database and artifact root are known
            checks.append(check_database("mlflow database", plan.server.backend_store_uri))
        checks.append(
            check_artifacts_via_server(tracking, plan)
            if server.ok
            else ComponentCheck(
                "artifact root",
                f"{tracking} (proxied)",
                False,
                "not checked: the tracking server does not answer",
                "unreachable",
                server.fix,
            )
        )
    else:
        checks.append(check_database("tracking store", tracking))
        checks.append(check_folder("artifact root", s.artifact_location or ""))
    checks.append(check_database("ops store", s.ops_store or ""))
    checks.append(check_folder("prediction log", s.prediction_log or ""))
    checks.append(check_engine(s.engine))
    return StackCheck(plan.name, tuple(checks))


def check_tracking_server(uri: str) -> ComponentCheck:
    import httpx

    name = "tracking server"
    try:
        health = httpx.get(f"{uri}/health", timeout=5)
        answer = httpx.get(
            f"{uri}/api/2.0/mlflow/experiments/search", params={"max_results": 1}, timeout=15
        )
    except httpx.TransportError as exc:
        return ComponentCheck(
            name,
            uri,
            False,
            f"unreachable: {exc.__class__.__name__}: {exc}",
            "unreachable",
            "start it (`opsloop stack up` on this machine) or fix tracking_uri in opsloop.yaml",
        )
    if answer.status_code in (401, 403):
        return ComponentCheck(
            name,
            uri,
            False,
            f"authentication: the server answered {answer.status_code} to the tracking API",
            "authentication",
            "set MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD or MLFLOW_TRACKING_TOKEN "
            "for this user",
        )
    if health.status_code != 200 or answer.status_code != 200:
        return ComponentCheck(
            name,
            uri,
            False,
            f"the server answered /health {health.status_code}, tracking API "
            f"{answer.status_code}: {answer.text[:300]}",
            "error",
            "read the server's log (`opsloop stack up`: .opsloop/stack/<stack>/mlflow.log)",
        )
    return ComponentCheck(name, uri, True, "answers; the tracking API works")


def check_artifacts_via_server(uri: str, plan: StackPlan) -> ComponentCheck:
    """Write and delete one small file through the server's proxied artifact API: what a
    training does, with the server's own storage credentials."""
    import httpx

    target = f"{uri} (proxied)"
    if plan.server is not None:
        target = f"{plan.server.artifacts_destination} via {uri}"
    path = f"opsloop-check/{uuid.uuid4().hex}.txt"
    endpoint = f"{uri}/api/2.0/mlflow-artifacts/artifacts/{path}"
    try:
        put = httpx.put(endpoint, content=b"opsloop stack check\n", timeout=30)
        if put.status_code == 200:
            httpx.delete(endpoint, timeout=30)
            return ComponentCheck("artifact root", target, True, "written and deleted")
    except httpx.TransportError as exc:
        return ComponentCheck(
            "artifact root", target, False, f"unreachable: {exc}", "unreachable", None
        )
    if put.status_code == 404:
        return ComponentCheck(
            "artifact root",
            target,
            False,
            "the server does not proxy artifacts (404 on the mlflow-artifacts API)",
            "error",
            "start `mlflow server` with --serve-artifacts --artifacts-destination URI",
        )
    return ComponentCheck(
        "artifact root",
        target,
        False,
        f"not writable: the server answered {put.status_code} to an upload: {put.text[:300]}",
        "not_writable",
        "give the server's user write access to --artifacts-destination (or the bucket)",
    )


def check_database(component: str, url: str) -> ComponentCheck:
    """Connect, then compare the schema's migration with the newest one the code knows."""
    if is_postgres(url):
        return _check_postgres(component, url)
    if url.startswith("sqlite:///"):
        return _check_sqlite(component, url)
    return ComponentCheck(component, redact(url), True, "not a database opsloop can check")


def _expected_revision(component: str) -> tuple[str, str]:
    """(newest revision, how to migrate) for the ops store or an MLflow database."""
    if component == "ops store":
        from opsloop.store._revision import head_revision

        return head_revision(), "any opsloop command migrates it (e.g. `opsloop status`)"
    return mlflow_head_revision(), "run `mlflow db upgrade <URI>` (`opsloop stack up` does)"


def _revision_check(component: str, target: str, found: str | None) -> ComponentCheck:
    head, how = _expected_revision(component)
    if found == head:
        return ComponentCheck(component, target, True, f"reachable; schema at revision {head}")
    at = "no schema yet" if found is None else f"schema at revision {found}"
    return ComponentCheck(
        component,
        target,
        False,
        f"migrations behind: {at}, this version expects {head}",
        "migrations_behind",
        how,
    )


def _check_postgres(component: str, url: str) -> ComponentCheck:
    import psycopg

    target = redact(url)
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=5) as conn:
            try:
                row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
                found = str(row[0]) if row else None
            except psycopg.errors.UndefinedTable:
                found = None
    except psycopg.OperationalError as exc:
        failure = classify(exc)
        fixes = {
            "unreachable": "start PostgreSQL or fix the host and port in the URL",
            "authentication": "fix the user and password in the URL (or the server's pg_hba.conf)",
            "missing_database": "`opsloop stack up` creates it, or CREATE DATABASE it",
        }
        return ComponentCheck(
            component,
            target,
            False,
            f"{failure.problem.replace('_', ' ')}: {failure.detail}",
            failure.problem,
            fixes.get(failure.problem),
        )
    return _revision_check(component, target, found)


def _check_sqlite(component: str, url: str) -> ComponentCheck:
    path = Path(url.removeprefix("sqlite:///"))
    if not path.exists():
        folder = check_folder(component, str(path.parent))
        if not folder.ok:
            return folder
        return ComponentCheck(component, url, True, "created on first use")
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error as exc:
        return ComponentCheck(component, url, False, f"unreadable: {exc}", "error", None)
    return _revision_check(component, url, str(row[0]) if row else None)


def check_folder(component: str, location: str) -> ComponentCheck:
    """A local folder exists (or can be created) and takes a file; a URI is not checked."""
    if "://" in location and not location.startswith("file://"):
        return ComponentCheck(component, location, True, "remote location: not checked here")
    path = Path(location.removeprefix("file://"))
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        return ComponentCheck(
            component, location, False, f"{probe} is not a folder", "not_writable", None
        )
    if not os.access(probe, os.W_OK | os.X_OK):
        return ComponentCheck(
            component,
            location,
            False,
            f"not writable: {probe} does not let {_user()} write",
            "not_writable",
            f"chmod/chown {probe}, or point it at a folder this user can write",
        )
    return ComponentCheck(
        component, location, True, "writable" if probe == path else "will be created"
    )


def check_engine(engine: str) -> ComponentCheck:
    if engine != "spark":
        return ComponentCheck("engine", engine, True, "in process")
    import importlib.util

    if importlib.util.find_spec("pyspark") is None:
        return ComponentCheck(
            "engine",
            engine,
            False,
            "PySpark is not installed in this environment",
            "missing_dependency",
            'pip install "opsloop[spark]"',
        )
    java = shutil.which("java")
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        java = str(Path(home) / "bin" / "java")
    if java is None:
        return ComponentCheck(
            "engine",
            engine,
            False,
            "Java is missing: Spark needs a Java 17+ runtime (no `java` on PATH, no JAVA_HOME)",
            "missing_dependency",
            "install a JRE (e.g. `apt-get install openjdk-17-jre-headless`) or set JAVA_HOME",
        )
    done = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    version = (done.stderr or done.stdout).splitlines()[0] if (done.stderr or done.stdout) else ""
    return ComponentCheck("engine", engine, done.returncode == 0, f"Java: {version}")


def mlflow_head_revision() -> str:
    """The newest migration of the installed MLflow's database schema, read from its
    migration scripts (without importing MLflow)."""
    import importlib.util

    from alembic.script import ScriptDirectory

    spec = importlib.util.find_spec("mlflow")
    assert spec is not None and spec.submodule_search_locations
    folder = Path(next(iter(spec.submodule_search_locations))) / "store" / "db_migrations"
    heads = ScriptDirectory(str(folder)).get_heads()
    return str(heads[0])


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "this user"
