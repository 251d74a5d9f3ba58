"""DuckDB's SQL engine without its Python relation API, for commands that only run SQL.

`import duckdb` (2.0) costs ~0.1 s of CPU here — its Python relation and expression API
(`duckdb/_relation.py`, ~4,600 lines) and its version lookup through `importlib.metadata` —
on top of ~0.03 s for the engine itself: the C++ extension module `_duckdb` (typed by the
`_duckdb-stubs` the wheel ships), whose `connect`, `DuckDBPyConnection` and exceptions the
`duckdb` package re-exports as they are. `opsloop drift` runs SQL and fetches rows, which
the engine alone does, so it takes `engine()`: `_duckdb`, or the `duckdb` package when that
is imported already or `_duckdb` cannot be imported on its own (a release that moves it).

Anything more — registering a DataFrame, relations, Arrow — imports the package first
(`package()`); it completes the same classes (it adds the relation methods to
`DuckDBPyConnection`), so a connection made by `engine()` gains them.
"""

from __future__ import annotations

import sys
from types import ModuleType


def engine() -> ModuleType:
    """The module to `connect` with and catch `Error` from (module docstring)."""
    loaded = sys.modules.get("duckdb")
    if loaded is not None:
        return loaded
    try:
        import _duckdb
    except ImportError:
        return package()
    return _duckdb


def package() -> ModuleType:
    """The whole `duckdb` package."""
    import duckdb

    return duckdb
