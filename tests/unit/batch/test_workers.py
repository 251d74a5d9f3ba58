"""Batches scored on worker threads come back in input order, each worker's OpenMP capped at
its share of the cores, an error raised for its own batch, and no more than `workers + 1`
batches read ahead."""

from __future__ import annotations

import threading
import time

import pytest

from opsloop.batch.workers import MAX_WORKERS, Plan, plan_for, scored_in_order


def test_plan_gives_each_core_a_worker_up_to_the_cap() -> None:
    assert plan_for(1) == Plan(1, 1)
    assert plan_for(2) == Plan(2, 1)
    assert plan_for(16) == Plan(MAX_WORKERS, 16 // MAX_WORKERS)
    found = plan_for()
    assert 1 <= found.workers <= MAX_WORKERS and found.threads >= 1


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_results_come_back_in_input_order(workers: int) -> None:
    def slow_first(i: int) -> int:
        time.sleep(0.02 if i % 3 == 0 else 0.0)  # earlier batches finish later
        return i * i

    got = list(scored_in_order(range(20), slow_first, Plan(workers, 1)))
    assert got == [(i, i * i) for i in range(20)]


def test_workers_score_on_their_own_threads_with_openmp_capped() -> None:
    # what HistGradientBoosting's predictor asks for its thread count
    from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

    def where(_: int) -> tuple[str, int]:
        return threading.current_thread().name, _openmp_effective_n_threads()

    before = _openmp_effective_n_threads()  # another test in this process may cap it
    got = [r for _, r in scored_in_order(range(6), where, Plan(2, 1))]
    assert all(name.startswith("opsloop-score") for name, _ in got)
    assert {threads for _, threads in got} == {1}
    # the calling thread keeps its own
    assert _openmp_effective_n_threads() == before


def test_an_error_is_raised_for_its_batch_and_reading_stops() -> None:
    read: list[int] = []

    def batches():
        for i in range(100):
            read.append(i)
            yield i

    def score(i: int) -> int:
        if i == 4:
            raise ValueError("bad batch 4")
        return i

    seen = []
    with pytest.raises(ValueError, match="bad batch 4"):
        for batch, _ in scored_in_order(batches(), score, Plan(2, 1)):
            seen.append(batch)
    assert seen == [0, 1, 2, 3]
    assert len(read) <= 4 + 2 + 1  # the failed one, the busy workers' and one queued


def test_at_most_workers_plus_one_batches_are_read_ahead() -> None:
    read: list[int] = []

    def batches():
        for i in range(30):
            read.append(i)
            yield i

    for batch, _ in scored_in_order(batches(), lambda i: i, Plan(3, 1)):
        assert len(read) - batch <= 3 + 1
