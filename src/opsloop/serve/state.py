"""The served model and the reloader that follows the ops store.

The ops store's current deployment revision is the truth. A daemon thread polls it every
`reload_interval`; on a new revision it loads that version (slow: MLflow) off the request
path and then swaps one reference, so requests in flight finish on the model they started
with and none fails during a switch. A failed load keeps the old model serving and is
retried with back-off.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from opsloop.registry.base import LoadedModel
from opsloop.store.sql import OpsStore

log = logging.getLogger("opsloop.serve")


class ModelHolder:
    def __init__(self, model_name: str, store: OpsStore, load_version: Callable[[str], LoadedModel],
                 *, env: str = "production", reload_interval: float = 2.0) -> None:
        self.model_name = model_name
        self.store = store
        self.load_version = load_version
        self.env = env
        self.reload_interval = reload_interval
        self.current: LoadedModel | None = None
        self.revision: int | None = None
        self.last_error: str | None = None
        self.load_seconds: float = 0.0
        self._failed: tuple[int, float] | None = None  # (revision, retry-after monotonic)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> bool:
        """Load the deployed version if its revision changed; True if a swap happened."""
        deployment = self.store.find_deployment(self.model_name, self.env)
        if deployment is None or deployment.revision == self.revision:
            return False
        if self._failed and self._failed[0] == deployment.revision \
                and time.monotonic() < self._failed[1]:
            return False
        t0 = time.perf_counter()
        try:
            model = self.load_version(deployment.version)
        except Exception as exc:
            backoff = max(self.reload_interval * 5, 1.0)
            self._failed = (deployment.revision, time.monotonic() + backoff)
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.error("loading version %s (revision %s) failed, still serving %s: %s",
                      deployment.version, deployment.revision,
                      None if self.current is None else self.current.version, self.last_error)
            return False
        self.load_seconds = time.perf_counter() - t0
        self.current, self.revision = model, deployment.revision  # the atomic swap
        self._failed = None
        self.last_error = None
        log.warning("serving %s version %s (revision %s)", self.model_name, model.version,
                    deployment.revision)
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.reload_interval):
            try:
                self.refresh()
            except Exception:
                log.exception("polling the ops store failed; will retry")

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="opsloop-reloader",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
