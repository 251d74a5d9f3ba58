from __future__ import annotations

import threading

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from opsloop.ranking._scoring import score_in_blocks


@pytest.fixture(scope="module")
def fitted() -> tuple[HistGradientBoostingClassifier, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3_000, 6)).astype(np.float32)
    x[rng.random(x.shape) < 0.05] = np.nan  # missing values take their learned branch
    y = (np.nan_to_num(x[:, 0]) + 0.5 * np.nan_to_num(x[:, 1]) > 0.2).astype(int)
    model = HistGradientBoostingClassifier(max_iter=20, max_leaf_nodes=7, random_state=0)
    return model.fit(x, y), x


@pytest.mark.parametrize(("workers", "block"), [(1, 1_000), (2, 257), (3, 64), (2, 10_000)])
def test_blocks_and_workers_give_the_models_own_scores(
    fitted: tuple[HistGradientBoostingClassifier, np.ndarray], workers: int, block: int
) -> None:
    model, x = fitted
    whole = model.predict_proba(x)[:, 1]
    spans: list[tuple[int, int]] = []

    def score_rows(lo: int, hi: int) -> np.ndarray:
        spans.append((lo, hi))
        return model.predict_proba(x[lo:hi])[:, 1]

    got = score_in_blocks(score_rows, len(x), workers=workers, block=block)
    assert got.dtype == np.float64 and got.shape == (len(x),)
    assert np.array_equal(got, whole)  # the same arithmetic per row: bit-identical
    assert sorted(spans) == [(lo, min(lo + block, len(x))) for lo in range(0, len(x), block)]


def test_workers_run_blocks_on_other_threads_and_errors_reach_the_caller() -> None:
    x = np.arange(100, dtype=np.float32).reshape(50, 2)
    threads: set[int] = set()

    def record(lo: int, hi: int) -> np.ndarray:
        threads.add(threading.get_ident())
        return x[lo:hi, 0].astype(np.float64)

    assert np.array_equal(score_in_blocks(record, len(x), workers=2, block=5), x[:, 0])
    assert threading.get_ident() not in threads

    def fail(lo: int, hi: int) -> np.ndarray:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        score_in_blocks(fail, len(x), workers=2, block=5)
    assert len(score_in_blocks(fail, 0, workers=2)) == 0
    with pytest.raises(ValueError, match="at least 1"):
        score_in_blocks(record, len(x), block=0)
