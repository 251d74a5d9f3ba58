"""The rollout controller a server runs (`serve.controller`): one `advance()` every
`deploy.analysis.interval` on a daemon thread. Transitions are compare-and-set in the ops
store, so any number of replicas (and the agent) may tick at once."""

from __future__ import annotations

import logging
import threading

from opsloop.services.admin import AdminService

log = logging.getLogger("opsloop.rollout")


class RolloutTicker:
    def __init__(self, admin: AdminService) -> None:
        self.admin = admin
        self.interval = admin.runtime.config.deploy.analysis.interval.total_seconds()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.admin.advance_rollout()
            except Exception:
                log.exception("rollout controller step failed; will retry")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="opsloop-rollouts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
