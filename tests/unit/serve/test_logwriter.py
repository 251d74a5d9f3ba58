from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from opsloop.serve import PredictionLogWriter
from opsloop.serve.logrows import LoggedRequest, approx_bytes
from opsloop.serve.rows import ModelInput
from serve_fixtures import FEATURES


def rows(n: int, ts: datetime) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "prediction_id": [f"p{i}" for i in range(n)],
            "request_id": "r",
            "ts": pd.Timestamp(ts),
            "model_version": "1",
            "route": "stable",
            "prediction": 1,
            "score": 0.7,
            "x": range(n),
        }
    )


def read_all(root: Path) -> pd.DataFrame:
    files = sorted(root.glob("model=m/date=*/hour=*/*.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files]) if files else pd.DataFrame()


def test_partitions_by_hour_and_close_flushes(tmp_path: Path) -> None:
    writer = PredictionLogWriter(tmp_path, "m", flush_interval=60)  # never flushes by itself
    writer.start()
    t = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    writer.submit(rows(3, t))
    writer.submit(rows(2, t + timedelta(hours=1)))
    assert read_all(tmp_path).empty
    writer.close()
    assert writer.written_rows == 5 and writer.queued_rows == 0
    dirs = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.glob("model=m/*/*"))
    assert dirs == ["model=m/date=2026-03-01/hour=23", "model=m/date=2026-03-02/hour=00"]
    assert len(read_all(tmp_path)) == 5
    assert not list(tmp_path.rglob("*.tmp"))


def test_full_queue_drops_and_counts(tmp_path: Path) -> None:
    writer = PredictionLogWriter(tmp_path, "m", flush_interval=60, max_queue_rows=4)
    now = datetime.now(UTC)
    assert writer.submit(rows(3, now))
    assert not writer.submit(rows(2, now))
    assert writer.dropped_rows == 2
    writer.close()
    assert len(read_all(tmp_path)) == 3


def churn_like(n: int, pid: str = "p") -> LoggedRequest:
    """A request of `n` rows with a numeric and a categorical feature, as the server logs it."""
    rows = ModelInput(
        FEATURES,
        n,
        columns={
            "x": np.arange(n, dtype=float),
            "color": np.array(["red"] * n, dtype=object),
        },
    )
    ids = [f"{pid}{i}" for i in range(n)]
    return LoggedRequest(
        rows, ids, f"r-{pid}", time.time(), "1", "stable", np.ones(n, dtype=int), np.full(n, 0.7)
    )


def test_approx_bytes_grows_with_rows_and_counts_strings() -> None:
    one, hundred = approx_bytes(churn_like(1)), approx_bytes(churn_like(100))
    # per row: a float (8), a string and its slot (8 + 90), an id (90), prediction and score
    assert hundred - one == 99 * (8 + 98 + 90 + 8 + 8)
    frame = rows(100, datetime.now(UTC))
    objects = sum(dtype.kind == "O" for dtype in frame.dtypes)
    assert objects >= 3  # prediction_id, request_id, route (model_version too)
    assert approx_bytes(frame) >= frame.memory_usage(index=False).sum() + 90 * 100 * objects


def test_a_queue_past_flush_bytes_is_flushed_before_the_interval(tmp_path: Path) -> None:
    item = approx_bytes(churn_like(100))
    writer = PredictionLogWriter(tmp_path, "m", flush_interval=3600, flush_bytes=3 * item)
    writer.start()
    try:
        writer.submit(churn_like(100, "a"))
        writer.submit(churn_like(100, "b"))
        time.sleep(0.3)
        assert writer.written_rows == 0 and writer.queued_bytes == 2 * item  # under the bound
        writer.submit(churn_like(100, "c"))  # reaches it: the writer wakes now, not in an hour
        deadline = time.monotonic() + 30
        while writer.written_rows < 300 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert writer.written_rows == 300 and writer.queued_rows == 0
        assert writer.queued_bytes == 0
        assert len(read_all(tmp_path)) == 300
    finally:
        writer.close()
