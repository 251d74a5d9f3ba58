"""A series of consecutive windows in few DuckDB passes (`DuckDBEngine.scan_windows`).

Every row of the series' range gets its window's index,
``(epoch_us(t) − epoch_us(start)) // every_us`` (`WINDOW_KEY`), and each statement of
`scan_window` is run once for all windows, grouped by that index:

1. the profiles (and the multivariate error, as one more branch): `profile_sql`'s
   `UNION ALL` with the index as a group key — one statement over the log for the whole
   series, whose result holds only the windows that have rows (an empty window costs
   nothing);
2. per batch of windows (at most `BATCH_ROWS` rows, so memory stays bounded): the
   labelled rows and every row's score into a temporary table, split by window in NumPy;
   and the raw values of the features each window's exact KS needs, at most `limit` per
   window and feature (`row_number() OVER (PARTITION BY window)`).

The per-window results equal `scan_window`'s: the same rows, the same aggregates per
(window, code) group, the same `ORDER BY ts` within each window.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from opsloop.core.profile import FeatureProfile, Profile, histogram
from opsloop.core.transform import Transform
from opsloop.data.predlog import WINDOW_KEY
from opsloop.engines.base import LABELLED_COLUMNS
from opsloop.engines.multivariate_sql import error_branch, error_result
from opsloop.engines.profile_sql import (
    _categorical,
    _utc,
    clamp_key,
    grid_exponent,
    ident,
    profile_branches,
    run_profile,
)

BATCH_ROWS = 2_000_000  # rows whose labelled rows and scores are read in one statement
KEY = ident(WINDOW_KEY)


def keyed(preds: str, column: str, start_us: int, every_us: int) -> str:
    """The relation `preds` with each row's window index as `WINDOW_KEY`."""
    index = f"(epoch_us({ident(column)}) - {int(start_us)}) // {int(every_us)}"
    return f"(SELECT *, {index} AS {KEY} FROM ({preds}))"


def profiles(
    con: Any,
    reference: Profile,
    source: str,
    params: list[object],
    columns: dict[str, str],
    transform: Transform | None,
    *,
    time: str,
) -> tuple[dict[int, Profile], dict[int, tuple[int, float | None]]]:
    """(profile per window index, (rows, mean reconstruction error) per window index when
    `transform` is given) of the windows of `source` that have rows, in one statement."""
    names, branches = profile_branches(reference, source, columns, [KEY], time=time)
    errors: dict[int, tuple[int, float | None]] = {}
    if not names:
        found = run_profile(
            con, reference, source, params, (WINDOW_KEY,), columns=columns, time=time
        )
        if transform is not None:
            branch = error_branch(transform, source, set(columns), 0, [KEY])
            for w, _, _, _, n, _, _, mean, *_ in con.execute(branch, params).fetchall():
                errors[int(w)] = error_result(n, mean)
        return {int(g[0]): p for g, p in found}, errors
    f = len(names)
    if transform is not None:
        branches.append(error_branch(transform, source, set(columns), f, [KEY]))
    got = con.execute(" UNION ALL ".join(branches), params * len(branches)).fetchnumpy()
    cols = {k: np.ma.asarray(v) for k, v in got.items()}
    for j in np.flatnonzero(np.ma.getdata(cols["f"]) == f):
        n, mean = cols["n"][j], cols["s"][j]
        errors[int(cols[WINDOW_KEY][j])] = error_result(
            int(n), None if mean is np.ma.masked else float(mean)
        )
    return _assemble_series(reference, names, cols), errors


def _assemble_series(
    reference: Profile, names: list[str], cols: dict[str, np.ma.MaskedArray]
) -> dict[int, Profile]:
    """The profile of each window from the statement's columns (`profile_rows` on the same
    rows, column-wise: a series has windows × features × sketch buckets rows, which
    `profile_rows` would read one Python tuple at a time). Each (window, feature)'s sums
    are added in code order (`_moments`: the floats of `profile_sql.moments`)."""
    w = np.ma.getdata(cols[WINDOW_KEY]).astype(np.int64)
    f = np.ma.getdata(cols["f"]).astype(np.int64)
    keep = f < len(names)
    order = np.flatnonzero(keep)[np.lexsort((w[keep], f[keep]))]  # stable: by f, then w
    w, f = w[order], f[order]
    code = np.ma.filled(cols["code"][order].astype(float), np.nan)
    inf = np.ma.filled(cols["inf"][order], False).astype(bool)
    n = np.ma.getdata(cols["n"][order]).astype(np.int64)
    lo, hi, sm, sq = (
        np.ma.filled(cols[k][order].astype(float), np.nan) for k in ("lo", "hi", "s", "ss")
    )
    te = np.ma.filled(cols["te"][order], 0).astype(np.int64)
    newest = np.ma.asarray(cols["newest"][order])
    if len(w) == 0:
        return {}
    starts = np.flatnonzero(np.r_[True, (w[1:] != w[:-1]) | (f[1:] != f[:-1])])
    ends = np.r_[starts[1:], len(w)]
    totals: dict[int, int] = {}
    newest_of: dict[int, Any] = {}
    features: dict[int, dict[str, FeatureProfile]] = {}
    for a, b in zip(starts, ends, strict=True):
        window, name = int(w[a]), names[int(f[a])]
        if f[a] == 0:  # every row of a window has a row in the first feature's branch
            totals[window] = int(n[a:b].sum())
            found = newest[a:b].compressed()
            newest_of[window] = found.max() if len(found) else None
        fp = reference.features[name]
        total = totals[window]
        if fp.kind == "numeric":
            got = _numeric_segment(
                fp, code[a:b], inf[a:b], n[a:b], lo[a:b], hi[a:b], sm[a:b], sq[a:b], te[a:b], total
            )
        else:
            rows = [
                (c, None, int(k), None, None, None, None, int(e), None)
                for c, k, e in zip(code[a:b].tolist(), n[a:b], te[a:b], strict=True)
            ]
            got = _categorical(fp, rows, total)
        features.setdefault(window, {})[name] = got
    return {
        window: Profile(totals[window], features[window], _utc(newest_of[window]))
        for window in sorted(totals)
    }


def _numeric_segment(
    fp: FeatureProfile,
    code: np.ndarray,
    inf: np.ndarray,
    n: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    sm: np.ndarray,
    sq: np.ndarray,
    te: np.ndarray,
    total: int,
) -> FeatureProfile:
    """`profile_sql._numeric` on one window's rows of a numeric feature, as arrays."""
    null = np.isnan(code)
    nulls = int(n[null].sum())
    seen = ~null
    finite = seen & ~inf
    s, ss = _moments(fp, code[finite], n[finite], lo[finite], hi[finite], sm[finite], sq[finite])
    sketch: dict[int, int] = {}
    if fp.layout is not None and seen.any():
        top = clamp_key(fp.layout)
        keys = np.clip(code[seen], -top, top).astype(np.int64)  # the z_max clamp
        unique, inverse = np.unique(keys, return_inverse=True)
        counts = np.zeros(len(unique), dtype=np.int64)
        np.add.at(counts, inverse, n[seen])
        sketch = dict(zip(unique.tolist(), counts.tolist(), strict=True))
    return replace(
        fp,
        count=total,
        null_count=nulls,
        unseen=0,
        min=float(lo[seen].min()) if seen.any() else None,
        max=float(hi[seen].max()) if seen.any() else None,
        sum=s,
        sum_sq=ss,
        sketch=sketch,
        counts=histogram(fp.edge_keys, sketch, total - nulls),
        type_errors=int(te.sum()),
        sample=None,
    )


def batches(sizes: dict[int, int], indexes: Sequence[int], limit: int) -> list[list[int]]:
    """`indexes` cut into consecutive runs of at most `limit` rows (a window bigger than
    `limit` is a batch of its own)."""
    out: list[list[int]] = []
    rows = 0
    for i in indexes:
        if out and rows + sizes[i] <= limit:
            out[-1].append(i)
            rows += sizes[i]
        else:
            out.append([i])
            rows = sizes[i]
    return out


def scanned_rows(
    con: Any,
    preds: str,
    params: list[object],
    columns: dict[str, str],
    latest: str | None,
    scores: bool,
) -> tuple[dict[int, pd.DataFrame], dict[int, np.ndarray]]:
    """(labelled rows per window: prediction, score, label in `ts` order; every row's
    score per window when `scores`) of the keyed relation `preds`, from one pass."""
    score = "CAST(p.score AS DOUBLE)" if "score" in columns else "NULL::DOUBLE"
    if latest is None:
        if not scores:
            return {}, {}
        got = con.execute(
            f"SELECT p.{KEY} AS w, {score} AS score FROM {preds} p ORDER BY w, p.ts", params
        ).fetchnumpy()
        return {}, _split(np.asarray(got["w"]), np.asarray(got["score"], dtype=float))
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE scanned AS WITH preds AS (SELECT * FROM {preds}), "
        f"{latest} SELECT p.{KEY} AS w, p.ts, p.prediction, {score} AS score, l.label, "
        "l.prediction_id IS NOT NULL AS labelled FROM preds p "
        "LEFT JOIN latest l ON CAST(p.prediction_id AS VARCHAR) = l.prediction_id",
        params,
    )
    labelled = con.execute(
        "SELECT w, prediction, score, label FROM scanned WHERE labelled ORDER BY w, ts"
    ).df()
    per_window = {
        int(w): group[list(LABELLED_COLUMNS)].reset_index(drop=True)
        for w, group in labelled.groupby("w", sort=True)
    }
    all_scores: dict[int, np.ndarray] = {}
    if scores:
        got = con.execute("SELECT w, score FROM scanned ORDER BY w, ts").fetchnumpy()
        all_scores = _split(np.asarray(got["w"]), np.asarray(got["score"], dtype=float))
    return per_window, all_scores


def _split(keys: np.ndarray, values: np.ndarray) -> dict[int, np.ndarray]:
    """`values` cut by the runs of equal `keys` (sorted)."""
    if len(keys) == 0:
        return {}
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    return {int(keys[a]): values[a:b].copy() for a, b in zip(starts, ends, strict=True)}


def exact_values(
    con: Any,
    source: str,
    params: list[object],
    columns: dict[str, str],
    wanted: dict[int, list[str]],
    *,
    limit: int,
) -> dict[int, dict[str, list[float]]]:
    """At most `limit` non-null, non-NaN values of each feature `wanted[i]` names in
    window `i` (as `profile_sql.read_values` per window), in one statement."""
    out: dict[int, dict[str, list[float]]] = {
        i: {name: [] for name in names} for i, names in wanted.items()
    }
    by_feature: dict[str, list[int]] = {}
    for i, names in wanted.items():
        for name in names:
            if name in columns:
                by_feature.setdefault(name, []).append(i)
    branches = []
    features = list(by_feature)
    for f, name in enumerate(features):
        cast = f"TRY_CAST({ident(name)} AS DOUBLE)"
        windows = ", ".join(str(int(i)) for i in by_feature[name])
        branches.append(
            f"SELECT w, {f} AS f, v FROM (SELECT {KEY} AS w, {cast} AS v, "
            f"row_number() OVER (PARTITION BY {KEY}) AS rn FROM {source} "
            f"WHERE {KEY} IN ({windows}) AND {cast} IS NOT NULL AND NOT isnan({cast})) "
            f"WHERE rn <= {int(limit)}"
        )
    if branches:
        got = con.execute(" UNION ALL ".join(branches), params * len(branches)).fetchnumpy()
        ws, fs, vs = (np.asarray(got[k]) for k in ("w", "f", "v"))
        # each (window, feature)'s values in the order the statement returned them (a
        # stable sort), as lists of floats
        order = np.lexsort((ws, fs))
        ws, fs, vs = ws[order], fs[order], vs[order].astype(float)
        if len(ws):
            starts = np.flatnonzero(np.r_[True, (ws[1:] != ws[:-1]) | (fs[1:] != fs[:-1])])
            ends = np.r_[starts[1:], len(ws)]
            for a, b in zip(starts, ends, strict=True):
                out[int(ws[a])][features[int(fs[a])]] = vs[a:b].tolist()
    return out


def wanted_values(
    found: dict[int, Profile],
    batch: Sequence[int],
    exact: Callable[[Profile], Sequence[str]] | None,
) -> dict[int, list[str]]:
    """The features whose raw values each window of `batch` needs (`exact` of its
    profile); windows needing none are left out."""
    if exact is None:
        return {}
    picked = {i: list(exact(found[i])) for i in batch}
    return {i: names for i, names in picked.items() if names}


def _moments(
    fp: FeatureProfile,
    code: np.ndarray,
    n: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    sm: np.ndarray,
    sq: np.ndarray,
) -> tuple[float, float]:
    """`profile_sql.moments` on arrays (finite codes only): the same terms, added one after
    the other from 0.0 in code order (`cumsum` adds in order), so the same floats."""
    if not len(code):
        return 0.0, 0.0
    order = np.argsort(code, kind="stable")
    n, lo, hi, sm, sq = (x[order] for x in (n, lo, hi, sm, sq))
    a, b = lo - fp.shift, hi - fp.shift
    on_grid = (np.maximum(np.abs(a), np.abs(b)) <= 2.0 ** grid_exponent(fp)) & ~(
        np.isnan(sm) | np.isnan(sq)
    )
    rest = (n - 2).astype(float)
    with np.errstate(invalid="ignore", over="ignore"):
        s = np.where(on_grid, sm, np.where(n == 1, a, a + b + rest * ((a + b) / 2)))
        ss = np.where(
            on_grid,
            sq,
            np.where(n == 1, a * a, a * a + b * b + rest * ((a * a + b * b) / 2)),
        )
    return float(np.cumsum(np.r_[0.0, s])[-1]), float(np.cumsum(np.r_[0.0, ss])[-1])
