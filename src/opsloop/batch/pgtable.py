"""Each batch run's rows as a PostgreSQL table of their own, ``<name>__run_<run id>``
beside the view readers query (`pgview.py`).

`write_run_table` copies the run's Parquet files (still hidden: before the run is
recorded) in one transaction: CREATE TABLE, then one ``COPY … FROM STDIN (FORMAT csv,
FREEZE)`` per record batch (CSV written by Arrow; memory bounded by the batch), then the
table's comment (opsloop's, naming the model and run), then COMMIT. A failed or killed
run leaves nothing: PostgreSQL drops a table whose creating transaction did not commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opsloop.batch.pgconn import Comment, connect, failure, find_relation
from opsloop.errors import OutputTableError

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

    import psycopg
    import pyarrow as pa

    from opsloop.config.batch import OutputTable


def pg_type(t: pa.DataType) -> str | None:
    """The column type an Arrow type is stored as (timestamps as timestamptz, UTC);
    None when there is none."""
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        return pg_type(t.value_type)
    checks: list[tuple[Any, str]] = [
        (pa.types.is_boolean, "boolean"),
        (lambda x: x in (pa.int8(), pa.int16(), pa.uint8()), "smallint"),
        (lambda x: x in (pa.int32(), pa.uint16()), "integer"),
        (lambda x: x in (pa.int64(), pa.uint32()), "bigint"),
        (lambda x: x == pa.uint64(), "numeric(20)"),
        (lambda x: x in (pa.float16(), pa.float32()), "real"),
        (pa.types.is_float64, "double precision"),
        (pa.types.is_timestamp, "timestamptz"),
        (pa.types.is_date, "date"),
        (lambda x: pa.types.is_string(x) or pa.types.is_large_string(x), "text"),
        (pa.types.is_null, "text"),
    ]
    for check, name in checks:
        if check(t):
            return name
    if pa.types.is_decimal(t):
        return f"numeric({t.precision},{t.scale})"
    return None


def _columns(schema: pa.Schema) -> list[tuple[str, str]]:
    """(name, PostgreSQL type) per column; every unstorable column named at once."""
    bad = [f"{f.name} ({f.type})" for f in schema if pg_type(f.type) is None]
    if bad:
        raise OutputTableError(
            "the batch output has column(s) PostgreSQL cannot store: " + ", ".join(bad),
            expected="numbers, text, booleans, dates or timestamps",
            fix="score with a version whose predictions are one of those, or drop "
            "--output-table / predict.output_table",
        )
    return [(f.name, pg_type(f.type) or "") for f in schema]


def _storable(batch: pa.RecordBatch) -> pa.Table:
    """`batch` as the CSV PostgreSQL reads back into its columns: dictionaries decoded,
    timestamps in UTC with microseconds (PostgreSQL's precision)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = []
    for col in batch.columns:
        if pa.types.is_dictionary(col.type):
            col = col.dictionary_decode()
        if pa.types.is_timestamp(col.type):
            if col.type.tz is None:  # opsloop's times are UTC (the output's contract)
                col = pc.assume_timezone(col, "UTC")
            col = pc.cast(col, pa.timestamp("us", tz="UTC"), safe=False)
        columns.append(col)
    return pa.Table.from_arrays(columns, names=batch.schema.names)


def _csv(table: pa.Table) -> memoryview:
    import pyarrow as pa
    import pyarrow.csv as csv

    sink = pa.BufferOutputStream()
    # strings are always quoted ("" is an empty string), a null is an empty field: the
    # CSV convention of PostgreSQL's COPY
    csv.write_csv(table, sink, csv.WriteOptions(include_header=False, quoting_style="needed"))
    return memoryview(sink.getvalue())


def _name(target: OutputTable, table: str) -> Any:
    from psycopg import sql

    return sql.Identifier(target.schema, table)


def write_run_table(
    target: OutputTable,
    model: str,
    run_id: str,
    files: list[Path],
    *,
    batch_rows: int,
    empty: pa.Schema,
    written: datetime,
) -> int:
    """Copy the run's Parquet `files` into its own table in one transaction (module
    docstring); the rows copied. `empty`: the columns of a run that wrote no file (the
    view's, when there is one, win); `written`: now, kept in the table's comment."""
    import psycopg
    import pyarrow.parquet as pq
    from psycopg import sql

    name = target.run_table(run_id)
    doing = f"writing the batch run's table {target.schema}.{name}"
    rows = 0
    try:  # the COMMIT at the end of the block can fail too
        with connect(target, doing) as conn:
            schema = pq.read_schema(files[0]) if files else None
            _create(conn, target, name, schema, empty)
            columns = sql.SQL(", ").join(sql.Identifier(f.name) for f in schema or [])
            copy = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv, FREEZE)").format(
                _name(target, name), columns
            )
            with conn.cursor() as cur:
                for path in files:
                    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
                        if batch.num_rows == 0:
                            continue
                        with cur.copy(copy) as out:
                            out.write(_csv(_storable(batch)))
                        rows += batch.num_rows
                comment = Comment(model, run_id, written=written.isoformat()).text()
                cur.execute(
                    sql.SQL("COMMENT ON TABLE {} IS {}").format(
                        _name(target, name), sql.Literal(comment)
                    )
                )
    except psycopg.Error as exc:
        raise failure(target, exc, doing) from exc
    return rows


def copy_run(
    target: OutputTable,
    model: str,
    run_id: str,
    staged: Path,
    *,
    rows: int,
    batch_rows: int,
    empty: pa.Schema,
    written: datetime,
) -> int:
    """`write_run_table` from the run's hidden folder `staged`, checked to hold the `rows`
    the run scored."""
    copied = write_run_table(
        target,
        model,
        run_id,
        sorted(staged.glob("*.parquet")),
        batch_rows=batch_rows,
        empty=empty,
        written=written,
    )
    if copied != rows:  # a file lost under the run: refuse rather than publish a gap
        drop_run_table(target, run_id)
        raise OutputTableError(
            f"batch run {run_id} scored {rows} rows but {copied} reached its table "
            f"{target.schema}.{target.run_table(run_id)}",
            fix="run it again (was a file of the run folder removed while it ran?)",
        )
    return copied


def _create(
    conn: psycopg.Connection[Any],
    target: OutputTable,
    name: str,
    schema: pa.Schema | None,
    empty: pa.Schema,
) -> None:
    """The run's table with the columns of its files; a run without files takes the
    view's columns (so re-pointing the view keeps their types), else `empty`'s."""
    from psycopg import sql

    table = _name(target, name)
    if schema is None:
        view = find_relation(conn, target.schema, target.name)
        if view is not None and view.kind == "v":
            like = _name(target, target.name)
            conn.execute(sql.SQL("CREATE TABLE {} (LIKE {})").format(table, like))
            return
        schema = empty
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in _columns(schema)
    )
    conn.execute(sql.SQL("CREATE TABLE {} ({})").format(table, columns))


def drop_run_table(target: OutputTable, run_id: str) -> None:
    """Drop a run's table (a run whose record failed after its table committed)."""
    import psycopg
    from psycopg import sql

    doing = "dropping a batch run's table"
    try:
        with connect(target, doing) as conn:
            table = _name(target, target.run_table(run_id))
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
    except psycopg.Error as exc:
        raise failure(target, exc, doing) from exc


def list_run_tables(target: OutputTable, model: str) -> list[Comment]:
    """The comments of `model`'s run tables beside the view (which run, when written)."""
    import psycopg

    doing = "listing the batch run tables"
    pattern = target.name.replace("_", r"\_") + r"\_\_run\_%"
    try:
        with connect(target, doing) as conn:
            rows = conn.execute(
                "SELECT obj_description(c.oid, 'pg_class') FROM pg_class c JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r' "
                "AND c.relname LIKE %s",
                (target.schema, pattern),
            ).fetchall()
    except psycopg.Error as exc:
        raise failure(target, exc, doing) from exc
    found = [Comment.parse(r[0]) for r in rows]
    return [c for c in found if c is not None and c.model == model]


def read_run_table(target: OutputTable, run_id: str, columns: list[str] | None) -> pa.Table:
    """A run's rows from its table (all of them: query the view yourself for large ones)."""
    import psycopg
    import pyarrow as pa
    from psycopg import sql

    name = target.run_table(run_id)
    picked = sql.SQL("*") if not columns else sql.SQL(", ").join(map(sql.Identifier, columns))
    doing = f"reading the batch run's table {target.schema}.{name}"
    try:
        with connect(target, doing) as conn:
            cur = conn.execute(sql.SQL("SELECT {} FROM {}").format(picked, _name(target, name)))
            names = [d.name for d in cur.description or []]
            values = list(zip(*cur.fetchall(), strict=True)) or [() for _ in names]
    except psycopg.Error as exc:
        raise failure(target, exc, doing) from exc
    return pa.table({n: pa.array(list(v)) for n, v in zip(names, values, strict=True)})
