"""Label files on DuckDB alone (no pandas, no NumPy), for `opsloop labels add`: a Parquet
label file's two columns as pandas would read them, the validated rows stored as the
normalised label file `engines/labels.py` writes with pandas, and how many ids have a logged
prediction (the query `DuckDBEngine.count_logged` runs).

A file or a column type this cannot read as pandas would gives None, and the caller uses
pandas (`engines/labels.py`).
"""

from __future__ import annotations

import contextlib
import errno
import glob
import math
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from opsloop.data.label_rows import Kind, LabelColumn, ValidRows
from opsloop.errors import file_error

# Parquet types whose pandas dtype is certain (pandas' int64 becomes float64 with missing
# values, bool object); other widths and types are left to pandas
_KINDS: dict[str, Kind] = {
    "BIGINT": "int",
    "DOUBLE": "float",
    "BOOLEAN": "bool",
    "VARCHAR": "str",
}
# beyond this many rows pandas' vectorised validator is the faster one
MAX_ROWS = 2**18


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


def read_parquet_columns(
    con: duckdb.DuckDBPyConnection, path: Path, wanted: tuple[str, ...]
) -> dict[str, LabelColumn] | None:
    """The `wanted` columns of a Parquet file as pandas would hold them, or None (missing
    columns, other types, an unreadable or large file: pandas reads it and says why)."""
    source = f"read_parquet({quote(str(path))})"
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
        types = {str(r[0]): str(r[1]) for r in described}
        if any(types.get(name) not in _KINDS for name in wanted):
            return None
        columns = ", ".join('"' + name.replace('"', '""') + '"' for name in wanted)
        rows = con.execute(f"SELECT {columns} FROM {source} LIMIT {MAX_ROWS + 1}").fetchall()
    except duckdb.Error:
        return None
    if not rows or len(rows) > MAX_ROWS:
        return None
    out: dict[str, LabelColumn] = {}
    for n, name in enumerate(wanted):
        values = [None if _missing(r[n]) else r[n] for r in rows]
        kind = _KINDS[types[name]]
        if None in values and kind == "int":
            kind, values = "float", [None if v is None else float(v) for v in values]
        elif None in values and kind == "bool":
            kind = "object"
        out[name] = LabelColumn(kind, values)
    return out


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def write_label_rows(
    con: duckdb.DuckDBPyConnection, rows: ValidRows, labels_root: Path, name: str
) -> None:
    """Store `rows` as `labels_root/name` (prediction_id, label, label_ts now), written to
    a temporary name and renamed: readers never see a partial file."""
    tmp = labels_root / f".{name}.tmp"
    try:
        labels_root.mkdir(parents=True, exist_ok=True)
        con.execute(  # in the rows' order (DuckDB's preserve_insertion_order, the default)
            "COPY (SELECT unnest(?::VARCHAR[]) AS prediction_id, "
            f"unnest(?::{rows.label_type}[]) AS label, "
            "CAST(? AS TIMESTAMPTZ) AS label_ts) "
            f"TO {quote(str(tmp))} (FORMAT parquet)",
            [rows.ids, rows.labels, datetime.now(UTC).isoformat()],
        )
        os.replace(tmp, labels_root / name)
    except (OSError, duckdb.IOException) as exc:  # nothing stored
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        error = exc if isinstance(exc, OSError) else _os_error(exc, labels_root)
        raise file_error(error, "storing the labels", labels_root) from None


# DuckDB reports a file system error as an IOException whose text quotes strerror: the
# errno recovered from it gives `file_error` its fix (free space, permissions)
_STRERRORS = {os.strerror(e): e for e in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC)}


def _os_error(exc: Exception, path: Path) -> OSError:
    text = str(exc)
    for message, number in _STRERRORS.items():
        if message in text:
            return OSError(number, message, str(path))
    return OSError(text)


def count_logged(
    con: duckdb.DuckDBPyConnection, prediction_root: Path, model: str, ids: Sequence[str]
) -> int:
    """How many of the distinct `ids` have a row in `model`'s prediction log."""
    pattern = str(prediction_root / f"model={model}" / "*" / "*" / "*.parquet")
    if not ids or not glob.glob(pattern):
        return 0
    row = con.execute(
        "SELECT count(*) FROM (SELECT DISTINCT unnest(?::VARCHAR[]) AS prediction_id) "
        "WHERE prediction_id IN (SELECT CAST(prediction_id AS VARCHAR) FROM "
        f"read_parquet({quote(pattern)}, hive_partitioning = false, "
        "union_by_name = true))",
        [list(ids)],
    ).fetchone()
    return int(row[0]) if row else 0
