"""The Parquet files both engines write (`sinks.ParquetAppender`): dictionaries only where
values repeat, statistics on all but floating-point columns, the rows read back as
written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from opsloop.batch.sinks import ParquetAppender, encodings


def _table(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "id": [f"r{seed}-{i}" for i in range(n)],
            "route": ["batch"] * n,
            "color": rng.choice(["red", "blue", None], n).tolist(),
            "score": rng.random(n),
            "months": rng.integers(0, 72, n).astype(float),
            "when": pa.array(rng.integers(0, 10**15, n), pa.timestamp("us", "UTC")),
        }
    )


def test_dictionaries_where_values_repeat_statistics_but_on_floats() -> None:
    dictionary, statistics = encodings(_table(1000, 1))
    assert dictionary == ["route", "color", "months"]
    assert statistics == ["id", "route", "color", "when"]


def test_the_file_reads_back_as_written_with_those_encodings(tmp_path: Path) -> None:
    path = tmp_path / "f.parquet"
    appender = ParquetAppender(path)
    tables = [_table(1000, 1), _table(500, 2)]
    for t in tables:
        appender.write(t)
    appender.close()
    assert appender.rows == 1500
    assert pq.read_table(path).equals(pa.concat_tables(tables))
    meta = pq.ParquetFile(path).metadata.row_group(0)
    columns = {meta.column(i).path_in_schema: meta.column(i) for i in range(meta.num_columns)}
    assert columns["route"].has_dictionary_page and not columns["id"].has_dictionary_page
    assert not columns["score"].has_dictionary_page
    assert columns["when"].is_stats_set and not columns["score"].is_stats_set
