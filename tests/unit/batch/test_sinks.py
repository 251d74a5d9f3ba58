"""The run folder and the log write their (nearly) unique columns without a dictionary and the
others with one, and read back the same rows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from opsloop.batch.sinks import LOG_UNIQUE, LogSink, RunFolder


def _dictionary_encoded(path: Path) -> dict[str, bool]:
    meta = pq.ParquetFile(path).metadata
    group = meta.row_group(0)
    return {
        group.column(i).path_in_schema: "RLE_DICTIONARY" in group.column(i).encodings
        or "PLAIN_DICTIONARY" in group.column(i).encodings
        for i in range(meta.num_columns)
    }


def _table(n: int, id_name: str) -> pa.Table:
    return pa.table(
        {
            id_name: pa.array([f"c{i}" for i in range(n)]),
            "score": pa.array([i / n for i in range(n)], pa.float64()),
            "version": pa.repeat(pa.scalar("3"), n),
            "prediction": pa.array([i % 2 for i in range(n)], pa.int64()),
        }
    )


def test_run_folder_skips_the_dictionary_only_for_its_unique_columns(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path, "r1", unique=("customer_id", "score"))
    table = _table(1000, "customer_id")
    folder.write(table)
    ((hidden, _),) = folder.close()
    (part,) = Path(hidden).glob("*.parquet")
    assert _dictionary_encoded(part) == {
        "customer_id": False,
        "score": False,
        "version": True,
        "prediction": True,
    }
    assert pq.read_table(part).equals(table)


def test_log_sink_skips_the_dictionary_for_ids_times_and_scores(tmp_path: Path) -> None:
    assert set(LOG_UNIQUE) == {"prediction_id", "event_ts", "score"}
    sink = LogSink(tmp_path, "m")
    table = _table(500, "prediction_id")
    sink.write(table, datetime(2026, 12, 7, 1, tzinfo=UTC))
    ((hidden, _),) = sink.close()
    assert _dictionary_encoded(Path(hidden)) == {
        "prediction_id": False,
        "score": False,
        "version": True,
        "prediction": True,
    }
    assert pq.read_table(hidden).equals(table)
