"""The DuckDB connection a batch prediction reads its input through (both tasks)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

SCAN_THREADS = 1
MEMORY_LIMIT = "1GB"  # DuckDB's; the scan streams, this caps a runaway query


def connect() -> duckdb.DuckDBPyConnection:
    import duckdb

    # one scan thread: the model's OpenMP threads take the cores while DuckDB decodes the
    # next batch, and two scan threads only competed with them (docs/benchmarks.md)
    con = duckdb.connect(config={"threads": SCAN_THREADS, "memory_limit": MEMORY_LIMIT})
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET disable_parquet_prefetching = true")  # flat memory (docs/benchmarks.md)
    return con


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
