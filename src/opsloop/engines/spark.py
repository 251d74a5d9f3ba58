"""The Spark engine (`stack.engine: spark`): the `Engine` capabilities in Spark SQL over the
same hive-partitioned Parquet prediction log and label files the DuckDB engine reads.

The same project runs on a laptop (`local[*]`) and a cluster (`spark://…`, `yarn`,
`k8s://…`, Spark Connect `sc://…`) by changing `stack.spark.master` only; the log root must
then be a path every executor reads (a shared file system or object storage URI).

Rows are read as DuckDB reads them: the model's files without their `model=/date=/hour=`
directories as columns (`recursiveFileLookup` turns partition discovery off), schemas
merged by name, `ts` and `event_ts` as UTC timestamps (`event_ts` = `ts` where a file
lacks it), labels joined newest-per-id (`max_by(label, label_ts)`). Aggregates run in
Spark (profiles and the reconstruction error: `spark_sql.py`); only a window's rows that
the caller asks for as a frame (`read_window`, the labelled rows, feedback) reach Python,
as Arrow.

The session is created on the first read, once per process (`spark_session.py`).
"""

from __future__ import annotations

import glob
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from opsloop.data.predlog import RESERVED_NAMES, clock_column
from opsloop.engines.base import LABELLED_COLUMNS, PREDICTION_COLUMNS, FeedbackRows, WindowScan
from opsloop.engines.spark_session import DEFAULT_MASTER, get_session

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

    from opsloop.config.monitor import Clock
    from opsloop.core.profile import Profile
    from opsloop.core.transform import Transform

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def merged_schema(files: Sequence[str]) -> StructType:
    """The Spark schema of Parquet `files` read together: their columns by name, each of the
    type that holds every file's (int64 and double → double)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark.sql.pandas.types import from_arrow_schema

    schema = pa.unify_schemas([pq.read_schema(f) for f in files], promote_options="permissive")
    return from_arrow_schema(schema)


def to_pandas(df: DataFrame) -> pd.DataFrame:
    """A Spark frame as pandas through Arrow: timestamps stay UTC-aware (Spark's own
    `toPandas` makes them naive)."""
    return df.toArrow().to_pandas()


class SparkEngine:
    def __init__(
        self,
        prediction_root: Path,
        labels_root: Path,
        *,
        extra_labels_glob: str | None = None,
        id_column: str | None = None,
        target: str | None = None,
        master: str = DEFAULT_MASTER,
        conf: dict[str, str] | None = None,
    ) -> None:
        self.prediction_root = Path(prediction_root)
        self.labels_root = Path(labels_root)
        self.extra_labels_glob = extra_labels_glob
        self.id_column = id_column
        self.target = target
        self.master = master
        self.conf = dict(conf or {})

    @property
    def spark(self) -> SparkSession:
        return get_session(self.master, self.conf)

    # --- reading ----------------------------------------------------------------------

    def _log(self, model: str) -> DataFrame | None:
        """Every row of `model`'s log (None without files), `ts`/`event_ts` normalised.

        The files' schemas are merged from their Parquet footers here (pyarrow, types
        widened as DuckDB's `union_by_name` widens them) and given to Spark, which then
        starts no schema-inference job of its own."""
        from pyspark.sql import functions as F

        directory = self.prediction_root / f"model={model}"
        files = sorted(glob.glob(str(directory / "*" / "*" / "*.parquet")))
        if not files:
            return None
        df = (
            self.spark.read.schema(merged_schema(files))
            .option("recursiveFileLookup", "true")
            .option("pathGlobFilter", "*.parquet")
            .parquet(str(directory))
        )
        ts = F.col("ts").cast("timestamp")
        event = (
            F.coalesce(F.col("event_ts").cast("timestamp"), ts) if "event_ts" in df.columns else ts
        )
        return df.withColumn("ts", ts).withColumn("event_ts", event)

    def _window(
        self,
        model: str,
        start: datetime,
        end: datetime,
        version: str | None,
        *,
        clock: Clock = "event",
        served: bool = False,
    ) -> DataFrame | None:
        """The rows with start <= t < end on `clock`; with `version`, the answers it gave
        users; with `served`, every version's answers to users (no shadow rows)."""
        from pyspark.sql import functions as F

        df = self._log(model)
        if df is None:
            return None
        column = F.col(clock_column(clock))
        df = df.where(
            (column >= F.lit(start.astimezone(UTC))) & (column < F.lit(end.astimezone(UTC)))
        )
        not_shadow = F.coalesce(F.col("route"), F.lit("")) != "shadow"
        if version is not None:
            df = df.where((F.col("model_version").cast("string") == version) & not_shadow)
        elif served:
            df = df.where(not_shadow)
        return df

    def read_labels(self, start: datetime, end: datetime) -> pd.DataFrame:
        """The label files are small and local (`labels_root`): read as the DuckDB engine
        reads them, without a Spark job."""
        from opsloop.engines.duckdb import DuckDBEngine

        return DuckDBEngine(self.prediction_root, self.labels_root).read_labels(start, end)

    def _labels(self) -> DataFrame | None:
        """Every label row `(prediction_id, label, label_ts)`, None without label files."""
        from pyspark.sql import functions as F

        sources = []
        if glob.glob(str(self.labels_root / "*.parquet")):
            df = self.spark.read.option("mergeSchema", "true").parquet(
                str(self.labels_root / "*.parquet")
            )
            sources.append(
                df.select(
                    F.col("prediction_id").cast("string").alias("prediction_id"),
                    F.col("label"),
                    F.col("label_ts").cast("timestamp").alias("label_ts"),
                )
            )
        if (
            self.extra_labels_glob
            and self.id_column
            and self.target
            and glob.glob(self.extra_labels_glob)
        ):
            df = self.spark.read.option("mergeSchema", "true").parquet(self.extra_labels_glob)
            sources.append(
                df.select(
                    F.col(self.id_column).cast("string").alias("prediction_id"),
                    F.col(self.target).alias("label"),
                    F.lit(_EPOCH).cast("timestamp").alias("label_ts"),
                )
            )
        if not sources:
            return None
        found = sources[0]
        for more in sources[1:]:
            found = found.unionByName(more)
        return found

    def _latest(self) -> DataFrame | None:
        """The newest label per prediction id (`prediction_id`, `label`)."""
        from pyspark.sql import functions as F

        labels = self._labels()
        if labels is None:
            return None
        return labels.groupBy("prediction_id").agg(F.max_by("label", "label_ts").alias("label"))

    def _joined(self, window: DataFrame, *, labelled_only: bool) -> DataFrame:
        from pyspark.sql import functions as F

        latest = self._latest()
        if latest is None:
            frame = window.withColumn("label", F.lit(None))
            return frame.where(F.lit(False)) if labelled_only else frame
        key = window.withColumn("__opsloop_key", F.col("prediction_id").cast("string"))
        joined = key.join(
            latest.withColumnRenamed("prediction_id", "__opsloop_key"),
            on="__opsloop_key",
            how="inner" if labelled_only else "left",
        )
        return joined.select(*window.columns, "label")

    def count_labels(self) -> int:
        labels = self._labels()
        return 0 if labels is None else int(labels.select("prediction_id").distinct().count())

    def count_logged(self, model: str, ids: Sequence[str]) -> int:
        from pyspark.sql import functions as F

        log = self._log(model)
        if log is None or not ids:
            return 0
        wanted = self.spark.createDataFrame([(str(i),) for i in set(ids)], "prediction_id string")
        logged = log.select(F.col("prediction_id").cast("string").alias("prediction_id")).distinct()
        return int(wanted.join(logged, on="prediction_id", how="left_semi").count())

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
        import pandas as pd

        window = self._window(model, start, end, version, clock=clock)
        if window is None:
            return pd.DataFrame(columns=list(PREDICTION_COLUMNS))
        frame = to_pandas(self._joined(window, labelled_only=labelled_only).orderBy("ts"))
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
        import numpy as np

        window = self._window(model, start, end, version, clock=clock)
        if window is None:
            return np.empty(0)
        return self._scores(window)

    def _scores(self, window: DataFrame) -> np.ndarray:
        import numpy as np
        from pyspark.sql import functions as F

        score = F.col("score").cast("double") if "score" in window.columns else F.lit(None)
        got = window.orderBy("ts").select(score.cast("double").alias("score")).toArrow()
        return np.asarray(got.column("score").to_numpy(zero_copy_only=False), dtype=float)

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
        window = self._window(model, start, end, version, clock=clock)
        if window is None:
            return {name: [] for name in names}
        return self._values(window, names, limit)

    def _values(
        self, window: DataFrame, names: Sequence[str], limit: int
    ) -> dict[str, list[float]]:
        """At most `limit` non-null, non-NaN values of each column `names` (one job)."""
        from pyspark.sql import functions as F

        out: dict[str, list[float]] = {name: [] for name in names}
        present = [n for n in names if n in window.columns]
        if not present or limit <= 0:
            return out
        parts = []
        for i, name in enumerate(present):
            v = F.expr(f"try_cast(`{name.replace('`', '``')}` AS DOUBLE)")
            parts.append(
                window.select(F.lit(i).alias("f"), v.alias("v"))
                .where(v.isNotNull() & ~F.isnan(v))
                .limit(int(limit))
            )
        union = parts[0]
        for part in parts[1:]:
            union = union.unionByName(part)
        for f, v in union.collect():
            out[present[f]].append(float(v))
        return out

    # --- aggregates --------------------------------------------------------------------

    def _profile(self, window: DataFrame, reference: Profile, *, clock: Clock) -> Profile:
        from opsloop.engines.profile_sql import profile_rows
        from opsloop.engines.spark_sql import feature_rows, profile_query

        view = f"opsloop_window_{uuid.uuid4().hex}"
        window.createOrReplaceTempView(view)
        try:
            columns = dict(window.dtypes)
            time = clock_column(clock)
            names, query = profile_query(reference, view, columns, time=time)
            if names:
                rows = self.spark.sql(query).collect()
                return profile_rows(reference, names, feature_rows(rows))[0][1]
            row = self.spark.sql(
                f"SELECT count(*), unix_micros(max(`{time}`)) FROM {view}"
            ).collect()[0]
            newest = None if row[1] is None else _EPOCH + timedelta(microseconds=int(row[1]))
            empty = reference.empty()
            return type(empty)(int(row[0]), empty.features, newest)
        finally:
            self.spark.catalog.dropTempView(view)

    def _error(self, window: DataFrame, transform: Transform) -> tuple[int, float | None]:
        from opsloop.engines.multivariate_sql import error_result
        from opsloop.engines.spark_sql import error_query

        view = f"opsloop_window_{uuid.uuid4().hex}"
        window.createOrReplaceTempView(view)
        try:
            row = self.spark.sql(error_query(transform, view, dict(window.dtypes))).collect()[0]
        finally:
            self.spark.catalog.dropTempView(view)
        return error_result(row[0], row[1])

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
        """The window's profile on the reference's layout, aggregated by Spark SQL
        (`spark_sql.py`): only per-feature, per-bucket counts and moments reach Python."""
        window = self._window(model, start, end, version, clock=clock, served=served)
        if window is None:
            return reference.empty()
        return self._profile(window, reference, clock=clock)

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
        window = self._window(model, start, end, version, clock=clock, served=served)
        if window is None:
            return 0, None
        return self._error(window, transform)

    def _labelled(self, window: DataFrame) -> pd.DataFrame:
        import pandas as pd
        from pyspark.sql import functions as F

        if self._latest() is None:
            return pd.DataFrame(columns=list(LABELLED_COLUMNS))
        score = F.col("score").cast("double") if "score" in window.columns else F.lit(None)
        joined = self._joined(window, labelled_only=True).orderBy("ts")
        return to_pandas(joined.select("prediction", score.cast("double").alias("score"), "label"))

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
        """The profile, the labelled rows, the scores, the error and the raw values, each
        one Spark job over the window (each as its own method returns it)."""
        import numpy as np
        import pandas as pd

        window = self._window(model, start, end, version, clock=clock)
        if window is None:
            profile = reference.empty()
            wanted = list(exact(profile)) if exact is not None else []
            return WindowScan(
                profile,
                pd.DataFrame(columns=list(PREDICTION_COLUMNS)),
                np.empty(0) if scores else None,
                {name: [] for name in wanted} if wanted else None,
                None if transform is None else (0, None),
            )
        return self._scan(window, reference, clock, scores, transform, exact, limit)

    def _scan(
        self,
        window: DataFrame,
        reference: Profile,
        clock: Clock,
        scores: bool,
        transform: Transform | None,
        exact: Callable[[Profile], Sequence[str]] | None,
        limit: int,
    ) -> WindowScan:
        profile = self._profile(window, reference, clock=clock)
        error = None if transform is None else self._error(window, transform)
        wanted = list(exact(profile)) if exact is not None else []
        return WindowScan(
            profile,
            self._labelled(window),
            self._scores(window) if scores else None,
            self._values(window, wanted, limit) if wanted else None,
            error,
        )

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
        """One job finds which windows of `indexes` have rows (a count per window index);
        each of those is then scanned as `scan_window` scans it."""
        from pyspark.sql import functions as F

        if not indexes:
            return
        at = start.astimezone(UTC)
        whole = self._window(
            model, at + indexes[0] * every, at + (indexes[-1] + 1) * every, version, clock=clock
        )
        if whole is None:
            return
        start_us = (at - _EPOCH) // timedelta(microseconds=1)
        every_us = every // timedelta(microseconds=1)
        key = F.floor((F.unix_micros(F.col(clock_column(clock))) - F.lit(start_us)) / every_us)
        found = {int(r[0]) for r in whole.select(key.alias("w")).distinct().collect()}
        for i in indexes:
            if i not in found:
                continue
            window = self._window(model, at + i * every, at + (i + 1) * every, version, clock=clock)
            assert window is not None
            yield i, self._scan(window, reference, clock, scores, transform, exact, limit)

    def log_span(
        self, model: str, *, version: str | None = None, clock: Clock = "event"
    ) -> tuple[datetime, datetime] | None:
        from pyspark.sql import functions as F

        everything = (datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC))
        window = self._window(model, *everything, version, clock=clock)
        if window is None:
            return None
        column = clock_column(clock)
        row = window.select(
            F.unix_micros(F.min(column)).alias("lo"), F.unix_micros(F.max(column)).alias("hi")
        ).collect()[0]
        if row[0] is None:
            return None
        return (
            _EPOCH + timedelta(microseconds=int(row[0])),
            _EPOCH + timedelta(microseconds=int(row[1])),
        )

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
        """The window's labelled production rows, one per id, chosen in Spark as
        `feedback_sql.py` chooses them in DuckDB: only the rows kept reach pandas."""
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        from opsloop.engines.feedback_sql import empty_feedback

        window = self._window(model, start, end, None, clock="event")
        if window is None or self._latest() is None:
            return empty_feedback()
        present = [
            c for c in dict.fromkeys(columns) if c in window.columns and c not in RESERVED_NAMES
        ]
        served = window.where(F.coalesce(F.col("route"), F.lit("")) != "shadow")
        joined = self._joined(served, labelled_only=True).withColumn(
            "prediction_id", F.col("prediction_id").cast("string")
        )
        order = Window.partitionBy("prediction_id").orderBy(
            (F.coalesce(F.col("route"), F.lit("")) == "stable").desc(),
            F.col("ts").desc(),
            F.col("request_id").asc(),
        )
        ranked = joined.withColumn("__n", F.row_number().over(order)).where("__n = 1")
        ids = self.spark.createDataFrame([(str(i),) for i in set(exclude)], "prediction_id string")
        marked = ranked.join(
            ids.withColumn("__duplicate", F.lit(True)), on="prediction_id", how="left"
        ).select(
            "prediction_id",
            "event_ts",
            "label",
            *present,
            F.coalesce(F.col("__duplicate"), F.lit(False)).alias("__duplicate"),
        )
        marked = marked.cache()  # counted, then the kept rows read: one scan of the log
        try:
            counts = marked.agg(F.count("*"), F.count_if(F.col("__duplicate"))).collect()[0]
            labelled, duplicates = int(counts[0]), int(counts[1] or 0)
            kept = labelled - duplicates
            limit = kept if max_rows is None else min(kept, max_rows)
            chosen = (
                marked.where(~F.col("__duplicate"))
                .orderBy(F.col("event_ts").desc(), F.col("prediction_id").desc())
                .limit(limit)
                .orderBy("event_ts", "prediction_id")
                .drop("__duplicate")
            )
            frame = to_pandas(chosen)
        finally:
            marked.unpersist()
        return FeedbackRows(frame, labelled, duplicates, kept - limit)
