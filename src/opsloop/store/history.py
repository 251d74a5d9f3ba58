"""Monitoring history aggregated per day, in SQL: what a chart of weeks of hourly windows
shows without reading (and decoding) every window's summary in Python.

One implementation of the SQL for both readers of the `StoreReads` port (`OpsStore` runs it
with `exec_driver_sql`, the DB-API `StoreReader` with its cursor) on SQLite (JSON1's
`json_extract`/`json_each`) and PostgreSQL (`->`, `->>`, `json_array_elements`). Each
window is read from its digest (its summary when it has none: stored before digests), and a
day is the UTC date of its windows' start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from opsloop.store._util import aware, utc


@dataclass(frozen=True)
class MonitorDay:
    """The monitored windows of one UTC day: how many, how many drifted or degraded, the
    mean (and extreme) drift share and performance, the estimated performance's and the
    multivariate score's mean and the widest band, and each feature's verdicts (feature →
    status → windows; status as the per-window heatmap colours it: a summary without a
    status counts as drifted or ok)."""

    day: str  # YYYY-MM-DD
    windows: int
    first_start: datetime
    last_end: datetime
    drifted: int
    drift_share_mean: float
    drift_share_max: float
    n_rows: int
    n_labelled: int
    performance_metric: str | None
    performance_mean: float | None
    performance_min: float | None
    degraded: int
    estimated_mean: float | None = None
    estimated_lower: float | None = None
    estimated_upper: float | None = None
    estimated_degraded: int = 0
    multivariate_mean: float | None = None
    multivariate_lower: float | None = None
    multivariate_upper: float | None = None
    multivariate_drifted: int = 0
    features: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["first_start"] = self.first_start.isoformat()
        out["last_end"] = self.last_end.isoformat()
        return out


# (SQLite, PostgreSQL) spelling of each piece that differs
_DAY = (
    "substr(m.window_start, 1, 10)",
    "to_char(m.window_start AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
)
_DOC = (  # the window's digest, else its summary (SQL NULL or a stored JSON null)
    "CASE WHEN m.digest IS NULL OR m.digest = 'null' THEN m.summary ELSE m.digest END",
    "CASE WHEN m.digest IS NULL OR json_typeof(m.digest) = 'null' THEN m.summary ELSE m.digest END",
)


# the numbers and flags of a window's document that a day aggregates, by JSON path
_PATHS = (
    ("estimated_performance", "value"),
    ("estimated_performance", "lower"),
    ("estimated_performance", "upper"),
    ("estimated_performance", "degraded"),
    ("multivariate", "value"),
    ("multivariate", "lower"),
    ("multivariate", "upper"),
    ("multivariate", "drifted"),
)


def _extracted(d: int) -> tuple[str, list[str]]:
    """A select-list extracting `_PATHS` from the window's document, and the expression of
    each value over it. SQLite 3.40 parses a document again for every `json_extract`:
    one call with every path parses it once, into a small array read by position."""
    if d == 0:
        paths = ", ".join(f"'$.{a}.{b}'" for a, b in _PATHS)
        return f"json_extract({_DOC[0]}, {paths}) AS x", [
            f"json_extract(w.x, '$[{i}]')" for i in range(len(_PATHS))
        ]
    cols = ", ".join(f"({_DOC[1]})->'{a}'->>'{b}' AS x{i}" for i, (a, b) in enumerate(_PATHS))
    return cols, [f"w.x{i}" for i in range(len(_PATHS))]


def day_queries(
    dialect: str,
    model: str,
    *,
    version: str | None,
    limit: int,
    end_before: datetime | None,
) -> tuple[str, str, list[Any]]:
    """The per-day totals and per-day feature verdict SQL over the `limit` latest windows
    (as `list_monitor_windows` picks them), and their parameters (the same for both)."""
    d = 0 if dialect == "sqlite" else 1
    mark = "?" if d == 0 else "%s"
    where = [f'"model" = {mark}']
    params: list[Any] = [model]
    if version is not None:
        where.append(f'"version" = {mark}')
        params.append(version)
    if end_before is not None:
        where.append(f'"window_end" < {mark}')
        params.append(_param(dialect, end_before))
    chosen = (
        f'm."id" IN (SELECT "id" FROM monitor_results WHERE {" AND ".join(where)} '
        f'ORDER BY "window_end" DESC, "id" DESC LIMIT {int(limit)})'
    )
    true = "1" if d == 0 else "true"
    select, x = _extracted(d)

    def num(e: str) -> str:
        return e if d == 0 else f"({e})::float"

    def flag(e: str) -> str:
        return f"CASE WHEN {e} = {true if d == 0 else repr('true')} THEN 1 ELSE 0 END"

    totals = f"""
        SELECT {_DAY[d].replace("m.", "w.")} AS day, count(*) AS windows,
            min(w.window_start) AS first_start, max(w.window_end) AS last_end,
            sum(CASE WHEN w.drift_detected = {true} THEN 1 ELSE 0 END) AS drifted,
            avg(w.drift_share) AS drift_share_mean, max(w.drift_share) AS drift_share_max,
            sum(w.n_rows) AS n_rows, sum(w.n_labelled) AS n_labelled,
            max(w.performance_metric) AS performance_metric,
            avg(w.performance_value) AS performance_mean,
            min(w.performance_value) AS performance_min,
            sum(CASE WHEN w.performance_degraded = {true} THEN 1 ELSE 0 END) AS degraded,
            avg({num(x[0])}) AS estimated_mean, min({num(x[1])}) AS estimated_lower,
            max({num(x[2])}) AS estimated_upper, sum({flag(x[3])}) AS estimated_degraded,
            avg({num(x[4])}) AS multivariate_mean, min({num(x[5])}) AS multivariate_lower,
            max({num(x[6])}) AS multivariate_upper, sum({flag(x[7])}) AS multivariate_drifted
        FROM (SELECT m.window_start, m.window_end, m.drift_detected, m.drift_share, m.n_rows,
                m.n_labelled, m.performance_metric, m.performance_value,
                m.performance_degraded, {select}
              FROM monitor_results m WHERE {chosen}) w
        GROUP BY 1 ORDER BY 1"""
    if d == 0:  # one parse of each feature: grouped by its [name, status, drifted] array
        features = f"""
            SELECT day, json_extract(v, '$[0]') AS feature, json_extract(v, '$[1]') AS status,
                json_extract(v, '$[2]') AS drifted, n AS windows
            FROM (SELECT {_DAY[0]} AS day,
                    json_extract(f.value, '$.name', '$.status', '$.drifted') AS v,
                    count(*) AS n
                  FROM monitor_results m, json_each({_DOC[0]}, '$.drift.features') f
                  WHERE {chosen} GROUP BY 1, 2)"""
    else:
        features = f"""
            SELECT {_DAY[1]} AS day, f->>'name' AS feature, f->>'status' AS status,
                f->>'drifted' AS drifted, count(*) AS windows
            FROM monitor_results m
            CROSS JOIN LATERAL json_array_elements(
                CASE WHEN json_typeof(({_DOC[1]})->'drift'->'features') = 'array'
                THEN ({_DOC[1]})->'drift'->'features' ELSE '[]'::json END) f
            WHERE {chosen} GROUP BY 1, 2, 3, 4"""
    return totals, features, params


def days_from_rows(
    totals: Sequence[dict[str, Any]], features: Sequence[dict[str, Any]]
) -> list[MonitorDay]:
    """The records of the two queries' rows (columns by name), oldest day first."""
    verdicts: dict[str, dict[str, dict[str, int]]] = {}
    for r in features:
        if r["feature"] is None:
            continue
        drifted = r["drifted"] in (1, True, "true", "1")
        status = r["status"] or ("drifted" if drifted else "ok")
        per = verdicts.setdefault(r["day"], {}).setdefault(str(r["feature"]), {})
        per[status] = per.get(status, 0) + int(r["windows"])
    found = []
    for r in totals:
        found.append(
            MonitorDay(
                day=r["day"],
                windows=int(r["windows"]),
                first_start=_time(r["first_start"]),
                last_end=_time(r["last_end"]),
                drifted=int(r["drifted"] or 0),
                drift_share_mean=float(r["drift_share_mean"] or 0.0),
                drift_share_max=float(r["drift_share_max"] or 0.0),
                n_rows=int(r["n_rows"] or 0),
                n_labelled=int(r["n_labelled"] or 0),
                performance_metric=r["performance_metric"],
                performance_mean=_float(r["performance_mean"]),
                performance_min=_float(r["performance_min"]),
                degraded=int(r["degraded"] or 0),
                estimated_mean=_float(r["estimated_mean"]),
                estimated_lower=_float(r["estimated_lower"]),
                estimated_upper=_float(r["estimated_upper"]),
                estimated_degraded=int(r["estimated_degraded"] or 0),
                multivariate_mean=_float(r["multivariate_mean"]),
                multivariate_lower=_float(r["multivariate_lower"]),
                multivariate_upper=_float(r["multivariate_upper"]),
                multivariate_drifted=int(r["multivariate_drifted"] or 0),
                features={
                    k: dict(sorted(v.items()))
                    for k, v in sorted(verdicts.get(r["day"], {}).items())
                },
            )
        )
    return found


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _time(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return aware(value)


def _param(dialect: str, value: datetime) -> Any:
    """A timestamp bound as each database stores it (SQLite: UTC fields as text)."""
    if dialect != "sqlite":
        return value
    v = utc(value)
    return (
        f"{v.year:04d}-{v.month:02d}-{v.day:02d} "
        f"{v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond:06d}"
    )
