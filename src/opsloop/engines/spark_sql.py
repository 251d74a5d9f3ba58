"""Window profiles and the PCA reconstruction error in Spark SQL, on a reference profile's
layout: the Spark dialect of `profile_sql.py` and `multivariate_sql.py`.

The profile statement returns the same rows as DuckDB's, `(f, code, inf, n, lo, hi, s, ss,
te, newest)`, which `profile_sql.profile_rows` assembles into the profile, so both engines
share the Python half. Its shape differs: DuckDB runs one `GROUP BY` branch per feature
(each reads one column); Spark would scan the files once per branch, so here each row
becomes one struct `(f, code, inf, v, d, te)` per feature (`inline`) in ONE scan, grouped by
`(f, code, inf)` — partial aggregation before the shuffle keeps it bounded, at most ~4,200
codes per numeric feature and len(categories) + 2 per categorical one. The spelling:

- the numeric code is `profile_sql`'s sketch code with the z_max clamp inside the `CASE`
  (Spark's `ceil` returns a BIGINT: ±∞ would overflow it, and ANSI mode raises on that);
  NaN gets a NaN code and NULL a NULL code, both counted as missing, as in DuckDB;
- `isinf` is `abs(v) = ∞`, `TRY_CAST` is `try_cast`, a category's position is
  `array_position` (0 when absent), or for lists longer than `LIST_POSITION_MAX` a join
  on an inline `VALUES` table (Spark broadcasts it);
- `newest` is `unix_micros(max(ts))`.

The keys are the same IEEE operations (`(x − center) / scale`, `ln`, a division, `ceil`), so
Spark, DuckDB and NumPy give the same sketch except for a value whose `ln` lands within one
ulp of a bucket edge (Java's and glibc's `log` are each within one ulp of the exact result;
`tests/integration/spark/` checks identity on random data). Sums are added in another order
(per partition, per code): equal to rounding, as between DuckDB and NumPy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from opsloop.core.profile import BOOLEAN_VALUES, FeatureProfile, Profile
from opsloop.core.transform import Column, Transform
from opsloop.engines.multivariate_sql import error_terms
from opsloop.engines.profile_sql import LIST_POSITION_MAX, clamp_key

# Spark's numeric column types (`DataFrame.dtypes` spelling): no type error is possible
NUMBER_TYPES = frozenset({"tinyint", "smallint", "int", "bigint", "float", "double"})
TS = "ts"
INF = "CAST('Infinity' AS DOUBLE)"


def quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def num(value: float) -> str:
    """A double literal that round-trips exactly (`repr`: 17 significant digits)."""
    value = float(value)
    if math.isnan(value):
        return "CAST('NaN' AS DOUBLE)"
    if math.isinf(value):
        return INF if value > 0 else f"-{INF}"
    return f"CAST('{value!r}' AS DOUBLE)"


def is_number(sql_type: str) -> bool:
    return sql_type in NUMBER_TYPES or sql_type.startswith("decimal")


def _numeric(i: int, fp: FeatureProfile, col: str, sql_type: str) -> str:
    """The feature's struct `(f, code, inf, v, d, te)` of one row (see the module doc)."""
    typed = is_number(sql_type)
    v = f"CAST({col} AS DOUBLE)" if typed else f"try_cast({col} AS DOUBLE)"
    if fp.layout is not None:
        lay = fp.layout
        z = f"(({v} - {num(lay.center)}) / {num(lay.scale)})"
        top = clamp_key(lay)
        mag = f"(CAST(ceil(ln(abs({z})) / {num(lay.log_gamma)}) AS DOUBLE) + {lay.offset})"
        code = (
            f"CASE WHEN isnan({v}) THEN {num(math.nan)} "
            f"WHEN abs({z}) >= {num(lay.z_max)} THEN signum({z}) * {top} "
            f"WHEN abs({z}) < {num(lay.z_min)} THEN {num(0.0)} "
            f"ELSE signum({z}) * {mag} END"
        )
    else:  # the reference had no finite value: only counts and moments
        code = f"CASE WHEN isnan({v}) THEN {num(math.nan)} WHEN {v} IS NOT NULL THEN {num(0.0)} END"
    te = "false" if typed else f"({col} IS NOT NULL AND {v} IS NULL)"
    return (
        f"named_struct('f', {i}, 'code', {code}, 'inf', abs({v}) = {INF}, 'v', {v}, "
        f"'d', {v} - {num(fp.shift)}, 'te', {te})"
    )


def as_text(col: str, sql_type: str) -> str:
    if sql_type == "boolean":
        return f"CASE WHEN {col} THEN 'true' WHEN NOT {col} THEN 'false' END"
    return f"CAST({col} AS STRING)"


def _categorical(i: int, fp: FeatureProfile, col: str, sql_type: str, joined: str | None) -> str:
    """The struct of a categorical or boolean feature: `code` the 1-based position in the
    reference's list (0 absent, −1 null); `joined`, the column holding the position when a
    long list was joined (`profile_query`)."""
    values = fp.known if fp.known is not None else fp.categories
    v = as_text(col, sql_type)
    if joined is not None:
        found = f"coalesce({joined}, 0)"
    elif values:
        found = f"array_position(array({', '.join(quote(c) for c in values)}), {v})"
    else:
        found = "0"
    code = f"CAST(CASE WHEN {v} IS NULL THEN -1 ELSE {found} END AS DOUBLE)"
    te = "false"
    if fp.kind == "boolean":  # a boolean's other values are type errors
        te = f"({v} NOT IN ({', '.join(quote(b) for b in sorted(BOOLEAN_VALUES))}))"
    return (
        f"named_struct('f', {i}, 'code', {code}, 'inf', false, 'v', CAST(NULL AS DOUBLE), "
        f"'d', CAST(NULL AS DOUBLE), 'te', {te})"
    )


def profile_query(
    reference: Profile, source: str, columns: dict[str, str], *, time: str = TS
) -> tuple[list[str], str]:
    """(the reference's features the relation has, one statement whose rows are
    `profile_sql.profile_branches`' rows without group keys); `columns`: name → Spark type.

    One scan: each row becomes one struct per feature (`inline`), grouped by (feature,
    code, inf). A category list longer than `LIST_POSITION_MAX` is looked up by a join on
    an inline `VALUES` table (Spark broadcasts it) before the structs are built."""
    names = [k for k in reference.features if k in columns]
    joins = []
    structs = []
    for i, name in enumerate(names):
        fp = reference.features[name]
        col = f"w.{ident(name)}"
        if fp.kind == "numeric":
            structs.append(_numeric(i, fp, col, columns[name]))
            continue
        values = fp.known if fp.known is not None else fp.categories
        joined = None
        if len(values) > LIST_POSITION_MAX:
            table = ", ".join(f"({quote(c)}, {p})" for p, c in enumerate(values, start=1))
            joins.append(
                f" LEFT JOIN (VALUES {table}) AS t{i}(c{i}, p{i}) "
                f"ON {as_text(col, columns[name])} = t{i}.c{i}"
            )
            joined = f"t{i}.p{i}"
        structs.append(_categorical(i, fp, col, columns[name], joined))
    ts = f"w.{ident(time)}" if time in columns else "CAST(NULL AS TIMESTAMP)"
    rows = f"SELECT inline(array({', '.join(structs)})), {ts} AS ts FROM {source} w{''.join(joins)}"
    return names, (
        "SELECT f, code, inf, count(*) AS n, min(v) AS lo, max(v) AS hi, sum(d) AS s, "
        "sum(d * d) AS ss, count_if(te) AS te, unix_micros(max(ts)) AS newest "
        f"FROM ({rows}) r GROUP BY f, code, inf"
    )


def _encoded(col: Column, present: bool, sql_type: str) -> str:
    if not present:
        return num(col.impute)
    c = ident(col.name)
    if col.kind == "numeric":
        v = f"CAST({c} AS DOUBLE)" if is_number(sql_type) else f"try_cast({c} AS DOUBLE)"
        finite = f"({v} IS NOT NULL AND NOT isnan({v}) AND abs({v}) <> {INF})"
        return f"CASE WHEN {finite} THEN {v} ELSE {num(col.impute)} END"
    v = as_text(c, sql_type)
    whens = " ".join(f"WHEN {v} = {quote(k)} THEN {num(f)}" for k, f in col.frequencies.items())
    return f"CASE WHEN {v} IS NULL THEN {num(col.impute)} {whens} ELSE {num(0.0)} END"


def error_query(transform: Transform, source: str, columns: dict[str, str]) -> str:
    """`SELECT count(*), avg(e)` of each row's reconstruction error over `source`
    (`multivariate_sql._errors` in Spark's dialect)."""
    zs, ts, zz, tt = error_terms(
        transform, lambda col: _encoded(col, col.name in columns, columns.get(col.name, ""))
    )
    inner = f"SELECT {', '.join(zs)} FROM {source}"
    return (
        f"SELECT count(*), avg(sqrt(greatest(({zz}) - ({tt}), 0.0))) FROM "
        f"(SELECT *, {', '.join(ts)} FROM ({inner}) z) e"
    )


def feature_rows(rows: Sequence[object]) -> list[tuple[object, ...]]:
    """Spark `Row`s as the plain tuples `profile_sql.profile_rows` reads."""
    return [tuple(r) for r in rows]  # type: ignore[arg-type]
