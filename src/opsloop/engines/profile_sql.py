"""Window profiles in SQL (DuckDB), on a reference profile's layout, in bounded memory.

Two SQL statements stream the window, whatever its size, keeping only bounded state:

1. **counts** — a `UNION ALL` of one `GROUP BY` per feature over a per-feature key (DuckDB
   reads only that feature's column, and the filter columns, in each branch): for a numeric
   feature the sketch key of `opsloop.monitor.sketch` (computed with the same IEEE
   operations as NumPy, so both engines agree exactly; the reference histogram is a function
   of it), a sentinel for null; for a categorical feature the value itself when it is a
   top-k category, else a sentinel for "other", "unseen" or null. At most ~4,200 groups per
   numeric feature and k + 3 per categorical one.
2. **moments** — count, min, max and the shifted sum and sum of squares per numeric feature,
   the type errors of numeric and boolean features (non-null values that `TRY_CAST` cannot
   make a number, or that are not true/false) and the newest `ts` (one ungrouped aggregate;
   these data-quality counts ride along in the same scan).

Numeric columns are read with `TRY_CAST(... AS DOUBLE)`, so a string in a numeric column is
a type error (and a null), never a failed query.

Measured on 1M rows × 15 features (2 cores): ~2 s. Alternatives measured slower or
unbounded: one `GROUPING SETS` scan with the moments (~6 s: DuckDB evaluates every aggregate
in every set), `GROUPING SETS` of mixed key types (~3.8 s), and `histogram()` aggregates,
which DuckDB 2 rewrites into a materialised CTE (memory grows with the window). With
`group_by` (e.g. the log's `date, hour` partitions) each branch and the moments also group
by those columns, giving per-hour profiles that merge into the window's profile.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from opsloop.monitor.profile import BOOLEAN_VALUES, FeatureProfile, Profile, histogram
from opsloop.monitor.sketch import SketchLayout

NULL_KEY = -(1 << 40)
TS = "ts"  # the prediction log's time column: its maximum is the profile's `newest`
SENTINELS = ("\x01opsloop:null", "\x01opsloop:other", "\x01opsloop:unseen")


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def num(value: float) -> str:
    """A double literal that round-trips exactly (a decimal literal would be DECIMAL)."""
    return f"CAST('{float(value)!r}' AS DOUBLE)"


def sketch_key(z: str, layout: SketchLayout) -> str:
    """SQL for `SketchLayout.index` given the standardised value `z` (same operations)."""
    mag = (f"(ceil(ln(least(abs({z}), {num(layout.z_max)})) / {num(layout.log_gamma)}) "
           f"+ {layout.offset})")
    return f"CAST(CASE WHEN abs({z}) < {num(layout.z_min)} THEN 0 ELSE sign({z}) * {mag} END " \
           "AS BIGINT)"


def _key(fp: FeatureProfile, v: str, z: str) -> str:
    if fp.kind == "numeric":
        sk = sketch_key(z, fp.layout) if fp.layout is not None else "0"
        return f"CASE WHEN {v} IS NULL THEN {NULL_KEY} ELSE {sk} END"
    null, other, unseen = (quote(s) for s in SENTINELS)
    parts = [f"WHEN {v} IS NULL THEN {null}"]
    if fp.categories:
        parts.append(f"WHEN {v} IN ({', '.join(quote(c) for c in fp.categories)}) THEN {v}")
    if fp.known is not None:
        known = ", ".join(quote(c) for c in fp.known) or "NULL"
        parts.append(f"WHEN {v} NOT IN ({known}) THEN {unseen}")
    return f"CASE {' '.join(parts)} ELSE {other} END"


def _apply_counts(fp: FeatureProfile, groups: dict[Any, int]) -> FeatureProfile:
    total = sum(groups.values())
    if fp.kind == "numeric":
        sketch = {int(k): c for k, c in sorted(groups.items()) if k != NULL_KEY}
        nulls = groups.get(NULL_KEY, 0)
        return FeatureProfile(**{
            **fp.__dict__, "count": total, "null_count": nulls, "sample": None,
            "sketch": sketch if fp.layout is not None else {},
            "counts": histogram(fp.edge_keys, sketch, total - nulls)})
    null, other, unseen = SENTINELS
    counts = [groups.get(c, 0) for c in fp.categories]
    counts.append(groups.get(other, 0) + groups.get(unseen, 0))
    return FeatureProfile(**{**fp.__dict__, "count": total, "null_count": groups.get(null, 0),
                             "unseen": groups.get(unseen, 0), "counts": counts})


def _utc(ts: Any) -> datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def read_values(con: Any, source: str, params: Sequence[Any], names: Sequence[str], *,
                limit: int) -> dict[str, list[float]]:
    """At most `limit` non-null, non-NaN values (as DOUBLE) of each column `names` of the
    relation `source`, in one statement (one `LIMIT`ed branch per column: memory is bounded
    by `limit` × columns whatever the relation's size)."""
    if not names:
        return {}
    branches = []
    for i, name in enumerate(names):
        cast = f"TRY_CAST({ident(name)} AS DOUBLE)"
        branches.append(f"(SELECT {i} AS f, {cast} AS v FROM {source} "
                        f"WHERE {cast} IS NOT NULL AND NOT isnan({cast}) LIMIT {int(limit)})")
    out: dict[str, list[float]] = {name: [] for name in names}
    rows = con.execute(" UNION ALL ".join(branches), list(params) * len(branches)).fetchall()
    for f, v in rows:
        out[names[f]].append(float(v))
    return out


def run_profile(con: Any, reference: Profile, source: str, params: Sequence[Any] = (),
                group_by: Sequence[str] = ()) -> list[tuple[tuple[Any, ...], Profile]]:
    """Profile the relation `source` (a table, view, table function or parenthesised query,
    with `?` placeholders bound to `params`) on `reference`'s layout with a DuckDB
    connection: one profile per group of `group_by`, or one for the whole relation."""
    columns = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}", params).fetchall()}
    names = [k for k in reference.features if k in columns]
    keys = [ident(k) for k in group_by]
    keys_and_ts = [*keys, ident(TS) if TS in columns else "NULL::TIMESTAMPTZ AS ts"]
    clean, standard, typed = [], [], []
    booleans = ", ".join(quote(v) for v in sorted(BOOLEAN_VALUES))
    for i, name in enumerate(names):
        fp, col = reference.features[name], ident(name)
        if fp.kind == "numeric":
            cast = f"TRY_CAST({col} AS DOUBLE)"
            clean.append(f"CASE WHEN isnan({cast}) THEN NULL ELSE {cast} END AS v{i}")
            clean.append(f"({col} IS NOT NULL AND {cast} IS NULL) AS t{i}")
            typed.append(i)
            if fp.layout is not None:
                standard.append(f"(v{i} - {num(fp.layout.center)}) / {num(fp.layout.scale)} "
                                f"AS z{i}")
        else:
            clean.append(f"CAST({col} AS VARCHAR) AS v{i}")
            if fp.kind == "boolean":
                clean.append(f"(CAST({col} AS VARCHAR) NOT IN ({booleans})) AS t{i}")
                typed.append(i)
    inner = f"SELECT {', '.join([*keys_and_ts, *clean])} FROM {source}"
    if standard:
        inner = f"SELECT *, {', '.join(standard)} FROM ({inner})"
    key_cols = [f"{_key(reference.features[n], f'v{i}', f'z{i}')} AS k{i}"
                for i, n in enumerate(names)]

    per_group: dict[tuple[Any, ...], list[dict[Any, int]]] = {}
    branches = []
    for i, name in enumerate(names):
        is_numeric = reference.features[name].kind == "numeric"
        nk, ck = (f"k{i}", "NULL::VARCHAR") if is_numeric else ("NULL::BIGINT", f"k{i}")
        branches.append(f"SELECT {', '.join([*keys, ''])}{i} AS f, {nk} AS nk, {ck} AS ck, "
                        f"count(*) AS n FROM (SELECT {', '.join([*keys, key_cols[i]])} "
                        f"FROM ({inner})) GROUP BY {', '.join([*keys, f'k{i}'])}")
    if branches:
        rows = con.execute(" UNION ALL ".join(branches), list(params) * len(branches))
        for row in rows.fetchall():
            group = tuple(row[: len(keys)])
            f, nk, ck, n = row[len(keys) :]
            slot = per_group.setdefault(group, [{} for _ in names])
            slot[f][nk if ck is None else ck] = int(n)

    moments = ["count(*)"]
    numeric = [i for i, n in enumerate(names) if reference.features[n].kind == "numeric"]
    for i in numeric:
        d = f"(CASE WHEN isfinite(v{i}) THEN v{i} END - " \
            f"{num(reference.features[names[i]].shift)})"
        moments += [f"min(v{i})", f"max(v{i})", f"sum({d})", f"sum({d} * {d})"]
    moments += [f"count_if(t{i})" for i in typed]
    moments.append(f"max({ident(TS)})")
    sql = f"SELECT {', '.join([*keys, *moments])} FROM ({inner})"
    if keys:
        sql += f" GROUP BY {', '.join(keys)}"
    out = []
    for row in sorted(con.execute(sql, params).fetchall(), key=lambda r: tuple(r[: len(keys)])):
        group, total = tuple(row[: len(keys)]), int(row[len(keys)])
        if keys and total == 0:
            continue
        counts = per_group.get(group, [{} for _ in names])
        features = {}
        for i, name in enumerate(names):
            fp = _apply_counts(reference.features[name], counts[i])
            fp.count = total
            if fp.kind == "numeric":
                at = len(keys) + 1 + 4 * numeric.index(i)
                lo, hi, s, ss = row[at : at + 4]
                fp.min, fp.max = (None if lo is None else float(lo)), \
                    (None if hi is None else float(hi))
                fp.sum, fp.sum_sq = float(s or 0.0), float(ss or 0.0)
            if i in typed:
                fp.type_errors = int(row[len(keys) + 1 + 4 * len(numeric) + typed.index(i)] or 0)
            features[name] = fp
        out.append((group, Profile(total, features, _utc(row[-1]))))
    return out
