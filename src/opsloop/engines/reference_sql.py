"""A reference profile (layout and counts) built from the reference data in DuckDB.

`opsloop.core.profile.compute_profile` builds the same from a pandas frame with NumPy; this
module is for data that should not become a frame (`opsloop drift` on files of millions of
rows): memory stays bounded by the groups, not the rows. Two statements:

1. **Layout** (`reference_layout`; one `UNION ALL`, one branch per feature): per numeric
   feature the count, mean and mean square of its values, from which the population std
   is √(E[x²] − mean²) — unless the mean or mean square is NaN or infinite (which any NaN
   or infinite value, or overflow, makes it) or the variance is below `CANCELLATION` of
   the mean square (the difference would lose digits: a mean far from zero in standard
   deviations, or a constant column). Then the feature's branch runs again with DuckDB's
   `stddev_pop` (Welford) over its finite values only. (A filter on every aggregate costs
   ~40% of the branch, counting the non-finite values ~10%, and `stddev_pop` itself ~10 ms
   per million values against ~1 ms for the mean square, so only data that needs them
   pays.) This statement runs on one DuckDB thread (`one_thread`): a floating-point mean
   is then the same from run to run (on several threads which rows each adds changes, and
   the last digits with it), and the sketch's keys — everything after — with it. It also
   reads each numeric feature's finite minimum and maximum, which size the grid of the
   sketch statement's sums (`profile_sql.grid_exponent`). The mean and std give the
   sketch layout (center, scale); per
   categorical/boolean feature its value counts, top `TOP_CATEGORIES` by (−count, value),
   with the number of distinct values and of values seen once (Good–Turing's rate of new
   categories, the quality check's baseline).
2. **Sketch** (`sketch_branches`, `finish`): the numeric features' `profile_sql` branches
   on that layout (count, min, max and sums per sketch key; a feature whose plain moments
   were finite holds no NaN or infinity, so its branch skips the infinity check,
   `Layout.finite`: ~10% of the branch). `opsloop drift` runs them in
   one statement with the current data's profile on the same layout, so that DuckDB's two
   threads read both files at once. The deciles are read off the per-key counts: the key of
   NumPy's linear-interpolated quantile of rank h = (n − 1)·q is the key holding ranks ⌊h⌋
   and ⌈h⌉ when one key holds both, else the key of the interpolation between the
   former's maximum and the latter's minimum, which the statement returns exactly. So the
   histogram edges (`edge_keys`) equal NumPy's; only the interior decile *values* kept for
   display (`edges`) are interpolated within their bucket (0.5% of the distance from the
   mean). Categorical counts come from statement 1.

The seeded sample of each numeric feature (exact KS on small windows) is read only when a
comparison needs it (`sample`): every finite value (sorted, as NumPy's) when there are at
most `SAMPLE_SIZE`, else DuckDB's reservoir sample — a different, equally uniform sample
than NumPy's, so exact-KS p-values can differ slightly from a profile built with NumPy.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from opsloop.core.profile import (
    BOOLEAN_VALUES,
    HIST_BINS,
    MAX_KNOWN,
    OTHER,
    SAMPLE_SIZE,
    TOP_CATEGORIES,
    FeatureLike,
    FeatureProfile,
    Profile,
)
from opsloop.core.sketch import SketchLayout
from opsloop.engines.profile_sql import (
    NUMBER_TYPES,
    as_text,
    clamp_key,
    ident,
    profile_branches,
    profile_rows,
)

# the layout's variance from E[x²] − mean² must exceed this share of E[x²] (a mean within
# ~30 standard deviations of zero), else the std is read again with Welford's method: the
# mean square's rounding then moves the std by at most ~500× its own relative error
# (~1e-13 summing a million values, so ~1e-10). The layout's std only places the sketch's
# bucket edges (the profile's std comes from statement 2's shifted sums), and Welford's
# own rounding is of the same order
CANCELLATION = 1e-3


@dataclass(frozen=True)
class ReferenceData:
    """The reference profile and what the quality checks learn from the same pass: each
    categorical feature's share of values seen once (Good–Turing)."""

    profile: Profile
    unseen_rate: dict[str, float]


def _double(col: str, sql_type: str) -> str:
    typed = sql_type.upper() in NUMBER_TYPES or sql_type.upper().startswith("DECIMAL")
    return f"CAST({col} AS DOUBLE)" if typed else f"TRY_CAST({col} AS DOUBLE)"


def _layout_branch(
    i: int, spec: FeatureLike, source: str, sql_type: str, top_k: int, finite: bool = False
) -> str:
    col = ident(spec.name)
    if spec.kind == "numeric":
        # plain aggregates: the mean and mean square (`_std`); with `finite` (the branch
        # read again), the finite values' mean and Welford's std
        fin = "FILTER (WHERE isfinite(x))" if finite else ""
        spread = f"stddev_pop(x) {fin}" if finite else "avg(x * x)"
        return (
            f"SELECT {i} AS f, NULL::VARCHAR AS v, count(x) {fin} AS n, NULL::BIGINT AS d, "
            f"0 AS s, count(*) AS t, NULL::BIGINT AS nn, avg(x) {fin} AS mean, "
            f"{spread} AS spread, min(x) {fin} AS lo, max(x) {fin} AS hi "
            f"FROM (SELECT {_double(col, sql_type)} AS x FROM {source})"
        )
    # the null group is kept (it carries the totals when every value is null)
    return (
        f"SELECT {i} AS f, v, n, d, s, t, nn, NULL::DOUBLE AS mean, NULL::DOUBLE AS spread, "
        "NULL::DOUBLE AS lo, NULL::DOUBLE AS hi FROM "
        "(SELECT v, n, count(v) OVER () AS d, "
        "sum(CASE WHEN v IS NOT NULL AND n = 1 THEN 1 ELSE 0 END) OVER () AS s, "
        "sum(n) OVER () AS t, sum(CASE WHEN v IS NOT NULL THEN n ELSE 0 END) OVER () AS nn "
        f"FROM (SELECT v, count(*) AS n FROM (SELECT {as_text(col, sql_type)} AS v FROM {source}) "
        "GROUP BY v) "
        f"QUALIFY v IS NULL OR row_number() OVER (ORDER BY v IS NULL, n DESC, v) <= {top_k})"
    )


def _categorical(
    spec: FeatureLike, rows: Sequence[tuple[Any, ...]]
) -> tuple[FeatureProfile, float]:
    """The reference's own categorical profile from its layout rows, and its rate of
    values seen once."""
    top = [(str(v), int(n)) for _, v, n, *_ in rows if v is not None]
    first = rows[0]
    distinct, singles, total, non_null = (int(x or 0) for x in first[3:7])
    cats = [v for v, _ in top]
    known = sorted(cats) if distinct <= MAX_KNOWN else None
    counts = [n for _, n in top] + [non_null - sum(n for _, n in top)]
    errors = 0
    if spec.kind == "boolean":
        errors = sum(n for v, n in top if v not in BOOLEAN_VALUES)
    fp = FeatureProfile(
        spec.name,
        spec.kind,
        count=total,
        null_count=total - non_null,
        categories=cats,
        known=known,
        counts=counts,
        type_errors=errors,
    )
    return fp, (singles / non_null if non_null else 0.0)


def _finite_keys(fp: FeatureProfile, rows: Sequence[tuple[Any, ...]]) -> np.ndarray:
    """(key, n, min, max) of the finite values per sketch key, in key (value) order, from
    a numeric branch's rows (f, code, inf, n, lo, hi, ...)."""
    assert fp.layout is not None
    top = clamp_key(fp.layout)
    per: dict[int, list[float]] = {}
    for row in rows:
        code = row[1]
        if code is None or code != code or row[2]:
            continue
        key = top if code > top else -top if code < -top else int(code)
        got = per.get(key)
        if got is None:
            per[key] = [key, row[3], row[4], row[5]]
            continue
        got[1] += row[3]
        if row[4] < got[2]:  # min(), max(): the first of equals stays
            got[2] = row[4]
        if row[5] > got[3]:
            got[3] = row[5]
    return np.asarray([per[k] for k in sorted(per)], dtype=float).reshape(-1, 4)


def _lerp(a: float, b: float, t: float) -> float:
    """NumPy's interpolation in `np.quantile` (`_lerp`)."""
    diff = b - a
    return float(b - diff * (1 - t) if t >= 0.5 else a + diff * t)


def deciles(
    layout: SketchLayout, keyed: np.ndarray, n_bins: int = HIST_BINS
) -> tuple[list[float], list[int]]:
    """(edges for display, edge keys) of `n_bins` quantile bins from per-key rows
    (`_finite_keys`): the keys of NumPy's linear quantiles (module docstring)."""
    counts = keyed[:, 1].astype(np.int64)
    n = int(counts.sum())
    cum = np.cumsum(counts)
    first = cum - counts  # rank of each key's first value

    def at(rank: int) -> int:
        return int(np.searchsorted(cum, rank, side="right"))

    values: list[float] = []
    keys: list[int] = []
    for q in np.linspace(0.0, 1.0, n_bins + 1):
        h = (n - 1) * q
        j = int(np.floor(h))
        g = float(h - j)
        a = at(j)
        b = at(min(j + 1, n - 1))
        if a == b or g == 0.0:
            key, lo, hi = int(keyed[a, 0]), float(keyed[a, 2]), float(keyed[a, 3])
            if lo == hi or counts[a] == 1:
                value = lo
            else:  # within the bucket: its values' range, by rank (display only)
                value = lo + (hi - lo) * (h - first[a]) / (counts[a] - 1)
            keys.append(key)
        else:  # rank j is the last of key a, j + 1 the first of key b: both known
            value = _lerp(float(keyed[a, 3]), float(keyed[b, 2]), g)
            keys.append(int(layout.index(np.asarray([value]))[0]))
        values.append(float(min(max(value, keyed[0, 2]), keyed[-1, 3])))
    # sorted(set()) as np.unique, whose masked-array check imports numpy.ma (~20 ms)
    return sorted(set(values)), sorted(set(keys))


@dataclass(frozen=True)
class Layout:
    """What statement 1 learns: the categorical features' profiles (final), the numeric
    features' sketch layouts (their counts come from statement 2), the rows and each
    categorical feature's rate of values seen once."""

    profile: Profile
    unseen_rate: dict[str, float]
    # numeric features whose values are all finite (their plain moments were): statement
    # 2 reads them without the infinity check
    finite: frozenset[str] = frozenset()

    @property
    def numeric(self) -> Profile:
        """The numeric features: statement 2's (those without a finite value get their
        counts and moments there too)."""
        found = {n: fp for n, fp in self.profile.features.items() if fp.kind == "numeric"}
        return Profile(self.profile.n_rows, found)


def _std(row: tuple[Any, ...]) -> float | None:
    """The population std from a numeric layout row of the plain branch, √(E[x²] − mean²);
    None when the branch must be read again (module docstring): a NaN or infinite mean or
    mean square, or a variance below `CANCELLATION` of the mean square."""
    count, mean, square = row[2], row[7], row[8]
    if not count or square == 0.0:  # no value, or every value 0: the std is 0
        return 0.0
    if not (math.isfinite(mean) and math.isfinite(square)):
        return None
    variance = square - mean * mean
    return math.sqrt(variance) if variance > square * CANCELLATION else None


def _all_finite(row: tuple[Any, ...]) -> bool:
    """Whether a numeric feature's values are all finite, from its plain layout row: a NaN
    or infinite value makes the mean and mean square NaN or infinite (as overflow does,
    which only makes this answer no)."""
    return all(v is not None and math.isfinite(v) for v in row[7:9])


def _run(con: Any, branches: Sequence[str], params: Sequence[Any]) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = con.execute(
        " UNION ALL ".join(branches), list(params) * len(branches)
    ).fetchall()
    return rows


@contextmanager
def one_thread(con: Any) -> Iterator[None]:
    """DuckDB on one thread meanwhile (then the connection's setting again): its
    statements read the rows in their order, so a floating-point `avg` (or a seeded sample)
    is the same from run to run — with several threads, which rows each thread adds
    changes between runs, and with it the last digits."""
    (threads,) = con.execute("SELECT current_setting('threads')").fetchone()
    con.execute("SET threads = 1")
    try:
        yield
    finally:
        con.execute(f"SET threads = {int(threads)}")


def reference_layout(
    con: Any,
    source: str,
    features: Sequence[FeatureLike],
    columns: Mapping[str, str],
    params: Sequence[Any] = (),
    *,
    top_k: int = TOP_CATEGORIES,
) -> Layout:
    """Statement 1 on the relation `source` (`columns`: its `describe`) for `features`
    (all present in it); a numeric feature with NaN or infinite values, or whose variance
    the mean square cannot give (`_std`), is read once more, keeping its finite values."""
    specs = list(features)
    types = [columns[s.name] for s in specs]
    branches = [_layout_branch(i, s, source, types[i], top_k) for i, s in enumerate(specs)]
    with one_thread(con):  # the moments in one order: the same layout from run to run
        rows = _run(con, branches, params) if specs else []
        per: list[list[tuple[Any, ...]]] = [[] for _ in specs]
        for row in rows:
            per[row[0]].append(row)
        stds = {i: _std(per[i][0]) for i, s in enumerate(specs) if s.kind == "numeric"}
        all_finite = frozenset(specs[i].name for i in stds if _all_finite(per[i][0]))
        redo = [i for i, std in stds.items() if std is None]
        if redo:
            again = [_layout_branch(i, specs[i], source, types[i], top_k, True) for i in redo]
            for row in _run(con, again, params):
                per[row[0]], stds[row[0]] = [row], row[8]
    n_rows = 0
    found: dict[str, FeatureProfile] = {}
    unseen: dict[str, float] = {}
    for i, (spec, got) in enumerate(zip(specs, per, strict=True)):
        if not got:  # an empty relation: no rows at all
            continue
        n_rows = max(n_rows, int(got[0][5]))
        if spec.kind != "numeric":
            found[spec.name], unseen[spec.name] = _categorical(spec, got)
            continue
        finite, mean, std = int(got[0][2]), got[0][7], stds[i]
        if finite == 0:
            found[spec.name] = FeatureProfile(spec.name, "numeric")
            continue
        center = float(mean)
        layout = SketchLayout(center, float(std) if std and std > 0 else (abs(center) or 1.0))
        lo, hi = got[0][9:11]  # the finite values' range sizes the sums' grid (profile_sql)
        found[spec.name] = FeatureProfile(
            spec.name,
            "numeric",
            layout=layout,
            shift=layout.center,
            min=float(lo) if lo is not None and math.isfinite(lo) else None,
            max=float(hi) if hi is not None and math.isfinite(hi) else None,
        )
    return Layout(Profile(n_rows, found), unseen, all_finite)


def sketch_branches(
    layout: Layout, source: str, columns: Mapping[str, str], *, first: int = 0
) -> tuple[list[str], list[str]]:
    """Statement 2: (the numeric features, their `profile_sql` branches, `f`
    counted from `first`: other branches may share the statement, e.g. the current data's
    profile on this layout)."""
    return profile_branches(
        layout.numeric, source, dict(columns), time="", first=first, finite=layout.finite
    )


def finish(
    layout: Layout, names: Sequence[str], rows: Sequence[tuple[Any, ...]], *, first: int = 0
) -> ReferenceData:
    """The reference profile from statement 2's rows (`f` counted from `first`): deciles
    (histogram edges) from the per-key counts, then the counts on them."""
    features = dict(layout.profile.features)
    if names:
        per: list[list[tuple[Any, ...]]] = [[] for _ in names]
        for row in rows:
            per[row[0] - first].append(row)
        laid: dict[str, FeatureProfile] = {}
        for name, got in zip(names, per, strict=True):
            fp = features[name]
            keyed = _finite_keys(fp, got) if fp.layout is not None else np.empty((0, 4))
            if fp.layout is None or not len(keyed):
                laid[name] = fp
                continue
            edges, edge_keys = deciles(fp.layout, keyed)
            laid[name] = replace(fp, edges=edges, edge_keys=edge_keys)
        counted = profile_rows(Profile(0, laid), names, rows, first=first)[0][1].features
        features.update(counted)
    return ReferenceData(Profile(layout.profile.n_rows, features), layout.unseen_rate)


def reference_profile(
    con: Any,
    source: str,
    features: Sequence[FeatureLike],
    columns: Mapping[str, str],
    params: Sequence[Any] = (),
    *,
    top_k: int = TOP_CATEGORIES,
) -> ReferenceData:
    """The reference profile of the relation `source` (`columns`: its `describe`) for
    `features` (all present in it), without a sample (`sample` adds it): statement 1
    (`reference_layout`), then 2 (`sketch_branches`, `finish`)."""
    layout = reference_layout(con, source, features, columns, params, top_k=top_k)
    names, branches = sketch_branches(layout, source, columns)
    return finish(layout, names, _run(con, branches, params) if branches else [])


def sample(
    con: Any,
    source: str,
    name: str,
    sql_type: str,
    params: Sequence[Any] = (),
    *,
    size: int = SAMPLE_SIZE,
) -> list[float]:
    """A uniform sample of at most `size` finite values of the column `name`, sorted:
    all of them when there are at most `size` (module docstring)."""
    seed = zlib.crc32(name.encode()) % (2**31)
    sql = (
        f"SELECT x FROM (SELECT x FROM (SELECT {_double(ident(name), sql_type)} AS x "
        f"FROM {source}) WHERE isfinite(x)) "
        f"USING SAMPLE reservoir({int(size)} ROWS) REPEATABLE ({seed})"
    )
    with one_thread(con):  # a seeded sample is repeatable on one thread only
        return sorted(float(r[0]) for r in con.execute(sql, list(params)).fetchall())


__all__ = [
    "OTHER",
    "Layout",
    "ReferenceData",
    "deciles",
    "finish",
    "reference_layout",
    "reference_profile",
    "sample",
    "sketch_branches",
]
