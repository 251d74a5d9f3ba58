"""The prediction service: everything a prediction request does, without HTTP.

`PredictionService.answer` checks the model and version, reads and parses the body, routes
the request (stable, canary candidate, or stable plus a shadow mirror), predicts on the
predict thread (serve/batching.py), falls back to stable when a candidate fails, logs the
prediction (built in the writer's thread) and counts the outcome per route and version.
The HTTP routers (serve/routes/) only decode the protocol's body and shape the answer; unit
tests call the service directly.

The request path is kept short (docs/architecture.md, "Serving fast"): no pydantic model per
request, one matrix for all-numeric rows (serve/rows.py), orjson both ways.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from opsloop.config import BatchingConfig
from opsloop.registry.base import LoadedModel
from opsloop.serve.batching import MicroBatcher
from opsloop.serve.errors import RequestError
from opsloop.serve.gcwatch import GcWatch, release_collections, settle_heap, tune_thresholds
from opsloop.serve.logwriter import LoggedRequest, PredictionLogWriter
from opsloop.serve.metrics import ServeMetrics
from opsloop.serve.predictor import limit_native_threads, predict_rows, predictor_for, prepare
from opsloop.serve.rows import ModelInput
from opsloop.serve.scoring import check_finite, refused
from opsloop.serve.state import ModelHolder, Routing
from opsloop.serve.stats import ServeStats
from opsloop.store.sql import OpsStore

MAX_SHADOWS = 64  # shadow predictions in flight per server process

log = logging.getLogger("opsloop.serve")

Parse = Callable[[LoadedModel, bytes], tuple[ModelInput, list[str], str]]
"""A protocol's body parser: (model, body) → (rows, prediction ids, request id)."""
Body = bytes | Callable[[], Awaitable[bytes]]
"""The body, or how to read it (read after the model is checked, so a 404 costs no read)."""


@dataclass(frozen=True)
class Answer:
    model: LoadedModel  # the version that answered
    ids: list[str]  # one prediction id per row
    request_id: str
    prediction: np.ndarray
    score: np.ndarray | None  # P(positive class) of binary classifiers


class PredictionService:
    """Routes, answers and records the predictions of one served model."""

    def __init__(
        self,
        model_name: str,
        store: OpsStore,
        load_version: Callable[[str], LoadedModel],
        *,
        log_writer: PredictionLogWriter | None = None,
        env: str = "production",
        reload_interval: float = 2.0,
        rollback_window: float = 600.0,
        model_threads: int = 1,
        batching: BatchingConfig | None = None,
        multiprocess_metrics: bool = False,
        tune_gc: bool = False,
    ) -> None:
        self.model_name = model_name
        self.log_writer = log_writer
        self.stats = ServeStats()
        # tune_gc: freeze the heap after each load and time every collection (gcwatch.py);
        # process-wide, so the server turns it on, not every service a test builds
        self.gc = GcWatch() if tune_gc else None
        self._load_version = load_version
        self.model_threads = model_threads
        self.holder = ModelHolder(
            model_name,
            store,
            self._load,
            env=env,
            reload_interval=reload_interval,
            rollback_window=rollback_window,
            stats=self.stats,
        )
        self.metrics = ServeMetrics(
            self.holder, log_writer, multiprocess=multiprocess_metrics, gc_watch=self.gc
        )
        self.shadows: set[asyncio.Task[None]] = set()  # shadow predictions in flight
        # Predict calls run one at a time in a dedicated thread, off the event loop; with
        # batching enabled, requests that queue up meanwhile are coalesced.
        on = batching if batching is not None and batching.enabled else None
        self.batcher = MicroBatcher(
            lambda m, rows: predict_rows(m, rows, model_threads),
            max_batch_size=on.max_batch_size if on else 1,
            max_wait=on.max_wait.total_seconds() if on else 0.0,
        )

    # ---- lifecycle -------------------------------------------------------------------
    def _load(self, version: str) -> LoadedModel:
        """Load and probe a version; with `tune_gc`, freeze the heap it leaves (collected
        first when nothing is served yet: no request can be stalled by that)."""
        loaded = self._load_version(version)  # its native libraries are loaded now
        # the load-time probe predicts too: the same native-thread cap as the predict thread
        # (on 2 busy cores an uncapped OpenMP team stalled it from ~25 ms to seconds)
        limit_native_threads(self.model_threads)
        model = prepare(loaded)
        self._record_path(model)
        if self.gc is not None:
            settle_heap(self.gc, collect=self.holder.routing is None)
        return model

    def _record_path(self, model: LoadedModel) -> None:
        """A `server_loaded` event: which inference path this replica chose for the version
        and why (`opsloop status` shows it next to the replica)."""
        p = predictor_for(model)
        try:
            self.holder.store.add_event(
                "server_loaded",
                self.model_name,
                version=model.version,
                summary=f"replica {self.holder.replica} serves version {model.version} by its "
                f"{p.path} path" + (f" ({p.reason})" if p.path == "frame" else ""),
                evidence={
                    "replica": self.holder.replica,
                    "env": self.holder.env,
                    "path": p.path,
                    "reason": p.reason[:500],
                    "registered": p.registered,
                },
            )
        except Exception as exc:  # the store is down: the version still serves
            log.warning("cannot record the inference path in the ops store: %s", exc)

    def start(self) -> None:
        """Load the deployed version and start the background threads (call in a loop)."""
        if self.gc is not None:
            tune_thresholds()
            self.gc.start()
        try:
            self.holder.refresh()
        finally:  # held by the server process's start-up (gcwatch.py); settled by now
            release_collections()
        self.holder.start()
        if self.log_writer is not None:
            self.log_writer.start()
        self.metrics.start()
        self.batcher.start()

    async def stop(self) -> None:
        """Finish the shadows in flight (their answers are logged too), then stop."""
        if self.shadows:
            await asyncio.wait(list(self.shadows), timeout=30)
        await self.batcher.stop()
        self.holder.stop()
        if self.log_writer is not None:
            self.log_writer.close()
        self.metrics.close()
        if self.gc is not None:
            self.gc.stop()

    # ---- what is served --------------------------------------------------------------
    def routing_for(self, name: str) -> Routing:
        if name != self.model_name:
            raise RequestError(
                404, f"unknown model {name!r}; this server serves {self.model_name!r}"
            )
        routing = self.holder.routing
        if routing is None:
            raise RequestError(
                503,
                f"no version of {self.model_name!r} is deployed yet; "
                "train and promote one (`opsloop train`)",
            )
        return routing

    def degraded(self) -> list[str]:
        """What is not working while answers are given (readiness says so): the prediction
        log, the ops store. With `log_durability: request` a log that cannot be written
        makes the server not ready: it would refuse every prediction."""
        out = [] if self.holder.store_error is None else [self.holder.store_error]
        writer = self.log_writer
        if writer is None or writer.degraded is None:
            return out
        if writer.journal is not None:
            raise RequestError(503, f"not ready: {writer.degraded}")
        return [writer.degraded, *out]

    def served(self, name: str, version: str | None = None) -> LoadedModel:
        """The model answering for `name` (and `version`: stable or candidate)."""
        routing = self.routing_for(name)
        if version is None or version == routing.stable.version:
            return routing.stable
        if routing.candidate is not None and version == routing.candidate.version:
            return routing.candidate
        versions = served_versions(routing)
        raise RequestError(
            404,
            f"version {version!r} of {name!r} is not served; this server "
            f"serves version{'s' if len(versions) > 1 else ''} "
            f"{', '.join(versions)}",
        )

    # ---- the request path ------------------------------------------------------------
    async def answer(
        self,
        route: str,
        parse: Parse,
        body: Body,
        *,
        name: str | None = None,
        version: str | None = None,
        key: str | None = None,
    ) -> Answer:
        """Answer one prediction request: `route` labels the metrics, `key` (default: the
        first prediction id) assigns it to stable or candidate during a rollout, `version`
        asks for one served version (no rollout routing then)."""
        t0 = time.perf_counter()
        model: LoadedModel | None = None
        try:
            name = self.model_name if name is None else name
            routing = self.routing_for(name)
            model = self.served(name, version)
            data = body if isinstance(body, bytes) else await body()
            rows, ids, request_id = parse(model, data)
            key = key or ids[0]
            traffic = "stable" if model is routing.stable else "candidate"
            if version is None and routing.mode == "canary" and routing.picks_candidate(key):
                assert routing.candidate is not None
                model, traffic = routing.candidate, "candidate"
                if model.features != routing.stable.features:
                    rows, ids, request_id = parse(model, data)
            try:
                prediction, score = await self._predict(model, rows, ids, request_id, traffic)
            except Exception:
                if traffic != "candidate":
                    raise
                # a failing candidate costs the caller nothing: stable answers, the error
                # counts against the candidate in the rollout analysis
                log.exception("candidate version %s failed; stable answered", model.version)
                failed, model, traffic = model, routing.stable, "stable"
                if model.features != failed.features:
                    rows, ids, request_id = parse(model, data)
                prediction, score = await self._predict(model, rows, ids, request_id, traffic)
            if version is None and routing.mode == "shadow" and routing.picks_candidate(key):
                assert routing.candidate is not None
                self._mirror(routing.candidate, routing.stable, parse, data, rows, ids, request_id)
        except RequestError as exc:
            self._observe(route, exc.status, "none" if model is None else model.version, t0)
            raise
        self._observe(route, 200, model.version, t0)
        return Answer(model, ids, request_id, prediction, score)

    async def _predict(
        self, model: LoadedModel, rows: ModelInput, ids: list[str], request_id: str, traffic: str
    ) -> tuple[np.ndarray, np.ndarray | None]:
        t0 = time.perf_counter()
        try:
            try:
                prediction, score = await self.batcher.predict(model, rows)
            except ValueError as exc:  # scikit-learn refusing the input: the caller's 4xx
                raise refused(model, exc) from None
            check_finite(prediction, score)
        except Exception:
            self.stats.observe(model.version, traffic, time.perf_counter() - t0, error=True)
            raise
        self.stats.observe(model.version, traffic, time.perf_counter() - t0)
        self.metrics.predictions.labels(model.version).inc(len(rows))
        if self.log_writer is not None:  # the rows are built in the writer's thread
            item = LoggedRequest(
                rows, ids, request_id, time.time(), model.version, traffic, prediction, score
            )
            if self.log_writer.journal is None:
                self.log_writer.submit(item)
            else:  # durable: fsync'd before the answer, off the event loop
                try:
                    await asyncio.to_thread(self.log_writer.submit, item)
                except OSError as exc:
                    raise RequestError(
                        503,
                        "the prediction was not answered: the prediction log cannot record it "
                        f"durably ({exc.strerror or exc})",
                        fix="free space or fix the permissions of the prediction log folder; "
                        "retry the request",
                    ) from None
        return prediction, score

    def _mirror(
        self,
        candidate: LoadedModel,
        stable: LoadedModel,
        parse: Parse,
        body: bytes,
        rows: ModelInput,
        ids: list[str],
        request_id: str,
    ) -> None:
        """Answer a copy of the request with the shadow candidate after the caller's answer
        (a task queued behind it on the predict thread); the answer is logged (route
        `shadow`), never returned. Bounded: beyond MAX_SHADOWS in flight a mirror is
        skipped and counted."""
        if len(self.shadows) >= MAX_SHADOWS:
            self.metrics.shadow_skipped.inc()
            return

        async def run() -> None:
            try:
                copy = rows if candidate.features == stable.features else parse(candidate, body)[0]
            except RequestError:  # stable took this input; the candidate cannot
                self.stats.observe(candidate.version, "shadow", 0.0, error=True)
                return
            try:
                await self._predict(candidate, copy, ids, request_id, "shadow")
            except Exception:  # counted against the candidate by _predict()
                log.exception("shadow version %s failed", candidate.version)

        task = asyncio.create_task(run())
        self.shadows.add(task)
        task.add_done_callback(self.shadows.discard)

    def _observe(self, route: str, status: int, version: str, t0: float) -> None:
        self.metrics.requests.labels(route, str(status), version).inc()
        self.metrics.latency.labels(route, version).observe(time.perf_counter() - t0)


def served_versions(routing: Routing) -> list[str]:
    """The versions a server answers for: stable, then the candidate during a rollout."""
    return [routing.stable.version] + (
        [] if routing.candidate is None else [routing.candidate.version]
    )
