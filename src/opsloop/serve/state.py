"""What the server routes by, and the reloader that follows the ops store.

The ops store's current deployment and running rollout are the truth. A daemon thread
polls them every `reload_interval`; on a change it loads the versions it needs (slow:
MLflow) off the request path and then swaps one immutable `Routing` reference, so requests
in flight finish on the models they started with and none fails during a switch. A failed
load keeps the old routing serving and is retried with back-off.

A version that stops being served stays loaded for `rollback_window` (blue-green: a
rollback right after a switch needs no load). The same thread flushes the replica's serving
statistics to the ops store, where the rollout analysis reads them (`deploy/analysis.py`),
and runs the champion-alias reconciler (`reconcile`, `deploy/reconcile.py`) after each
routing change and every `RECONCILE_INTERVAL` seconds.

An ops store that cannot be reached (PostgreSQL down, a network cut) does not stop the
answers: the last routing keeps serving, `store_error` says why in one line (readiness's
`degraded`, `opsloop_ops_store_degraded` in /metrics), the server log gets one line when it
starts, then at most one a minute, and one when the store answers again — recovery is the
next poll that succeeds, nobody has to act. Serving statistics not flushed meanwhile are
kept and flushed then.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from opsloop.redact import exception_line
from opsloop.registry.base import LoadedModel
from opsloop.serve.stats import ServeStats
from opsloop.store.records import Rollout
from opsloop.store.sql import OpsStore

log = logging.getLogger("opsloop.serve")

_BUCKETS = 10_000
RECONCILE_INTERVAL = 30.0  # seconds between two checks of the registry's champion alias
STORE_LOG_EVERY = 60.0  # seconds between two log lines while the ops store stays unreachable


def assignment_bucket(key: str) -> int:
    """A request key's bucket in [0, 10000): the same on every replica (CRC-32, not
    Python's salted hash), so a key stays on one side at a given share."""
    return zlib.crc32(key.encode()) % _BUCKETS


@dataclass(frozen=True)
class Routing:
    """Stable, and during a rollout the candidate with its share of traffic (percent)."""

    stable: LoadedModel
    revision: int
    candidate: LoadedModel | None = None
    mode: str = "stable"  # stable | canary | shadow
    share: float = 0.0
    rollout: int | None = None

    def picks_candidate(self, key: str) -> bool:
        """Does the request with this key go to (canary) or get mirrored to (shadow) the
        candidate? Buckets below share·100 do, so raising the share only moves keys from
        stable to candidate, never back."""
        return self.candidate is not None and assignment_bucket(key) < self.share * 100


class ModelHolder:
    def __init__(
        self,
        model_name: str,
        store: OpsStore,
        load_version: Callable[[str], LoadedModel],
        *,
        env: str = "production",
        reload_interval: float = 2.0,
        rollback_window: float = 600.0,
        stats: ServeStats | None = None,
    ) -> None:
        self.model_name = model_name
        self.store = store
        self.load_version = load_version
        self.env = env
        self.reload_interval = reload_interval
        self.rollback_window = rollback_window
        self.stats = stats
        self.replica = f"{socket.gethostname()}:{os.getpid()}"
        self.routing: Routing | None = None
        self.last_error: str | None = None
        self.load_seconds: float = 0.0
        self._key: tuple[object, ...] | None = None
        self._loaded: dict[str, LoadedModel] = {}
        self._retired: dict[str, float] = {}  # version -> monotonic time it may be dropped
        self._failed: tuple[tuple[object, ...], float] | None = None  # (key, retry-after)
        self._reported: tuple[object, ...] | None = None  # the key of the last failure event
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.reconcile: Callable[[], object] | None = None
        self._reconciled = -RECONCILE_INTERVAL  # monotonic time of the last check
        self.store_error: str | None = None  # one line: why the ops store cannot be polled
        self._store_failures = 0  # failed polls since the store last answered
        self._store_logged = 0.0  # monotonic time of the last log line about it

    @property
    def current(self) -> LoadedModel | None:
        """The stable model (what answers requests outside a rollout)."""
        return None if self.routing is None else self.routing.stable

    def _model(self, version: str) -> LoadedModel:
        if version not in self._loaded:
            t0 = time.perf_counter()
            self._loaded[version] = self.load_version(version)
            self.load_seconds = time.perf_counter() - t0
        return self._loaded[version]

    def refresh(self) -> bool:
        """Follow the ops store; True if the routing changed."""
        deployment, rollout = self.store.find_routing(self.model_name, self.env)
        if deployment is None:
            return False
        key: tuple[object, ...] = (deployment.revision, deployment.version)
        if rollout is not None:
            key += (rollout.id, rollout.step, rollout.share)
        if key == self._key:
            return False
        if self._failed and self._failed[0] == key and time.monotonic() < self._failed[1]:
            return False
        try:
            stable = self._model(deployment.version)
            candidate = None if rollout is None else self._model(rollout.candidate_version)
        except Exception as exc:
            backoff = max(self.reload_interval * 5, 1.0)
            self._failed = (key, time.monotonic() + backoff)
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.error(
                "loading for revision %s failed, still serving %s: %s",
                deployment.revision,
                None if self.routing is None else self.routing.stable.version,
                self.last_error,
            )
            self._report_failure(key, deployment.revision, deployment.version, rollout)
            return False
        routing = Routing(
            stable,
            deployment.revision,
            candidate,
            "stable" if rollout is None else rollout.strategy,
            0.0 if rollout is None else rollout.share,
            None if rollout is None else rollout.id,
        )
        self.routing, self._key = routing, key  # the atomic swap
        self._failed = None
        self.last_error = None
        self._retire({deployment.version} | ({rollout.candidate_version} if rollout else set()))
        log.warning(
            "serving %s version %s (revision %s)%s",
            self.model_name,
            stable.version,
            deployment.revision,
            ""
            if candidate is None
            else f", {routing.mode} candidate {candidate.version} at {routing.share:g}%",
        )
        return True

    def _report_failure(
        self, key: tuple[object, ...], revision: int, version: str, rollout: Rollout | None
    ) -> None:
        """A `model_load_failed` event, once per routing this replica cannot load (the
        retries after the backoff stay in the log): `opsloop status` shows it."""
        if self._reported == key:
            return
        self._reported = key
        serving = None if self.routing is None else self.routing.stable.version
        wanted = [version] + ([] if rollout is None else [rollout.candidate_version])
        try:
            self.store.add_event(
                "model_load_failed",
                self.model_name,
                version=version,
                summary=f"replica {self.replica} cannot load revision {revision} "
                f"(version {' + '.join(wanted)}); still serving {serving or 'nothing'}",
                evidence={
                    "replica": self.replica,
                    "env": self.env,
                    "revision": revision,
                    "versions": wanted,
                    "serving": serving,
                    "error": (self.last_error or "")[:500],
                },
            )
        except Exception as exc:  # the store is down too: the log line above says it
            log.warning("cannot record the load failure in the ops store: %s", exc)

    def _retire(self, serving: set[str]) -> None:
        """Keep versions no longer served for the rollback window, then drop them."""
        now = time.monotonic()
        for version in list(self._loaded):
            if version in serving:
                self._retired.pop(version, None)
            elif version not in self._retired:
                self._retired[version] = now + self.rollback_window
            elif self._retired[version] <= now:
                del self._loaded[version], self._retired[version]

    def flush_stats(self) -> None:
        if self.stats is None:
            return
        rows = self.stats.drain()
        try:
            self.store.add_serve_stats(self.model_name, self.env, self.replica, rows)
        except Exception:
            self.stats.restore(rows)  # retried with the next flush
            raise

    def reconcile_alias(self, *, force: bool = False) -> None:
        """Run the reconciler when one is set and it is due (or `force`); its failure is
        logged and retried at the next interval, never stops the poll."""
        now = time.monotonic()
        if self.reconcile is None or (not force and now - self._reconciled < RECONCILE_INTERVAL):
            return
        self._reconciled = now
        try:
            self.reconcile()
        except Exception as exc:
            log.warning("champion alias not reconciled: %s: %s", type(exc).__name__, exc)

    def _store_failed(self, exc: BaseException) -> None:
        self._store_failures += 1
        self.store_error = "ops store unreachable, serving the last known deployment: " + (
            exception_line(exc)
        )
        now = time.monotonic()
        if self._store_failures == 1 or now - self._store_logged >= STORE_LOG_EVERY:
            self._store_logged = now
            repeats = "" if self._store_failures == 1 else f" ({self._store_failures} polls)"
            log.error("%s%s; will retry every %gs", self.store_error, repeats, self.reload_interval)

    def _store_answered(self) -> None:
        if self.store_error is not None:
            log.warning("ops store reachable again after %d failed poll(s)", self._store_failures)
        self.store_error = None
        self._store_failures = 0

    def poll(self) -> None:
        """One poll: routing, reconciler, retirements, statistics. An ops-store failure
        keeps the current routing and is recorded in `store_error` (module docstring)."""
        try:
            changed = self.refresh()
        except Exception as exc:
            self._store_failed(exc)
            return
        self.reconcile_alias(force=changed)
        if self.routing is not None:
            self._retire(
                {self.routing.stable.version}
                | (set() if self.routing.candidate is None else {self.routing.candidate.version})
            )
        try:
            self.flush_stats()
        except Exception as exc:
            self._store_failed(exc)
            return
        self._store_answered()

    def _run(self) -> None:
        while not self._stop.wait(self.reload_interval):
            try:
                self.poll()
            except Exception:
                log.exception("polling the ops store failed; will retry")

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="opsloop-reloader", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        try:
            self.flush_stats()
        except Exception:
            log.exception("flushing serving statistics at shutdown failed")
