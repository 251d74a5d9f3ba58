"""`opsloop demo`: the whole loop, end to end, on the embedded default.

train v1 → promote → serve (a real `opsloop serve` process) → production traffic in which
drift grows → labels arrive → the agent's monitor detects drift and a performance drop →
the drift trigger retrains v2 on recent data plus the labelled production traffic
(`data.feedback`: the prediction log joined with the labels) → gate → promotion → the running server
answers with v2 without a restart. Everything is recorded in the project's ops store, so
`opsloop status` and `opsloop events` tell the story afterwards.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsloop.errors import StateError

if TYPE_CHECKING:
    import httpx
    import pandas as pd
    from rich.console import Console

    from opsloop.project import Project
    from opsloop.store.records import MonitorResult

# Production traffic: the drift level grows phase by phase.
PHASES = (0.0, 0.5, 1.0, 1.0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(
    predicate: Any,
    timeout: float,
    what: str,
    proc: subprocess.Popen[bytes] | None = None,
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise StateError(f"the server exited while waiting for {what}: {err[-2000:]}")
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise StateError(f"timed out after {timeout:.0f}s waiting for {what}")


class _Server:
    """A real `opsloop serve` process for the demo project."""

    def __init__(self, project: Path) -> None:
        import httpx

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "opsloop",
                "serve",
                "--project",
                str(project),
                "--port",
                str(self.port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def ready(self) -> bool:
        import httpx

        try:
            return self.client.get("/v2/health/ready").status_code == 200
        except httpx.TransportError:
            return False

    def served_version(self, model: str) -> str | None:
        response = self.client.get(f"/v2/models/{model}")
        if response.status_code != 200:
            return None
        versions = response.json().get("versions") or [None]
        return str(versions[0])

    def stop(self) -> None:
        self.client.close()
        stop_process(self.proc)


@contextlib.contextmanager
def terminated_as_exit() -> Iterator[None]:
    """SIGTERM raises SystemExit(143) meanwhile, so a demo stopped by `kill` (or a CI's
    timeout) unwinds its `finally:` blocks and stops the server or web app it started,
    as Ctrl-C already does; the previous handler afterwards. Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _exit(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM a demo's child process, SIGKILL it after 30 s; close its stderr pipe."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stderr:
        proc.stderr.close()


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    import json

    # to_json turns NaN into null, numpy scalars into plain JSON numbers, times into ISO 8601
    text = frame[columns].to_json(orient="records", date_format="iso", date_unit="us")
    return list(json.loads(text))


def send_traffic(
    client: httpx.Client, frame: pd.DataFrame, columns: list[str], batch: int, advance: Any
) -> list[str]:
    """POST `frame`'s `columns` to the server's `/predict` in batches of `batch` rows, as a
    client application would; `advance(n)` after each batch; the answering versions."""
    versions = []
    for start in range(0, len(frame), batch):
        chunk = frame.iloc[start : start + batch]
        response = client.post("/predict", json={"records": _records(chunk, columns)})
        if response.status_code != 200:
            raise StateError(f"the server answered {response.status_code}: {response.text}")
        versions.append(response.json()["model_version"])
        advance(len(chunk))
    return versions


def run_demo(path: Path | None, *, console: Console, rows: int = 3000) -> dict[str, Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.rule import Rule

    from opsloop.cli.render import StageProgress, print_monitor
    from opsloop.examples.churn import FEATURES_CATEGORICAL, FEATURES_NUMERIC, ID, TARGET, TIME
    from opsloop.examples.churn import generate as generate_churn
    from opsloop.project import Project
    from opsloop.scaffold import init_project

    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="opsloop-demo-")) if path is None else Path(path)
    console.print(Rule("[bold]opsloop demo[/] — the whole loop on the embedded default"))
    init_project(root, example="churn")
    console.print(f"1. Project scaffolded at [bold]{root}[/] (churn example, 60 days of history).")
    project = Project(root, actor="demo")
    name = project.name

    with StageProgress(console, "2. Training v1") as progress:
        v1 = project.train(progress=progress)
    if not v1.promoted:
        raise StateError(f"v1 was not promoted: {'; '.join(v1.gate_reasons)}")
    metric = project.config.gate.primary.metric
    console.print(
        f"2. Trained and promoted version [bold]{v1.version}[/]: "
        f"{metric}={v1.metrics[metric]:.4f} "
        f"on {v1.rows['holdout']} holdout rows."
    )

    server = _Server(root)
    summary: dict[str, Any] = {"project": str(root), "v1": v1.to_dict()}
    monitored: MonitorResult | None = None
    try:
        with console.status("3. Starting `opsloop serve`…"):
            _wait(server.ready, 120, "the server to become ready", server.proc)
        console.print(
            f"3. Serving version {server.served_version(name)} at {server.url} "
            "(OIP v2 /v2/models/churn/infer and /predict)."
        )

        # the records carry their event time: the phases one after the other over the
        # last complete hour, the window the agent monitors on the event clock
        columns = [ID, TIME, *FEATURES_NUMERIC, *FEATURES_CATEGORICAL]
        per_phase = max(rows // len(PHASES), 50)
        frames = []
        now = datetime.now(UTC)
        hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
        phase = timedelta(hours=1) / len(PHASES)
        with Progress(
            TextColumn("4. Production traffic (drift {task.fields[drift]:.1f})"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("traffic", total=per_phase * len(PHASES), drift=0.0)
            for i, drift in enumerate(PHASES):
                bar.update(task, drift=drift)
                frame = generate_churn(
                    per_phase,
                    hour + i * phase,
                    hour + (i + 1) * phase,
                    drift=drift,
                    seed=1000 + i,
                    id_prefix=f"prod{i}",
                )
                send_traffic(server.client, frame, columns, 25, lambda n: bar.advance(task, n))
                frames.append(frame)
        import pandas as pd

        production = pd.concat(frames, ignore_index=True)
        console.print(
            f"4. Sent {len(production)} predictions; drift grew over "
            f"{len(PHASES)} phases {list(PHASES)}."
        )

        labels_file = root / "incoming" / "labels.parquet"
        labels_file.parent.mkdir(exist_ok=True)
        production[[ID, TARGET]].to_parquet(labels_file, index=False)
        n_labels = project.add_labels(labels_file).rows
        console.print(
            f"5. {n_labels} labels arrived (`opsloop labels add`); with `data.feedback` the "
            "retrain joins them with the prediction log and learns from the labelled traffic."
        )

        def logged() -> bool:
            window = project.engine.read_window(
                name, hour, datetime.now(UTC) + timedelta(minutes=1)
            )
            return len(window) >= len(production)

        with console.status("Waiting for the prediction log to flush…"):
            _wait(logged, 60, "the prediction log to flush", server.proc)

        with StageProgress(console, "6. Agent tick (monitor → triggers → retrain)") as progress:
            tick = project.tick(force_monitor=True, progress=progress)
        if tick.monitored is not None:
            print_monitor(console, tick.monitored)
        if tick.trained is None:
            raise StateError(
                "the agent did not retrain: " + "; ".join(tick.notes or ["no breach detected"])
            )
        v2 = tick.trained
        learnt = (
            f" on {v2.rows['loaded']} rows from load() + {v2.rows['feedback']} labelled "
            "production rows (the feedback loop)"
            if "feedback" in v2.rows
            else ""
        )
        console.print(
            f"6. Trigger {', '.join(f.trigger for f in tick.fired)} fired → "
            f"retrained version [bold]{v2.version}[/]{learnt}; gate "
            f"{'passed' if v2.gate_passed else 'failed'}: {'; '.join(v2.gate_reasons)}"
        )
        if not v2.promoted:
            raise StateError(f"v2 was not promoted: {'; '.join(v2.gate_reasons)}")

        with console.status("7. Waiting for the running server to pick up the new champion…"):
            _wait(
                lambda: server.served_version(name) == v2.version,
                60,
                f"the server to serve version {v2.version}",
                server.proc,
            )
        check = production.head(3)
        answered = send_traffic(server.client, check, columns, 3, lambda n: None)
        console.print(
            f"7. The running server now answers with version [bold]{answered[-1]}[/] (no restart)."
        )
        monitored = tick.monitored
        summary.update(
            v2=v2.to_dict(),
            monitor=tick.monitored.to_dict() if tick.monitored else None,
            served_after=answered[-1],
        )
    finally:
        server.stop()

    _print_summary(console, project, summary, monitored, time.monotonic() - started)
    return summary


def _print_summary(
    console: Console,
    project: Project,
    summary: dict[str, Any],
    m: MonitorResult | None,
    seconds: float,
) -> None:
    from rich.table import Table

    from opsloop.cli.render import print_table

    v1, v2 = summary["v1"], summary["v2"]
    metric = project.config.gate.primary.metric
    table = Table(title=f"opsloop demo finished in {seconds:.0f}s", show_header=False)
    table.add_row(
        "detected",
        f"drift in {0 if m is None else m.drift_share:.0%} of features "
        f"{[] if m is None else m.summary_model.drifted_features}",
    )
    if m is not None and m.performance_value is not None:
        table.add_row(
            "performance",
            f"{m.performance_metric} = {m.performance_value:.4f} "
            f"on {m.n_labelled} labelled predictions (floor "
            f"{project.config.monitor.performance.floor})",
        )
    table.add_row(
        "versions",
        f"v{v1['version']} ({metric} {v1['metrics'][metric]:.4f} at "
        f"training) → v{v2['version']} ({metric} {v2['metrics'][metric]:.4f} on the "
        "recent holdout)",
    )
    root = summary["project"]
    table.add_row(
        "gate",
        "\n".join(v2["gate_reasons"])
        + f"\n(full report: opsloop gate {project.name} {v2['version']} -p {root})",
    )
    table.add_row("served now", f"version {summary['served_after']}")
    table.add_row("monitor report", str(None if m is None else m.report_path))
    table.add_row("see it", f"opsloop status -p {root}\nopsloop events -p {root}")
    db = project.paths.home / "mlflow.db"
    table.add_row(
        "MLflow UI",
        f"mlflow ui --backend-store-uri sqlite:///{db} "
        f"--default-artifact-root {project.paths.artifacts}",
    )
    print_table(console, table)
