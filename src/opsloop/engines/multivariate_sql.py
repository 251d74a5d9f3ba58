"""A window's mean PCA reconstruction error in one DuckDB pass (`opsloop.core.transform`).

The transform is linear, so the whole computation is SQL expressions over the window's
columns, streamed by one ungrouped aggregate (memory bounded whatever the window's size):

    z_j = (encode_j(x_j) − mean_j) / scale_j       p expressions (CASE for the imputation
                                                   and the categorical frequencies)
    t_m = Σ_j W_mj z_j                             k expressions
    e   = √max(Σ_j z_j² − Σ_m t_m², 0)             the row's error (‖z − WᵀWz‖)
    SELECT count(*), avg(e)

Why SQL rather than streaming Arrow batches through NumPy: the expressions are a few hundred
multiply-adds per row, which DuckDB evaluates vectorised on both cores while it decodes the
Parquet, and nothing crosses into Python but two numbers; the batch route pays the
Parquet → Arrow → NumPy conversion of every feature column (strings included, for the
categorical encodings) in one Python thread. Both agree with the NumPy reference
(`frame_error`) to rounding (`tests/integration/test_multivariate_sql.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from opsloop.core.transform import Column, Transform
from opsloop.engines.profile_sql import ident, num, quote


def _encoded(col: Column, present: bool) -> str:
    """SQL for the imputed, encoded (not yet standardised) value of a column."""
    if not present:
        return num(col.impute)
    c = ident(col.name)
    if col.kind == "numeric":
        v = f"TRY_CAST({c} AS DOUBLE)"
        return f"CASE WHEN isfinite({v}) THEN {v} ELSE {num(col.impute)} END"
    v = f"CAST({c} AS VARCHAR)"
    whens = " ".join(f"WHEN {v} = {quote(k)} THEN {num(f)}" for k, f in col.frequencies.items())
    return f"CASE WHEN {v} IS NULL THEN {num(col.impute)} {whens} ELSE {num(0.0)} END"


def error_terms(
    transform: Transform, encode: Callable[[Column], str]
) -> tuple[list[str], list[str], str, str]:
    """The SQL of the error's parts, in any dialect whose `encode` gives a column's
    imputed, encoded value: the standardised values `z_j`, the components `t_m`, and the
    sums Σ z_j² and Σ t_m² (the error is √max(Σz² − Σt², 0))."""
    zs = [
        f"({encode(col)} - {num(col.mean)}) / {num(col.scale)} AS z{j}"
        for j, col in enumerate(transform.columns)
    ]
    ts = []
    for m, row in enumerate(transform.components):
        terms = " + ".join(f"{num(w)} * z{j}" for j, w in enumerate(row))
        ts.append(f"{terms} AS t{m}")
    zz = " + ".join(f"z{j} * z{j}" for j in range(len(transform.columns)))
    tt = " + ".join(f"t{m} * t{m}" for m in range(len(transform.components))) or "0.0"
    return zs, ts or ["0.0 AS t0"], zz, tt


def _errors(transform: Transform, source: str, columns: set[str], keys: Sequence[str] = ()) -> str:
    """A query of each row's reconstruction error `e` (after the columns `keys`)."""
    zs, ts, zz, tt = error_terms(transform, lambda col: _encoded(col, col.name in columns))
    head = "".join(f"{k}, " for k in keys)
    return (
        f"SELECT {head}sqrt(greatest(({zz}) - ({tt}), 0.0)) AS e FROM ("
        f"SELECT *, {', '.join(ts)} FROM (SELECT {head}{', '.join(zs)} FROM {source}))"
    )


def error_query(transform: Transform, source: str, columns: set[str]) -> str:
    """The aggregate `SELECT count(*), avg(error)` over the relation `source`."""
    return f"SELECT count(*), avg(e) FROM ({_errors(transform, source, columns)})"


def error_branch(
    transform: Transform, source: str, columns: set[str], f: int, keys: Sequence[str] = ()
) -> str:
    """The same aggregate as a branch of `profile_sql.profile_branches`' `UNION ALL`
    (its row shape, tagged `f`, grouped by `keys` as they are): rows in `n`, the mean
    error in `s`."""
    head = "".join(f"{k}, " for k in keys)
    group = f" GROUP BY {', '.join(keys)}" if keys else ""
    return (
        f"SELECT {head}{int(f)} AS f, NULL::DOUBLE AS code, false AS inf, count(*) AS n, "
        "NULL::DOUBLE AS lo, NULL::DOUBLE AS hi, avg(e) AS s, NULL::DOUBLE AS ss, 0 AS te, "
        f"NULL::BIGINT AS newest FROM ({_errors(transform, source, columns, keys)}){group}"
    )


def error_result(n: Any, mean: Any) -> tuple[int, float | None]:
    """(rows, mean error) of the aggregate's row; (0, None) for an empty relation."""
    return (0, None) if not n else (int(n), float(mean))


def run_error(
    con: Any,
    transform: Transform,
    source: str,
    params: Sequence[Any] = (),
    *,
    columns: set[str] | None = None,
) -> tuple[int, float | None]:
    """(rows, mean reconstruction error) of the relation `source` (a table, view, table
    function or parenthesised query with `?` placeholders bound to `params`) with a DuckDB
    connection. A feature column the relation lacks is missing on every row (imputed)."""
    if columns is None:
        columns = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}", params).fetchall()}
    row = con.execute(error_query(transform, source, columns), params).fetchone()
    return (0, None) if row is None else error_result(row[0], row[1])
