"""Drift between any two data sets, without a project: `opsloop drift REF CUR`,
`opsloop.monitor.compare(reference, current)`.

The same machinery as `opsloop monitor`, on data instead of a model's windows: the
reference profile is built from the reference data in DuckDB
(`opsloop.engines.reference_sql`: the layout of `compute_profile`, in bounded memory), the
current data is profiled on its layout by the monitor's query (`engines/profile_sql`), and
`detect_drift` and the data-quality feature checks judge it with the monitor's rules and
`DriftConfig`. Each side is a Parquet or CSV file (globs and directories of Parquet files
too), a DuckDB query written `sql:SELECT …`, or (in Python) a pandas DataFrame.

Kinds are inferred from the reference's column types — booleans are boolean, numbers
numeric, text categorical — and can be overridden (`categorical`, `numeric`); columns of
other types (dates, timestamps, lists, blobs…) are skipped unless named in an override.
Columns in only one of the data sets are left out and listed.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from opsloop.config import DriftConfig, MonitorQualityConfig
from opsloop.core.profile import Profile
from opsloop.data.features import FeatureKind, FeatureSpec
from opsloop.data.sqltypes import NUMERIC_TYPES
from opsloop.errors import InvalidInputError

if TYPE_CHECKING:
    from typing import TypeAlias

    import duckdb
    import pandas as pd

    from opsloop.engines.reference_sql import Layout, ReferenceData
    from opsloop.monitor.drift import DriftResult
    from opsloop.monitor.quality import QualityReport

    DataInput: TypeAlias = str | os.PathLike[str] | pd.DataFrame

T = TypeVar("T")

SQL_PREFIX = "sql:"
PARQUET = (".parquet", ".pq", ".parq")
CSV = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".csv.zst")
_TEXT_TYPES = ("VARCHAR", "ENUM", "UUID")
MEMORY_LIMIT = "1GB"  # DuckDB's: the profiles stream; this only caps a runaway query
THREADS = 2
JUDGES = ("opsloop.monitor.drift", "opsloop.monitor.quality")  # imported while DuckDB reads


@dataclass(frozen=True)
class SkippedColumn:
    name: str
    type: str
    reason: str


@dataclass
class DatasetComparison:
    """The result of `compare`: drift (the monitor's `DriftResult`), the data-quality
    feature checks, the features compared (name, kind, DuckDB type) and what was left out."""

    reference: str
    current: str
    features: list[FeatureSpec]
    drift: DriftResult
    quality: QualityReport
    reference_profile: Profile
    current_profile: Profile
    skipped: list[SkippedColumn] = field(default_factory=list)
    drift_config: DriftConfig = field(default_factory=DriftConfig)

    @property
    def detected(self) -> bool:
        """Dataset drift: the share of drifted features reached `drift.share`."""
        return self.drift.detected

    @property
    def reference_rows(self) -> int:
        return self.reference_profile.n_rows

    @property
    def current_rows(self) -> int:
        return self.current_profile.n_rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "current": self.current,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "detected": self.detected,
            "features": [{"name": f.name, "kind": f.kind, "type": f.dtype} for f in self.features],
            "drift": self.drift.to_dict(),
            "quality": self.quality.to_dict(),
            "skipped": [vars(s) for s in self.skipped],
            "drift_share": self.drift_config.share,
        }


@dataclass(frozen=True)
class Source:
    """A data set as DuckDB reads it (`source`): `sql` is a relation (a table function, a
    view name or a parenthesised query), `label` what the user gave, `files` the files it
    reads (none for a query or a DataFrame)."""

    sql: str
    label: str
    files: tuple[str, ...] = ()


def _files(text: str, side: str) -> list[str]:
    path = Path(os.path.expanduser(text))
    if path.is_dir():
        found = sorted(glob.glob(str(path / "**" / "*.parquet"), recursive=True))
        if not found:
            raise InvalidInputError(
                f"the {side} folder {text!r} holds no Parquet files",
                expected="a Parquet or CSV file, a glob, a folder of Parquet files, "
                "or sql:SELECT …",
                fix="point at the files themselves, e.g. 'data/*.csv'",
            )
        return found
    found = sorted(glob.glob(str(path))) if glob.has_magic(str(path)) else []
    if not found and path.is_file():
        found = [str(path)]
    if not found:
        raise InvalidInputError(
            f"the {side} data {text!r} does not exist",
            expected="a Parquet or CSV file, a glob matching some, or sql:SELECT …",
            got="no file" + (" matches the pattern" if glob.has_magic(text) else " at that path"),
            fix="check the path (relative paths start at the current folder)",
        )
    return found


def input_files(text: str, side: str) -> list[str]:
    """The files a path, glob or folder names (a clear error when none): what `source`
    reads, for engines other than DuckDB (`batch/spark.py`)."""
    return _files(text, side)


def source(data: DataInput, side: str, con: duckdb.DuckDBPyConnection) -> Source:
    """`data` (a path, glob, folder, `sql:…` or DataFrame) as a relation of `con`; `side`
    names it in errors."""
    from opsloop.engines.profile_sql import quote

    if not isinstance(data, str | os.PathLike):
        import pandas as pd

        if not isinstance(data, pd.DataFrame):
            raise InvalidInputError(
                f"the {side} data is a {type(data).__name__}",
                expected="a path, a glob, sql:SELECT … or a pandas DataFrame",
            )
        from opsloop.engines.duckdb_core import package

        package()  # a DataFrame is scanned by the package's code, not the engine's alone
        view = f"opsloop_{side}"
        con.register(view, data)
        return Source(view, f"DataFrame ({len(data)} rows)")
    text = os.fspath(data)
    if text.startswith(SQL_PREFIX):
        query = text[len(SQL_PREFIX) :].strip().rstrip(";")
        if not query:
            raise InvalidInputError(
                f"the {side} query is empty", expected="sql:SELECT … FROM read_parquet('…')"
            )
        return Source(f"({query})", text)
    files = _files(text, side)
    listed = "[" + ", ".join(quote(f) for f in files) + "]"
    lower = [f.lower() for f in files]
    if all(f.endswith(PARQUET) for f in lower):
        return Source(f"read_parquet({listed}, union_by_name = true)", text, tuple(files))
    if all(f.endswith(CSV) for f in lower):
        return Source(f"read_csv({listed}, union_by_name = true)", text, tuple(files))
    raise InvalidInputError(
        f"cannot tell the format of the {side} data {text!r}",
        expected=f"files ending in {', '.join(PARQUET + CSV)} (one format per side)",
        got=", ".join(Path(f).name for f in files[:3]) + (" …" if len(files) > 3 else ""),
        fix="rename the files, or read them yourself: sql:SELECT * FROM read_csv('…')",
    )


def describe_source(con: duckdb.DuckDBPyConnection, found: Source, side: str) -> dict[str, str]:
    """The relation's columns and their DuckDB types, in order."""
    from opsloop.engines.duckdb_core import engine
    from opsloop.engines.profile_sql import describe

    try:
        return describe(con, found.sql)
    except engine().Error as exc:
        raise InvalidInputError(
            f"DuckDB cannot read the {side} data {found.label!r}: {str(exc).splitlines()[0]}",
            fix='check the file (or the query) with `duckdb -c "DESCRIBE SELECT * FROM …"`',
        ) from None


def _kind(sql_type: str) -> FeatureKind | None:
    t = sql_type.upper()
    if t == "BOOLEAN":
        return "boolean"
    if t.startswith(NUMERIC_TYPES):
        return "numeric"
    if t.startswith(_TEXT_TYPES):
        return "categorical"
    return None


def _names(values: Iterable[str] | str | None) -> list[str]:
    """Names from a list or a comma-separated string (CLI options may repeat or list)."""
    if values is None:
        return []
    items = [values] if isinstance(values, str) else list(values)
    return [n.strip() for item in items for n in item.split(",") if n.strip()]


def _unknown(names: Sequence[str], available: Sequence[str], option: str) -> None:
    missing = [n for n in names if n not in available]
    if missing:
        raise InvalidInputError(
            f"{option} names column(s) not in both data sets: {', '.join(missing)}",
            expected=f"columns of both: {', '.join(available[:20])}"
            + (" …" if len(available) > 20 else ""),
            fix="check the spelling (names are case-sensitive)",
        )


def plan_features(
    ref_columns: dict[str, str],
    cur_columns: dict[str, str],
    *,
    columns: Sequence[str] = (),
    exclude: Sequence[str] = (),
    categorical: Sequence[str] = (),
    numeric: Sequence[str] = (),
) -> tuple[list[FeatureSpec], list[SkippedColumn]]:
    """The features to compare (kinds inferred from the reference's types, overridden by
    `categorical`/`numeric`) and the columns left out, with why."""
    common = [c for c in ref_columns if c in cur_columns]
    skipped = [SkippedColumn(c, t, "only in the reference") for c, t in ref_columns.items()]
    skipped = [s for s in skipped if s.name not in cur_columns]
    skipped += [
        SkippedColumn(c, t, "only in the current data")
        for c, t in cur_columns.items()
        if c not in ref_columns
    ]
    if not common:
        raise InvalidInputError(
            "the two data sets have no column in common",
            expected="columns of the same names in both",
            got=f"reference {list(ref_columns)[:10]}, current {list(cur_columns)[:10]}",
            fix="rename the columns, e.g. with sql:SELECT a AS b FROM read_parquet('…')",
        )
    both = [*categorical, *numeric]
    twice = sorted(set(categorical) & set(numeric))
    if twice:
        raise InvalidInputError(
            f"column(s) named both categorical and numeric: {', '.join(twice)}",
            fix="name each column in one of --categorical and --numeric",
        )
    for option, names in (
        ("--columns", columns),
        ("--exclude", exclude),
        ("--categorical/--numeric", both),
    ):
        _unknown(names, common, option)
    chosen = list(columns) if columns else common
    kinds: dict[str, FeatureKind] = {c: "categorical" for c in categorical}
    kinds |= {n: "numeric" for n in numeric}
    features = []
    for name in chosen:
        if name in exclude:
            continue
        sql_type = ref_columns[name]
        kind = kinds.get(name) or _kind(sql_type)
        if kind is None:
            skipped.append(
                SkippedColumn(
                    name, sql_type, "not a number, text or boolean (name it in --categorical)"
                )
            )
            continue
        features.append(FeatureSpec(name, kind, sql_type.lower()))
    if not features:
        raise InvalidInputError(
            "no column left to compare",
            expected="at least one numeric, text or boolean column in both data sets",
            got=f"common columns {common[:10]}; excluded or skipped: "
            + ", ".join(f"{s.name} ({s.reason})" for s in skipped[:10]),
            fix="check --columns/--exclude, or name columns in --categorical/--numeric",
        )
    return features, skipped


def _connect() -> duckdb.DuckDBPyConnection:
    from opsloop.engines.duckdb_core import engine

    # the engine module alone: SQL is all this needs (engines/duckdb_core.py: ~0.1 s less)
    settings = {"threads": THREADS, "memory_limit": MEMORY_LIMIT}
    con: duckdb.DuckDBPyConnection = engine().connect(config=settings)
    con.execute("SET preserve_insertion_order = false")
    # read Parquet pages as they are decoded, not whole column chunks ahead: memory then
    # stays flat from one row group to many (docs/benchmarks.md)
    con.execute("SET disable_parquet_prefetching = true")
    return con


def compare(
    reference: DataInput,
    current: DataInput,
    *,
    columns: Iterable[str] | str | None = None,
    exclude: Iterable[str] | str | None = None,
    categorical: Iterable[str] | str | None = None,
    numeric: Iterable[str] | str | None = None,
    drift: DriftConfig | None = None,
    quality: MonitorQualityConfig | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> DatasetComparison:
    """Drift and data quality of `current` against `reference` (module docstring).

    `reference`, `current`: a Parquet/CSV path or glob, a folder of Parquet files,
    ``"sql:SELECT …"`` (DuckDB) or a pandas DataFrame; `columns`: compare only these;
    `exclude`: leave these out; `categorical`/`numeric`: override inferred kinds; `drift`,
    `quality`: the monitor's settings (`monitor.drift`, `monitor.quality` of opsloop.yaml;
    defaults as there); `meanwhile`: called on this thread while DuckDB reads the
    reference's layout on another (`opsloop drift` imports its report modules then; it must
    not use DuckDB)."""
    from opsloop.engines.duckdb_core import engine
    from opsloop.engines.profile_sql import read_values
    from opsloop.engines.reference_sql import reference_layout, sample

    cfg = drift or DriftConfig()
    qcfg = quality or MonitorQualityConfig(schema=False)
    with _connect() as con:
        ref_src = source(reference, "reference", con)
        cur_src = source(current, "current", con)
        ref_cols = describe_source(con, ref_src, "reference")
        cur_cols = describe_source(con, cur_src, "current")
        features, skipped = plan_features(
            ref_cols,
            cur_cols,
            columns=_names(columns),
            exclude=_names(exclude),
            categorical=_names(categorical),
            numeric=_names(numeric),
        )
        try:
            # the layout statement runs on another thread (DuckDB releases the GIL): this
            # one imports the judges meanwhile, whose ~0.1 s would otherwise follow it
            layout = _while_reading(
                lambda: reference_layout(con, ref_src.sql, features, ref_cols),
                con,
                meanwhile,
            )
            ref, cur = _profiles(con, layout, ref_src, cur_src, ref_cols, cur_cols)
            profile = ref.profile
            from opsloop.monitor.drift import wants_exact

            exact = [
                f.name
                for f in features
                if f.kind == "numeric"
                and profile.features[f.name].layout is not None
                and wants_exact(_with_sample(profile, f.name), cur.features[f.name], cfg)
            ]
            for name in exact:
                profile.features[name].sample = sample(con, ref_src.sql, name, ref_cols[name])
            values = read_values(con, cur_src.sql, (), exact, limit=cfg.exact_max_rows)
        except engine().Error as exc:
            raise InvalidInputError(
                f"DuckDB failed reading the data: {str(exc).splitlines()[0]}",
                fix="check the files (or the queries) and the column types",
            ) from None
    from opsloop.monitor.drift import detect_drift
    from opsloop.monitor.quality import Expectations, QualityReport, check_features

    result = detect_drift(profile, cur, features, cfg, values)
    checks = check_features(
        profile,
        cur,
        features,
        qcfg,
        expectations=Expectations(profile.n_rows, None, ref.unseen_rate),
    )
    return DatasetComparison(
        reference=ref_src.label,
        current=cur_src.label,
        features=features,
        drift=result,
        quality=QualityReport(checks),
        reference_profile=profile,
        current_profile=cur,
        skipped=skipped,
        drift_config=cfg,
    )


def _while_reading(
    read: Callable[[], T],
    con: duckdb.DuckDBPyConnection,
    meanwhile: Callable[[], object] | None,
) -> T:
    """`read()` (statements on `con`) on a thread of its own while this one imports the
    modules that judge the profiles and runs `meanwhile`; `read`'s result or error. Only
    this thread imports (two importing threads can deadlock on Python's module locks), and
    `con` is used by one thread at a time."""
    import importlib
    import threading

    got: list[T] = []
    failed: list[BaseException] = []

    def target() -> None:
        try:
            got.append(read())
        except BaseException as exc:  # handed to the caller's thread below
            failed.append(exc)

    thread = threading.Thread(target=target, name="opsloop-reference-layout", daemon=True)
    thread.start()
    try:
        for name in JUDGES:
            importlib.import_module(name)
        if meanwhile is not None:
            meanwhile()
    except BaseException:
        # Ctrl-C or a failing `meanwhile`: stop the statement (again, should it have not
        # started yet when first told), then raise
        while thread.is_alive():
            con.interrupt()
            thread.join(0.05)
        raise
    thread.join()
    if failed:
        raise failed[0]
    return got[0]


def _profiles(
    con: duckdb.DuckDBPyConnection,
    layout: Layout,
    ref_src: Source,
    cur_src: Source,
    ref_cols: dict[str, str],
    cur_cols: dict[str, str],
) -> tuple[ReferenceData, Profile]:
    """The reference's profile and the current data's on its `layout` (statement 1: the
    reference's moments and value counts), in one statement: the reference's sketch and the
    current profile together (two threads read both files at once)."""
    from opsloop.engines.profile_sql import profile_branches, profile_rows
    from opsloop.engines.reference_sql import finish, sketch_branches

    _not_empty(layout.profile, ref_src, "reference")
    names, branches = sketch_branches(layout, ref_src.sql, ref_cols)
    first = len(branches)
    # the current's categorical values counted first: cheaper, and its memory grows with
    # the distinct values as the reference's own value counts already do
    cur_names, cur_branches = profile_branches(
        layout.profile, cur_src.sql, cur_cols, time="", first=first, by_value=True
    )
    rows = con.execute(" UNION ALL ".join(branches + cur_branches)).fetchall()
    ref = finish(layout, names, [r for r in rows if r[0] < first])
    cur = profile_rows(ref.profile, cur_names, [r for r in rows if r[0] >= first], first=first)
    _not_empty(cur[0][1], cur_src, "current")
    return ref, cur[0][1]


def _with_sample(profile: Profile, name: str) -> Any:
    """The feature's reference profile as if it had a sample (`wants_exact` asks whether
    the exact KS would run; the sample is read only then)."""
    from dataclasses import replace

    return replace(profile.features[name], sample=[0.0])


def _not_empty(profile: Profile, found: Source, side: str) -> None:
    if profile.n_rows == 0:
        raise InvalidInputError(
            f"the {side} data {found.label!r} has no rows",
            expected="at least one row on each side",
            fix="check the files or the query's WHERE clause",
        )
