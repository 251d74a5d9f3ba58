"""The default engine: DuckDB, in process, over the hive-partitioned Parquet prediction log.

The log is read without its `model=/date=/hour=` directories as columns (so features may
be named `model`, `date` or `hour`); `ts` and `event_ts` of any precision or time zone are
read as TIMESTAMPTZ in microseconds. DuckDB filters by the window's clock (`event_ts`, or
`ts` — then the window's `date=` directories are listed to choose the files: partitions are
by answer time), and joins the
labels (newest per prediction id, `arg_max` by `label_ts`) before anything reaches pandas,
so only the requested window is materialised.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from opsloop.data.predlog import HOUR_KEY, clock_column
from opsloop.engines.base import LABELLED_COLUMNS, PREDICTION_COLUMNS, FeedbackRows, WindowScan

if TYPE_CHECKING:
    import duckdb

    from opsloop.config.monitor import Clock
    from opsloop.core.profile import Profile
    from opsloop.core.transform import Transform


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _date_globs(model_dir: Path, start: datetime, end: datetime) -> list[str]:
    """The file patterns of the model's `date=` directories between two UTC times."""
    first, last = start.date().isoformat(), end.date().isoformat()
    found = []
    for directory in sorted(glob.glob(str(model_dir / "date=*"))):
        day = Path(directory).name.removeprefix("date=")
        if first <= day <= last:
            found.append(str(Path(directory) / "*" / "*.parquet"))
    return found


def _served(preds: str) -> str:
    """`preds` without the shadow answers (every version's answers to users)."""
    return f"SELECT * FROM ({preds}) WHERE coalesce(route, '') <> 'shadow'"


class DuckDBEngine:
    def __init__(
        self,
        prediction_root: Path,
        labels_root: Path,
        *,
        extra_labels_glob: str | None = None,
        id_column: str | None = None,
        target: str | None = None,
    ) -> None:
        self.prediction_root = Path(prediction_root)
        self.labels_root = Path(labels_root)
        self.extra_labels_glob = extra_labels_glob
        self.id_column = id_column
        self.target = target

    def _connect(self) -> duckdb.DuckDBPyConnection:
        # imported here: a server opens the engine with its runtime but never scans
        import duckdb

        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        return con

    def _label_sources(self) -> list[str]:
        sources = []
        pattern = str(self.labels_root / "*.parquet")
        if glob.glob(pattern):
            sources.append(
                "SELECT CAST(prediction_id AS VARCHAR) AS prediction_id, label, "
                "CAST(label_ts AS TIMESTAMPTZ) AS label_ts "
                f"FROM read_parquet({_quote(pattern)}, union_by_name = true)"
            )
        if (
            self.extra_labels_glob
            and self.id_column
            and self.target
            and glob.glob(self.extra_labels_glob)
        ):
            sources.append(
                f"SELECT CAST({_ident(self.id_column)} AS VARCHAR) AS prediction_id, "
                f"{_ident(self.target)} AS label, TIMESTAMPTZ '1970-01-01 00:00:00+00' AS label_ts "
                f"FROM read_parquet({_quote(self.extra_labels_glob)}, union_by_name = true)"
            )
        return sources

    def read_labels(self, start: datetime, end: datetime) -> pd.DataFrame:
        pattern = str(self.labels_root / "*.parquet")
        if not glob.glob(pattern):
            return pd.DataFrame(columns=["prediction_id", "label", "label_ts"])
        query = (
            "SELECT * REPLACE (CAST(prediction_id AS VARCHAR) AS prediction_id, "
            "CAST(label_ts AS TIMESTAMPTZ) AS label_ts) "
            f"FROM read_parquet({_quote(pattern)}, union_by_name = true) "
            "WHERE CAST(label_ts AS TIMESTAMPTZ) >= ? AND CAST(label_ts AS TIMESTAMPTZ) < ? "
            "ORDER BY label_ts"
        )
        with self._connect() as con:
            frame = con.execute(query, [start.astimezone(UTC), end.astimezone(UTC)]).fetchdf()
        frame["label_ts"] = pd.to_datetime(frame["label_ts"], utc=True).dt.as_unit("us")
        return frame

    def count_labels(self) -> int:
        sources = self._label_sources()
        if not sources:
            return 0
        with self._connect() as con:
            row = con.execute(
                "SELECT count(DISTINCT prediction_id) FROM (" + " UNION ALL ".join(sources) + ")"
            ).fetchone()
        return int(row[0]) if row else 0

    def count_logged(self, model: str, ids: Sequence[str]) -> int:
        from opsloop.engines.label_files import count_logged

        with self._connect() as con:
            return count_logged(con, self.prediction_root, model, ids)

    def _pattern(self, model: str) -> str | None:
        pattern = str(self.prediction_root / f"model={model}" / "*" / "*" / "*.parquet")
        return pattern if glob.glob(pattern) else None

    def _preds(
        self,
        pattern: str,
        start: datetime,
        end: datetime,
        version: str | None,
        *,
        clock: Clock = "event",
        hour_key: bool = False,
    ) -> tuple[str, list[object]]:
        """The window's rows by `clock`: `event_ts` (`ts` in files written before it
        existed) or `ts` in [start, end), with the log's columns as the files hold them.
        The path's `model=/date=/hour=` directories are not read as columns
        (`hive_partitioning = false`), so features named `model`, `date` or `hour` keep
        their own values. Partitions are by answer time, so only the answered clock prunes
        them (by listing the window's date directories). `ts` and `event_ts` of any
        precision or time zone (naive is UTC) are read as TIMESTAMPTZ in microseconds.
        `hour_key` adds the hour of the clock's time as `HOUR_KEY`."""
        start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
        files = [pattern]
        if clock == "answered":
            model_dir = Path(pattern).parent.parent.parent
            files = _date_globs(model_dir, start_utc, end_utc) or files
        sources = "[" + ", ".join(_quote(f) for f in files) + "]"
        # `UNION ALL BY NAME` with no rows: event_ts exists even if no file has it yet
        source = (
            f"(SELECT * FROM read_parquet({sources}, hive_partitioning = false, "
            "union_by_name = true) UNION ALL BY NAME SELECT NULL::TIMESTAMPTZ AS event_ts "
            "WHERE false)"
        )
        rows = (
            "SELECT * REPLACE (CAST(ts AS TIMESTAMPTZ) AS ts, "
            "coalesce(CAST(event_ts AS TIMESTAMPTZ), CAST(ts AS TIMESTAMPTZ)) AS event_ts) "
            f"FROM {source}"
        )
        column = clock_column(clock)
        extra = f", date_trunc('hour', {column}) AS {_ident(HOUR_KEY)}" if hour_key else ""
        preds = f"SELECT *{extra} FROM ({rows}) WHERE {column} >= ? AND {column} < ?"
        params: list[object] = [start_utc, end_utc]
        if version is not None:
            # the answers this version gave users, not its shadow answers during a rollout
            preds += " AND CAST(model_version AS VARCHAR) = ? AND coalesce(route, '') <> 'shadow'"
            params.append(version)
        return preds, params

    def _latest_labels(self) -> str | None:
        """CTEs `labels` and `latest` (the newest label per prediction id), None without
        label files."""
        sources = self._label_sources()
        if not sources:
            return None
        return (
            f"labels AS ({' UNION ALL '.join(sources)}), "
            "latest AS (SELECT prediction_id, arg_max(label, label_ts) AS label "
            "FROM labels GROUP BY prediction_id)"
        )

    def read_window(
        self,
        model: str,
        start: datetime,
        end: datetime,
        *,
        version: str | None = None,
        clock: Clock = "event",
        labelled_only: bool = False,
    ) -> pd.DataFrame:
        pattern = self._pattern(model)
        if pattern is None:
            return pd.DataFrame(columns=list(PREDICTION_COLUMNS))
        preds, params = self._preds(pattern, start, end, version, clock=clock)
        latest = self._latest_labels()
        if latest is not None:
            join = "JOIN" if labelled_only else "LEFT JOIN"
            query = (
                f"WITH preds AS ({preds}), {latest} "
                f"SELECT p.*, l.label FROM preds p {join} latest l "
                "ON CAST(p.prediction_id AS VARCHAR) = l.prediction_id ORDER BY p.ts"
            )
        elif labelled_only:
            query = f"SELECT *, NULL AS label FROM ({preds}) WHERE false"
        else:
            query = f"SELECT *, NULL AS label FROM ({preds}) ORDER BY ts"
        with self._connect() as con:
            frame = con.execute(query, params).df()
        frame["prediction_id"] = frame["prediction_id"].astype(str)
        return frame

    def read_scores(
        self,
        model: str,
        start: datetime,
        end: datetime,
        *,
        version: str | None = None,
        clock: Clock = "event",
    ) -> np.ndarray:
        pattern = self._pattern(model)
        if pattern is None:
            return np.empty(0)
        preds, params = self._preds(pattern, start, end, version, clock=clock)
        with self._connect() as con:
            rows = con.execute(
                f"SELECT CAST(score AS DOUBLE) FROM ({preds}) ORDER BY ts", params
            ).fetchnumpy()
        return np.asarray(next(iter(rows.values())), dtype=float)

    def read_feedback(
        self,
        model: str,
        start: datetime,
        end: datetime,
        columns: Sequence[str],
        *,
        exclude: Sequence[str] = (),
        max_rows: int | None = None,
    ) -> FeedbackRows:
        """The window's labelled production rows, one per id, joined and chosen in SQL
        (`engines/feedback_sql.py`): only the rows kept reach pandas."""
        from opsloop.engines.feedback_sql import empty_feedback, run_feedback

        pattern = self._pattern(model)
        latest = self._latest_labels()
        if pattern is None or latest is None:
            return empty_feedback()
        preds, params = self._preds(pattern, start, end, None, clock="event")
        with self._connect() as con:
            return run_feedback(
                con, preds, params, latest, columns, exclude=exclude, max_rows=max_rows
            )

    def profile_window(
        self,
        model: str,
        start: datetime,
        end: datetime,
        reference: Profile,
        *,
        version: str | None = None,
        clock: Clock = "event",
        served: bool = False,
    ) -> Profile:
        """The window's profile on the reference's layout, computed in SQL over the Parquet
        files (bounded memory: no frame of the window is built); `served`: without shadow
        rows."""
        from opsloop.engines.profile_sql import run_profile

        pattern = self._pattern(model)
        if pattern is None:
            return reference.empty()
        preds, params = self._preds(pattern, start, end, version, clock=clock)
        if served and version is None:
            preds = _served(preds)
        with self._connect() as con:
            return run_profile(con, reference, f"({preds})", params, time=clock_column(clock))[0][1]

    def read_values(
        self,
        model: str,
        start: datetime,
        end: datetime,
        names: Sequence[str],
        *,
        version: str | None = None,
        clock: Clock = "event",
        limit: int,
    ) -> dict[str, list[float]]:
        """At most `limit` non-null numeric values of each feature in `names` from the same
        rows as `read_window(..., version=version)` (for exact tests on small windows)."""
        from opsloop.engines.profile_sql import read_values

        pattern = self._pattern(model)
        if pattern is None:
            return {name: [] for name in names}
        preds, params = self._preds(pattern, start, end, version, clock=clock)
        with self._connect() as con:
            columns = {
                r[0] for r in con.execute(f"DESCRIBE SELECT * FROM ({preds})", params).fetchall()
            }
            present = [n for n in names if n in columns]
            found = read_values(con, f"({preds})", params, present, limit=limit)
        return {name: found.get(name, []) for name in names}

    def profile_hours(
        self,
        model: str,
        start: datetime,
        end: datetime,
        reference: Profile,
        *,
        version: str | None = None,
        clock: Clock = "event",
    ) -> dict[datetime, Profile]:
        """One profile per hour partition of the window (they merge into the window's)."""
        from opsloop.engines.profile_sql import run_profile

        pattern = self._pattern(model)
        if pattern is None:
            return {}
        preds, params = self._preds(pattern, start, end, version, clock=clock, hour_key=True)
        with self._connect() as con:
            rows = run_profile(
                con,
                reference,
                f"({preds})",
                params,
                group_by=(HOUR_KEY,),
                time=clock_column(clock),
            )
        return {hour.astimezone(UTC): p for (hour,), p in rows}

    def reconstruction_error(
        self,
        model: str,
        start: datetime,
        end: datetime,
        transform: Transform,
        *,
        version: str | None = None,
        clock: Clock = "event",
        served: bool = False,
    ) -> tuple[int, float | None]:
        """(rows, mean PCA reconstruction error) of the window, in one SQL pass; `served`:
        without shadow rows."""
        from opsloop.engines.multivariate_sql import run_error

        pattern = self._pattern(model)
        if pattern is None:
            return 0, None
        preds, params = self._preds(pattern, start, end, version, clock=clock)
        if served and version is None:
            preds = _served(preds)
        with self._connect() as con:
            return run_error(con, transform, f"({preds})", params)

    def scan_window(
        self,
        model: str,
        start: datetime,
        end: datetime,
        reference: Profile,
        *,
        version: str | None = None,
        clock: Clock = "event",
        scores: bool = False,
        transform: Transform | None = None,
        exact: Callable[[Profile], Sequence[str]] | None = None,
        limit: int = 0,
    ) -> WindowScan:
        """One connection, one `DESCRIBE`, and at most three statements that read the log:
        the profile with the multivariate error as one more `UNION ALL` branch; the rows
        (labelled rows, and every row's score, from one pass into a temporary table of
        those few columns); the raw values when `exact` names features (which it decides
        from the profile, so they cannot join its statement; only small windows have
        them)."""
        from opsloop.engines.multivariate_sql import error_branch, error_result, run_error
        from opsloop.engines.profile_sql import (
            describe,
            profile_branches,
            profile_rows,
            read_values,
            run_profile,
        )

        pattern = self._pattern(model)
        if pattern is None:
            profile = reference.empty()
            wanted = list(exact(profile)) if exact is not None else []
            return WindowScan(
                profile,
                pd.DataFrame(columns=list(PREDICTION_COLUMNS)),
                np.empty(0) if scores else None,
                {name: [] for name in wanted} if wanted else None,
                None if transform is None else (0, None),
            )
        preds, params = self._preds(pattern, start, end, version, clock=clock)
        source = f"({preds})"
        error = None
        with self._connect() as con:
            columns = describe(con, source, params)
            names, branches = profile_branches(reference, source, columns, time=clock_column(clock))
            if names and transform is not None:
                f = len(names)
                branches.append(error_branch(transform, source, set(columns), f))
                rows = con.execute(" UNION ALL ".join(branches), params * len(branches))
                found = rows.fetchall()
                mean = next(r for r in found if r[0] == f)
                error = error_result(mean[3], mean[6])
                profile = profile_rows(reference, names, [r for r in found if r[0] != f])[0][1]
            else:
                profile = run_profile(
                    con, reference, source, params, columns=columns, time=clock_column(clock)
                )[0][1]
                if transform is not None:
                    error = run_error(con, transform, source, params, columns=set(columns))
            labelled, all_scores = self._scan_rows(con, preds, params, columns, scores)
            wanted = list(exact(profile)) if exact is not None else []
            values = None
            if wanted:
                present = [n for n in wanted if n in columns]
                got = read_values(con, source, params, present, limit=limit)
                values = {name: got.get(name, []) for name in wanted}
        return WindowScan(profile, labelled, all_scores, values, error)

    def scan_windows(
        self,
        model: str,
        start: datetime,
        every: timedelta,
        indexes: Sequence[int],
        reference: Profile,
        *,
        version: str | None = None,
        clock: Clock = "event",
        scores: bool = False,
        transform: Transform | None = None,
        exact: Callable[[Profile], Sequence[str]] | None = None,
        limit: int = 0,
    ) -> Iterator[tuple[int, WindowScan]]:
        """One statement over the log profiles every window of the series (grouped by the
        window's index: `engines/series_sql.py`); then, per batch of windows of at most
        `series_sql.BATCH_ROWS` rows, one pass for the labelled rows and scores and one
        for the raw values the exact KS needs."""
        from opsloop.engines import series_sql as sq
        from opsloop.engines.profile_sql import describe

        pattern = self._pattern(model)
        if pattern is None or not indexes:
            return
        at = start.astimezone(UTC)
        start_us = (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        every_us = every // timedelta(microseconds=1)
        column = clock_column(clock)

        def source(first: int, last: int) -> tuple[str, list[object]]:
            preds, params = self._preds(
                pattern, at + first * every, at + (last + 1) * every, version, clock=clock
            )
            return sq.keyed(preds, column, start_us, every_us), params

        wanted = set(indexes)
        with self._connect() as con:
            whole, params = source(indexes[0], indexes[-1])
            columns = describe(con, whole, params)
            found, errors = sq.profiles(
                con, reference, whole, params, columns, transform, time=column
            )
            present = [i for i in sorted(found) if i in wanted]
            sizes = {i: found[i].n_rows for i in present}
            latest = self._latest_labels()
            for batch in sq.batches(sizes, present, sq.BATCH_ROWS):
                rows, params = source(batch[0], batch[-1])
                labelled, all_scores = sq.scanned_rows(con, rows, params, columns, latest, scores)
                needs = sq.wanted_values(found, batch, exact)
                values = sq.exact_values(con, rows, params, columns, needs, limit=limit)
                for i in batch:
                    yield (
                        i,
                        WindowScan(
                            found[i],
                            labelled.get(i, pd.DataFrame(columns=list(LABELLED_COLUMNS))),
                            all_scores.get(i, np.empty(0)) if scores else None,
                            values.get(i),
                            None if transform is None else errors.get(i, (0, None)),
                        ),
                    )

    def log_span(
        self, model: str, *, version: str | None = None, clock: Clock = "event"
    ) -> tuple[datetime, datetime] | None:
        pattern = self._pattern(model)
        if pattern is None:
            return None
        everything = (datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC))
        preds, params = self._preds(pattern, *everything, version, clock=clock)
        column = _ident(clock_column(clock))
        with self._connect() as con:
            row = con.execute(f"SELECT min({column}), max({column}) FROM ({preds})", params)
            found = row.fetchone()
        if found is None or found[0] is None:
            return None
        return found[0].astimezone(UTC), found[1].astimezone(UTC)

    def _scan_rows(
        self,
        con: duckdb.DuckDBPyConnection,
        preds: str,
        params: list[object],
        columns: dict[str, str],
        scores: bool,
    ) -> tuple[pd.DataFrame, np.ndarray | None]:
        """(the labelled rows' prediction, score and label; every row's score when asked)
        from one pass over the window."""
        score = "CAST(p.score AS DOUBLE)" if "score" in columns else "NULL::DOUBLE"
        latest = self._latest_labels()
        if latest is None:
            labelled = pd.DataFrame(columns=list(LABELLED_COLUMNS))
            if not scores:
                return labelled, None
            query = f"SELECT {score} FROM ({preds}) p ORDER BY p.ts"
            got = con.execute(query, params).fetchnumpy()
            return labelled, np.asarray(next(iter(got.values())), dtype=float)
        picked = f"p.ts, p.prediction, {score} AS score, l.label"
        if not scores:
            query = (
                f"WITH preds AS ({preds}), {latest} SELECT {picked} FROM preds p "
                "JOIN latest l ON CAST(p.prediction_id AS VARCHAR) = l.prediction_id "
                "ORDER BY p.ts"
            )
            return con.execute(query, params).df().drop(columns="ts"), None
        con.execute(
            f"CREATE TEMP TABLE scanned AS WITH preds AS ({preds}), {latest} "
            f"SELECT {picked}, l.prediction_id IS NOT NULL AS labelled FROM preds p "
            "LEFT JOIN latest l ON CAST(p.prediction_id AS VARCHAR) = l.prediction_id",
            params,
        )
        got = con.execute("SELECT score FROM scanned ORDER BY ts").fetchnumpy()
        labelled = con.execute(
            "SELECT prediction, score, label FROM scanned WHERE labelled ORDER BY ts"
        ).df()
        return labelled, np.asarray(got["score"], dtype=float)
