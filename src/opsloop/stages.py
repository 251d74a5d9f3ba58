"""Pipelines as recorded stages: each stage's status, timing and details go to the ops store
as it runs, so `opsloop status` shows a running pipeline and a failed one says where it
stopped.

While a stage runs, a background thread writes the run's `heartbeat` every
`heartbeat_interval` seconds (and calls `on_beat`, e.g. to renew the pipeline's lease). A
process that dies stops beating; the agent marks runs whose heartbeat is older than
`agent.heartbeat_timeout` as failed (`orchestrate/recovery.py`), so no run stays "running"
forever.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opsloop.errors import OpsloopError
from opsloop.store.records import utcnow

if TYPE_CHECKING:
    from opsloop.store.sql import OpsStore

Progress = Callable[[str, str], None]  # (stage, message: started | done | "warning: <text>")

log = logging.getLogger("opsloop.stages")


class Heartbeat:
    """Calls `beat()` every `interval` seconds on a daemon thread until stopped."""

    def __init__(self, beat: Callable[[], None], interval: float) -> None:
        self._beat = beat
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="opsloop-heartbeat", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._beat()
            except OpsloopError as exc:  # a missed beat is not fatal; the next one may land
                log.warning("heartbeat failed: %s", exc)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class StageRecorder:
    def __init__(
        self,
        store: OpsStore,
        model: str,
        pipeline: str,
        *,
        trigger: str | None = None,
        progress: Progress | None = None,
        heartbeat_interval: float = 10.0,
        on_beat: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.progress = progress
        self.heartbeat_interval = heartbeat_interval
        self.on_beat = on_beat
        self.stages: list[dict[str, Any]] = []
        self.run_id = store.start_run(model, pipeline, trigger=trigger)

    def beat(self) -> None:
        self.store.beat_run(self.run_id)
        if self.on_beat is not None:
            self.on_beat()

    @contextmanager
    def stage(self, name: str) -> Iterator[dict[str, Any]]:
        detail: dict[str, Any] = {}
        entry: dict[str, Any] = {
            "name": name,
            "status": "running",
            "started": utcnow().isoformat(),
            "detail": detail,
        }
        self.stages.append(entry)
        self.store.update_run(self.run_id, stages=self.stages)
        if self.progress:
            self.progress(name, "started")
        t0 = time.perf_counter()
        try:
            with Heartbeat(self.beat, self.heartbeat_interval):
                yield detail
        except BaseException as exc:
            entry.update(
                status="failed",
                seconds=round(time.perf_counter() - t0, 3),
                error=f"{type(exc).__name__}: {exc}",
            )
            self.store.update_run(self.run_id, stages=self.stages)
            raise
        entry.update(status="succeeded", seconds=round(time.perf_counter() - t0, 3))
        self.store.update_run(self.run_id, stages=self.stages)
        if self.progress:
            self.progress(name, "done")

    def succeed(self, result: dict[str, Any]) -> None:
        self.store.update_run(self.run_id, stages=self.stages, status="succeeded", result=result)

    def skip(self, result: dict[str, Any]) -> None:
        """End the run as `skipped`: it stopped early on purpose (e.g. nothing changed)."""
        self.store.update_run(self.run_id, stages=self.stages, status="skipped", result=result)

    def fail(self, error: BaseException) -> None:
        self.store.update_run(
            self.run_id,
            stages=self.stages,
            status="failed",
            error=f"{type(error).__name__}: {error}",
        )
