from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from opsloop.serve import PredictionLogWriter


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
