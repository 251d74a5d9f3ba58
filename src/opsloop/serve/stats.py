"""Per-replica serving statistics: requests, errors and prediction-latency histograms per
(version, route), drained to the ops store by the reloader thread.

They are what the rollout analysis judges error rate and latency by, summed over every
replica (histograms on the shared edges of `opsloop.latency` merge by addition).
"""

from __future__ import annotations

import threading

from opsloop import latency
from opsloop.store.records import ServeStat


class ServeStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], tuple[int, int, list[int]]] = {}

    def observe(self, version: str, route: str, seconds: float, *, error: bool = False) -> None:
        with self._lock:
            requests, errors, hist = self._counts.get((version, route)) or (0, 0, latency.empty())
            hist[latency.bucket(seconds)] += 1
            self._counts[(version, route)] = (requests + 1, errors + int(error), hist)

    def drain(self) -> list[ServeStat]:
        """Everything observed since the last drain (and reset)."""
        with self._lock:
            counts, self._counts = self._counts, {}
        return [ServeStat(v, r, n, e, h) for (v, r), (n, e, h) in counts.items()]

    def restore(self, rows: list[ServeStat]) -> None:
        """Put drained rows back (their flush failed)."""
        with self._lock:
            for row in rows:
                requests, errors, hist = self._counts.get((row.version, row.route)) or (
                    0,
                    0,
                    latency.empty(),
                )
                self._counts[(row.version, row.route)] = (
                    requests + row.requests,
                    errors + row.errors,
                    latency.merge(hist, row.latency),
                )
