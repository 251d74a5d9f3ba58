"""Stage two's predictions over millions of candidate rows: features built and predicted
in blocks, on worker threads.

HistGradientBoosting's predictor walks one tree over every row it is given, then the next
tree: given a whole chunk of users' candidates (a million rows × ~40 features, 300 MiB as
the float64 it converts them to), each of its 60 trees streams that matrix from memory
again, and the feature matrix, its float64 copy and the columns it is built from are all
held at once. Built and predicted in blocks of `BLOCK_ROWS` rows, a block (~5 MiB of
float32 features) is written column by column and read by every tree while it is in the
CPU's cache, and the memory held is a block's per worker, not the chunk's.

Its parallelism is one OpenMP loop per tree, each ending at a barrier: on a machine shared
with other jobs every barrier waits for a preempted thread (docs/ranking.md: a fit 40×
slower with two threads than with one under load). Here each worker thread predicts whole
blocks with one OpenMP thread of its own, so a preempted worker delays only its block. The
arithmetic per row is the same whatever the blocks and workers: so are the scores.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

BLOCK_ROWS = 32_768


def _one_openmp_thread() -> None:
    """Cap OpenMP in the calling (worker) thread: the limit is per thread."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="openmp")


def score_in_blocks(
    score_rows: Callable[[int, int], np.ndarray],
    n_rows: int,
    *,
    workers: int = 1,
    block: int = BLOCK_ROWS,
) -> np.ndarray:
    """``score_rows(a, b)`` (the scores of rows ``a..b-1``, e.g. their features built and
    predicted) for consecutive blocks of ``block`` rows, concatenated as float64;
    ``workers`` > 1 scores that many blocks at once on threads with one OpenMP thread each
    (one worker: in the calling thread, with its OpenMP settings)."""
    if block < 1 or workers < 1:
        raise ValueError(f"block and workers must be at least 1, got {block} and {workers}")
    out = np.empty(n_rows, dtype=np.float64)
    spans = [(lo, min(lo + block, n_rows)) for lo in range(0, n_rows, block)]

    def run(span: tuple[int, int]) -> None:
        out[span[0] : span[1]] = score_rows(*span)

    if workers == 1 or len(spans) <= 1:
        for span in spans:
            run(span)
        return out
    with ThreadPoolExecutor(
        min(workers, len(spans)),
        thread_name_prefix="opsloop-rank",
        initializer=_one_openmp_thread,
    ) as pool:
        for done in pool.map(run, spans):  # re-raises a worker's error here
            del done
    return out
