"""DuckDB column types by what opsloop makes of them (shared by `opsloop drift`'s kind
inference and batch prediction's input contract)."""

from __future__ import annotations

# type names a numeric feature may have (a prefix match: DECIMAL(18,3) is a DECIMAL)
NUMERIC_TYPES: tuple[str, ...] = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
)
