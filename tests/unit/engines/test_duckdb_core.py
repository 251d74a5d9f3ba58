"""`engines/duckdb_core.py`: DuckDB's engine module without the `duckdb` package, and the
premise it rests on — the package re-exports the engine's own objects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb

from opsloop.engines.duckdb_core import engine, package


def test_the_package_re_exports_the_engines_objects() -> None:
    """If a DuckDB release breaks this, `engine()` must change with it."""
    import _duckdb

    assert duckdb.connect is _duckdb.connect
    assert duckdb.Error is _duckdb.Error
    assert duckdb.DuckDBPyConnection is _duckdb.DuckDBPyConnection


def test_with_the_package_imported_the_engine_is_the_package() -> None:
    assert engine() is duckdb is package()


ALONE = """
import sys
from opsloop.engines.duckdb_core import engine, package
db = engine()
con = db.connect(config={{"threads": 2}})
rows = con.execute("SELECT count(*), avg(x) FROM read_csv({path!r})").fetchall()
try:
    con.execute("SELECT * FROM nope")
except db.Error as exc:
    caught = type(exc).__name__
print(db.__name__, rows, caught, "duckdb" in sys.modules)
package()
print(callable(con.sql), con.sql("SELECT 42").fetchall())
"""


def test_alone_the_engine_runs_sql_without_the_package(tmp_path: Path) -> None:
    data = tmp_path / "x.csv"
    data.write_text("x\n1\n2\n3\n")
    code = ALONE.format(path=str(data))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, second = out.stdout.strip().splitlines()
    assert first == "_duckdb [(3, 2.0)] CatalogException False"
    assert second == "True [(42,)]"  # the package completes a connection made before it


def test_opsloop_drift_does_not_import_the_package(tmp_path: Path) -> None:
    (tmp_path / "ref.csv").write_text("x,c\n" + "".join(f"{i},a\n" for i in range(50)))
    (tmp_path / "cur.csv").write_text("x,c\n" + "".join(f"{i + 1},a\n" for i in range(50)))
    code = (
        "import sys; from opsloop.monitor import compare; "
        f"r = compare({str(tmp_path / 'ref.csv')!r}, {str(tmp_path / 'cur.csv')!r}); "
        "print(r.current_rows, 'duckdb' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["50", "False"]
