"""Garbage collection off the request path, and a measurement of what is left on it.

CPython's full (generation-2) collection walks every tracked container. In a server that
has loaded a scikit-learn pipeline (plus pandas, scipy, MLflow, FastAPI) that is a heap of
hundreds of MiB: measured 200–340 ms per full collection here, stalling whatever request is
in flight — the whole p99 at one connection (issue 15). The model and the libraries never
become garbage while they are served, so:

- `settle_heap` moves everything alive after a model is loaded into the permanent
  generation (`gc.freeze()`), which collections no longer walk. Before the first model the
  server answers nothing yet, so it collects first (the start-up garbage is freed, not
  frozen). After a hot swap it only freezes — a collection then would stall the requests
  the old version is answering; the swap's own cyclic garbage (small: fitted estimators
  are acyclic dicts of arrays, freed by reference counting) stays frozen.
- `hold_collections` switches automatic collection off for a server process's start-up
  (imports, config, the model's unpickling): on a heap that grows to ~220k tracked objects
  while scikit-learn, pandas, FastAPI and SQLAlchemy load, CPython ran ~380 collections,
  3 of them full (the last one the collection before the first freeze), ~0.3 of the ~2
  CPU seconds to ready here. Held instead, start-up leaves ~1,400 unreachable objects
  (~0.5 MiB: functions, tuples and types made by imports), so the first `settle_heap`
  after a hold freezes without collecting — that garbage stays, frozen — and turns
  collection back on;
  `release_collections` turns it on in any case (a start with nothing deployed yet).
- `tune_thresholds` makes young collections rarer (generation 0 at `GEN0_THRESHOLD`
  allocations instead of 700): a request allocates a few thousand objects, almost all
  freed by reference counting before a collection would see them.
- `GcWatch` measures every collection with `gc.callbacks` (count, total and longest pause
  per generation) so `/metrics` shows what the request path still pays. The callback only
  stores floats: it can run in any thread at any allocation, so it must not take a lock
  another part of the server may hold (prometheus_client's are copied at scrape time).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

GEN0_THRESHOLD = 20_000
GENERATIONS = 3


@dataclass(frozen=True)
class GcStats:
    """Collections of one generation since the watch started (our own deliberate
    collection when a model is loaded excluded)."""

    generation: int
    collections: int
    seconds: float
    longest: float


class GcWatch:
    """Times every garbage collection in this process while started."""

    def __init__(self) -> None:
        self._count = [0] * GENERATIONS
        self._total = [0.0] * GENERATIONS
        self._longest = [0.0] * GENERATIONS
        self._t0 = 0.0
        self._paused = False
        self._installed = False
        self._frozen: int | None = None  # counted on first ask after each settle

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
            return
        if self._paused:
            return
        pause = time.perf_counter() - self._t0
        g = int(info.get("generation", GENERATIONS - 1))
        self._count[g] += 1
        self._total[g] += pause
        if pause > self._longest[g]:
            self._longest[g] = pause

    def start(self) -> None:
        if not self._installed:
            gc.callbacks.append(self._callback)
            self._installed = True

    def stop(self) -> None:
        if self._installed:
            gc.callbacks.remove(self._callback)
            self._installed = False

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Collections inside are not counted (the server's own, between requests)."""
        self._paused = True
        try:
            yield
        finally:
            self._paused = False

    def stats(self) -> list[GcStats]:
        return [
            GcStats(g, self._count[g], self._total[g], self._longest[g]) for g in range(GENERATIONS)
        ]

    @property
    def longest(self) -> float:
        return max(self._longest)

    def frozen(self) -> int:
        """Objects in the permanent generation. CPython counts them by walking the list
        (~30 ms for the ~350k objects a served churn model leaves, holding the GIL), so
        the count is taken on the first ask after each `settle_heap` (a scrape of
        /metrics), not at start-up nor at every scrape."""
        if self._frozen is None:
            self._frozen = gc.get_freeze_count()
        return self._frozen


def tune_thresholds() -> None:
    """Rarer young collections (module docstring); generations 1 and 2 keep theirs."""
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)


_held = False  # automatic collection switched off by `hold_collections`


def hold_collections() -> None:
    """No automatic collection until the first `settle_heap` or `release_collections`
    (module docstring); call it first thing in a server process. A process whose
    collection is already off is left as it is (and not switched on later)."""
    global _held
    if gc.isenabled():
        gc.disable()
        _held = True


def release_collections() -> None:
    """Automatic collection on again, if `hold_collections` switched it off."""
    global _held
    if _held:
        _held = False
        gc.enable()


def collections_held() -> bool:
    return _held


def settle_heap(watch: GcWatch | None, *, collect: bool) -> None:
    """Freeze what is alive now (after collecting it when `collect`, unless start-up held
    collections: then it is frozen as it is and collection switched back on)."""
    if watch is not None:
        watch._frozen = None
    if _held:
        gc.freeze()
        release_collections()
        return
    if collect:
        if watch is None:
            gc.collect()
        else:
            with watch.paused():
                gc.collect()
    gc.freeze()
