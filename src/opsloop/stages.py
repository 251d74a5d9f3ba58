"""Pipelines as recorded stages: each stage's status, timing and details go to the ops store
as it runs, so `opsloop status` shows a running pipeline and a failed one says where it
stopped."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from opsloop.store.records import utcnow
from opsloop.store.sql import OpsStore

Progress = Callable[[str, str], None]  # (stage, message)


class StageRecorder:
    def __init__(
        self, store: OpsStore, model: str, pipeline: str, *, trigger: str | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.store = store
        self.progress = progress
        self.stages: list[dict[str, Any]] = []
        self.run_id = store.start_run(model, pipeline, trigger=trigger)

    @contextmanager
    def stage(self, name: str) -> Iterator[dict[str, Any]]:
        detail: dict[str, Any] = {}
        entry: dict[str, Any] = {"name": name, "status": "running",
                                 "started": utcnow().isoformat(), "detail": detail}
        self.stages.append(entry)
        self.store.update_run(self.run_id, stages=self.stages)
        if self.progress:
            self.progress(name, "started")
        t0 = time.perf_counter()
        try:
            yield detail
        except BaseException as exc:
            entry.update(status="failed", seconds=round(time.perf_counter() - t0, 3),
                         error=f"{type(exc).__name__}: {exc}")
            self.store.update_run(self.run_id, stages=self.stages)
            raise
        entry.update(status="succeeded", seconds=round(time.perf_counter() - t0, 3))
        self.store.update_run(self.run_id, stages=self.stages)
        if self.progress:
            self.progress(name, "done")

    def succeed(self, result: dict[str, Any]) -> None:
        self.store.update_run(self.run_id, stages=self.stages, status="succeeded", result=result)

    def fail(self, error: BaseException) -> None:
        self.store.update_run(self.run_id, stages=self.stages, status="failed",
                              error=f"{type(error).__name__}: {error}")
