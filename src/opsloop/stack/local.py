"""`opsloop stack up` / `down`: the team stack on one machine, for trying it out.

Up: the ops store's and the MLflow server's PostgreSQL databases (created if missing), the
ops store migrated, `mlflow db upgrade` as its own step (the server's own start-up migration
races and hides errors), then `mlflow server` with a proxied artifact root in its own process
group, its pid and log under `.opsloop/stack/<stack>/`, and the prediction-log root.
Down: that process group ends (SIGTERM, then SIGKILL) and the pid file goes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from opsloop.errors import StateError, StoreError
from opsloop.stack.plan import LocalServer, StackPlan, plan_stack
from opsloop.stack.postgres import (
    classify,
    database_of,
    ensure_database,
    is_postgres,
    redact,
    sqlalchemy_url,
)

START_TIMEOUT_S = 180.0  # `mlflow server` takes ~20 s to answer on a busy 2-core machine
STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class StackUp:
    stack: str
    tracking_uri: str
    pid: int
    log: str
    already_running: bool
    created_databases: list[str] = field(default_factory=list)
    ops_store: str = ""
    prediction_log: str = ""
    artifacts_destination: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StackDown:
    stack: str
    pid: int | None  # the server stopped; None when none was running
    forced: bool  # it did not stop on SIGTERM and was killed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def stack_up(root: Path, stack: str | None = None, *, timeout: float = START_TIMEOUT_S) -> StackUp:
    plan = plan_stack(root, stack)
    server = plan.local_server()
    running = _running_pid(server)
    if running is not None:
        return _result(plan, server, running, already=True, created=[])
    if _port_taken(server.host, server.port):
        raise StateError(
            f"port {server.port} on {server.host} is taken by another process, not by this "
            f"stack's MLflow server",
            fix=f"stop that process, or give stacks.{plan.name}.tracking_uri another port",
        )
    server.home.mkdir(parents=True, exist_ok=True)
    created = _prepare_databases(plan, server)
    _open_ops_store(plan)
    with server.log_file.open("ab") as log:
        _upgrade_mlflow(server, log)
        if "://" not in server.artifacts_destination:
            Path(server.artifacts_destination).mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "mlflow", "server",
                "--host", server.host, "--port", str(server.port), "--workers", "1",
                "--backend-store-uri", _mlflow_db(server.backend_store_uri),
                "--serve-artifacts", "--artifacts-destination", server.artifacts_destination,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: `stack down` ends the workers too
        )  # fmt: skip
    server.pid_file.write_text(
        json.dumps({"pid": proc.pid, "tracking_uri": server.tracking_uri, "started": time.time()})
    )
    try:
        _wait_healthy(server, proc, timeout)
    except BaseException:
        _stop_group(proc.pid)
        proc.wait()
        server.pid_file.unlink(missing_ok=True)
        raise
    prediction_log = plan.stack.prediction_log or ""
    if prediction_log and "://" not in prediction_log:
        Path(prediction_log).mkdir(parents=True, exist_ok=True)
    return _result(plan, server, proc.pid, already=False, created=created)


def stack_down(root: Path, stack: str | None = None) -> StackDown:
    plan = plan_stack(root, stack)
    server = plan.local_server()
    pid = _recorded_pid(server)
    if pid is None:
        return StackDown(plan.name, None, forced=False)
    forced = _alive(pid) and _stop_group(pid)
    server.pid_file.unlink(missing_ok=True)
    return StackDown(plan.name, pid, forced=forced)


def _result(
    plan: StackPlan, server: LocalServer, pid: int, *, already: bool, created: list[str]
) -> StackUp:
    return StackUp(
        stack=plan.name,
        tracking_uri=server.tracking_uri,
        pid=pid,
        log=str(server.log_file),
        already_running=already,
        created_databases=created,
        ops_store=redact(plan.stack.ops_store or ""),
        prediction_log=plan.stack.prediction_log or "",
        artifacts_destination=server.artifacts_destination,
    )


def _prepare_databases(plan: StackPlan, server: LocalServer) -> list[str]:
    created = []
    for url in (plan.stack.ops_store or "", server.backend_store_uri):
        if not is_postgres(url):
            continue
        try:
            if ensure_database(url):
                created.append(database_of(url))
        except Exception as exc:  # psycopg's errors: say which server and why
            failure = classify(exc)
            raise StoreError(
                f"cannot create the database {database_of(url)!r} at {redact(url)} "
                f"({failure.problem}): {failure.detail}",
                fix="start PostgreSQL, or fix the URL and its credentials in opsloop.yaml "
                "(`opsloop stack check` says which component is wrong)",
            ) from None
    return created


def _open_ops_store(plan: StackPlan) -> None:
    from opsloop.backends import open_store

    open_store(plan.stack).close()  # creates or migrates its tables


def _mlflow_db(url: str) -> str:
    return sqlalchemy_url(url) if is_postgres(url) else url


def _upgrade_mlflow(server: LocalServer, log: Any) -> None:
    """`mlflow db upgrade` on a fresh or older database, before the server starts."""
    done = subprocess.run(
        [sys.executable, "-m", "mlflow", "db", "upgrade", _mlflow_db(server.backend_store_uri)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if done.returncode != 0:
        raise StoreError(
            f"`mlflow db upgrade` failed on {redact(server.backend_store_uri)} "
            f"(exit {done.returncode}):\n{_tail(server.log_file)}",
            fix=f"see {server.log_file}; `opsloop stack check` tests the database",
        )


def _wait_healthy(server: LocalServer, proc: subprocess.Popen[bytes], timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise StateError(
                f"`mlflow server` exited with {proc.returncode} before it answered:\n"
                + _tail(server.log_file),
                fix=f"see {server.log_file}",
            )
        try:
            if httpx.get(f"{server.tracking_uri}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise StateError(
                f"`mlflow server` did not answer on {server.tracking_uri} within "
                f"{timeout:.0f} s:\n" + _tail(server.log_file),
                fix=f"see {server.log_file}",
            )
        time.sleep(0.5)


def _tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _recorded_pid(server: LocalServer) -> int | None:
    try:
        return int(json.loads(server.pid_file.read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _running_pid(server: LocalServer) -> int | None:
    """The recorded server's pid when it is alive (a stale pid file is removed)."""
    pid = _recorded_pid(server)
    if pid is None:
        return None
    if _alive(pid):
        return pid
    server.pid_file.unlink(missing_ok=True)
    return None


def _alive(pid: int) -> bool:
    """Is `pid` a live process (a zombie child of ours is reaped and counts as dead)?"""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass  # not our child
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return any(_alive(pid) for pid in _group_members(pgid))


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def _stop_group(pgid: int) -> bool:
    """End the process group `pgid` (SIGTERM, then SIGKILL); True when it had to be killed."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        if not _group_alive(pgid):
            return False
        time.sleep(0.2)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    while _group_alive(pgid):
        time.sleep(0.1)
    return True


def _port_taken(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False
