"""Scoring a stream of Arrow batches on worker threads, handed back in input order.

HistGradientBoosting's predictor runs each tree as one OpenMP parallel loop over the rows:
~150 parallel regions per batch, each ending at a barrier. With the batch read, encoded and
written on the calling thread in between, one core idled during those steps, and on a busy
machine every region waited at its barrier for a preempted thread (the probe rows' 12-row
prediction took 1.9 s at a load average of 15: docs/benchmarks.md). Here each worker
thread scores whole batches with one OpenMP thread of its own (a preempted worker delays
only its own batch), while the calling thread reads the next batches and writes the
scored ones: every core scores, reading and writing overlap with it, and the trees' arithmetic
per row is the same, so are the answers.

Memory stays bounded: at most `workers + 1` batches are read and not yet handed back.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

B = TypeVar("B")
R = TypeVar("R")

MAX_WORKERS = 4  # batches scored at once (each holds a batch and its matrix in memory)


@dataclass(frozen=True)
class Plan:
    """How many batches are scored at once, and the OpenMP threads each one uses."""

    workers: int
    threads: int


def plan_for(cores: int | None = None) -> Plan:
    """One worker per core (at most `MAX_WORKERS`), the cores shared among them."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
        cores = cores or os.cpu_count() or 1
    workers = max(1, min(cores, MAX_WORKERS))
    return Plan(workers, max(1, cores // workers))


def _limit_openmp(threads: int) -> None:
    """Cap OpenMP in the calling (worker) thread: its limit is per thread."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads, user_api="openmp")


def scored_in_order(
    batches: Iterable[B], score: Callable[[B], R], plan: Plan
) -> Generator[tuple[B, R], None, None]:
    """(batch, `score(batch)`) for each batch, in input order; `plan.workers` batches
    scored at once on worker threads (one worker: in the calling thread). An error in
    `score` is raised here, for its batch; closing the iterator early waits for the batches
    being scored and drops the rest."""
    if plan.workers <= 1:
        for batch in batches:
            yield batch, score(batch)
        return
    pool = ThreadPoolExecutor(
        plan.workers,
        thread_name_prefix="opsloop-score",
        initializer=_limit_openmp,
        initargs=(plan.threads,),
    )
    pending: deque[tuple[B, Future[R]]] = deque()
    try:
        for batch in batches:
            pending.append((batch, pool.submit(score, batch)))
            if len(pending) > plan.workers:  # one queued beyond the busy workers
                oldest, done = pending.popleft()
                yield oldest, done.result()
        while pending:
            oldest, done = pending.popleft()
            yield oldest, done.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
