"""Prometheus metrics of the prediction server, correct with one process or several.

With `serve.workers > 1` every worker process writes its samples to files in the server's
own temporary `PROMETHEUS_MULTIPROC_DIR` (prometheus_client's multiprocess mode; the
directory is made fresh per server and set before any worker starts) and `/metrics`, on
whichever worker answers, adds them up. Multiprocess mode cannot call a function at scrape
time (`Gauge.set_function`), so the gauges are set from the holder and the log writer: at
each scrape, and — with several workers, so that a scrape sees the others too — every
second by a small thread in each worker. How each gauge combines across workers:
load seconds the largest of the live workers, queued rows the sum over live workers,
dropped and quarantined rows the sum over every worker this server ran, the log's degraded
flag the largest of the live workers, `opsloop_serve_workers` the number of live workers.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:
    from opsloop.serve.gcwatch import GcWatch
    from opsloop.serve.logwriter import PredictionLogWriter
    from opsloop.serve.state import ModelHolder

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


class ServeMetrics:
    def __init__(
        self,
        holder: ModelHolder,
        writer: PredictionLogWriter | None,
        *,
        multiprocess: bool = False,
        refresh_interval: float = 1.0,
        gc_watch: GcWatch | None = None,
    ) -> None:
        self.holder = holder
        self.gc_watch = gc_watch
        self.writer = writer
        self.multiprocess = multiprocess
        self.refresh_interval = refresh_interval
        # In multiprocess mode this registry is never scraped (the files are); the metrics
        # still need one so that two apps in one process (tests) do not collide.
        self.registry = r = CollectorRegistry()
        self.requests = Counter(
            "opsloop_requests",
            "HTTP requests by route, status and version",
            ["route", "status", "model_version"],
            registry=r,
        )
        self.latency = Histogram(
            "opsloop_request_seconds",
            "Request latency by route and the version that answered",
            ["route", "model_version"],
            registry=r,
            buckets=BUCKETS,
        )
        self.predictions = Counter(
            "opsloop_predictions", "Rows predicted", ["model_version"], registry=r
        )
        self.load_seconds = Gauge(
            "opsloop_model_load_seconds",
            "Seconds to load the served version",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.queue_rows = Gauge(
            "opsloop_prediction_log_queue_rows",
            "Rows waiting to be logged",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.dropped_rows = Gauge(
            "opsloop_prediction_log_dropped_rows_total",
            "Rows dropped because the log queue was full",
            registry=r,
            multiprocess_mode="sum",
        )
        self.quarantined_rows = Gauge(
            "opsloop_prediction_log_quarantined_rows_total",
            "Rows set aside in the log's _quarantine folder because they cannot be stored",
            registry=r,
            multiprocess_mode="sum",
        )
        self.log_degraded = Gauge(
            "opsloop_prediction_log_degraded",
            "1 while the prediction log cannot be written (disk full, folder unwritable); "
            "rows stay queued and are written when it can",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.store_degraded = Gauge(
            "opsloop_ops_store_degraded",
            "1 while the ops store cannot be polled (the last known deployment keeps "
            "serving); 0 once it answers again",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.workers = Gauge(
            "opsloop_serve_workers",
            "Live server processes",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.shadow_skipped = Counter(
            "opsloop_shadow_skipped",
            "Shadow mirrors skipped because too many were in flight",
            registry=r,
        )
        self.gc_longest = Gauge(
            "opsloop_gc_longest_pause_seconds",
            "Longest garbage collection of this process, by generation (the request in "
            "flight waits for it)",
            ["generation"],
            registry=r,
            multiprocess_mode="max",
        )
        self.gc_seconds = Gauge(
            "opsloop_gc_pause_seconds_total",
            "Seconds spent in garbage collection, by generation",
            ["generation"],
            registry=r,
            multiprocess_mode="sum",
        )
        self.gc_collections = Gauge(
            "opsloop_gc_collections_total",
            "Garbage collections, by generation",
            ["generation"],
            registry=r,
            multiprocess_mode="sum",
        )
        self.gc_frozen = Gauge(
            "opsloop_gc_frozen_objects",
            "Objects in the permanent generation (frozen after each model load)",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.inference_path = Gauge(
            "opsloop_inference_path",
            "1 for how each served version predicts: array, compiled (inference/compiled.py) or "
            "frame (the model's DataFrame path; `reason` says why); `registered`: the verdict "
            "at registration (compiled, plain or unchecked)",
            ["model_version", "path", "reason", "registered"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _paths(self) -> None:
        from opsloop.serve.predictor import predictor_for

        routing = self.holder.routing
        self.inference_path.clear()
        if routing is None:
            return
        for model in (routing.stable, routing.candidate):
            if model is not None:
                p = predictor_for(model)
                reason = p.reason[:200] if p.path == "frame" else ""
                self.inference_path.labels(model.version, p.path, reason, p.registered).set(1)

    def refresh(self, *, count_frozen: bool = True) -> None:
        """Set the gauges from the server's state (`count_frozen`: also the frozen objects,
        which CPython counts by walking them: gcwatch.py)."""
        self._paths()
        if self.gc_watch is not None:
            for s in self.gc_watch.stats():
                g = str(s.generation)
                self.gc_longest.labels(g).set(s.longest)
                self.gc_seconds.labels(g).set(s.seconds)
                self.gc_collections.labels(g).set(s.collections)
            if count_frozen:
                self.gc_frozen.set(self.gc_watch.frozen())
        self.workers.set(1)
        self.load_seconds.set(self.holder.load_seconds)
        self.queue_rows.set(0 if self.writer is None else self.writer.queued_rows)
        self.dropped_rows.set(0 if self.writer is None else self.writer.dropped_rows)
        self.quarantined_rows.set(0 if self.writer is None else self.writer.quarantined_rows)
        self.log_degraded.set(int(self.writer is not None and self.writer.degraded is not None))
        self.store_degraded.set(int(self.holder.store_error is not None))

    def render(self) -> bytes:
        self.refresh()
        if not self.multiprocess:
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        scrape = CollectorRegistry()
        multiprocess.MultiProcessCollector(scrape)  # type: ignore[no-untyped-call]
        return generate_latest(scrape)

    def _run(self) -> None:
        while not self._stop.wait(self.refresh_interval):
            self.refresh()

    def start(self) -> None:
        self.refresh(count_frozen=False)  # start-up: counted at the first scrape
        if self.multiprocess and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="opsloop-metrics", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self.multiprocess:
            import os

            from prometheus_client import multiprocess

            self.refresh()  # the final counts of this worker (e.g. dropped rows)
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
