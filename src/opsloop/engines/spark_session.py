"""The Spark session of this process: created on first use, once, from `stack.spark`.

`master` passes through unchanged (`local[*]`, `spark://…`, `yarn`, `k8s://…`); a Spark
Connect URL (`sc://…`) is given to `SparkSession.builder.remote` instead. Every session
reads and writes time in UTC (`spark.sql.session.timeZone`), so a window's bounds and the
log's `ts`/`event_ts` mean the same instants as in DuckDB, and exchanges data with Python
as Arrow (`spark.sql.execution.arrow.pyspark.enabled`).

Starting the JVM takes seconds (~10 s here), so one session serves the whole process
(engine, batch prediction, tests): a second request with another master or other settings
is refused with a clear error rather than silently answered by the first session.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from opsloop.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[*]"
# settings every opsloop session has (a user's `spark.conf` may override the batch size)
BASE_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.maxRecordsPerBatch": "65536",
    "spark.ui.showConsoleProgress": "false",
    # Parquet timestamps as the log's and DuckDB's: microseconds, adjusted to UTC (not INT96)
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    # feature names are case-sensitive, as in DuckDB and pandas
    "spark.sql.caseSensitive": "true",
    # opsloop reads and writes paths, never catalog tables: without this Spark leaves an
    # empty `spark-warehouse/` in whatever folder the command ran in
    "spark.sql.warehouse.dir": os.path.join(tempfile.gettempdir(), "opsloop-spark-warehouse"),
}
INSTALL = 'pip install "opsloop[spark]"'

_lock = threading.Lock()
_session: SparkSession | None = None
_key: tuple[str, tuple[tuple[str, str], ...]] | None = None


def _missing_java() -> bool:
    from pathlib import Path

    home = os.environ.get("JAVA_HOME")
    return shutil.which("java") is None and not (home and (Path(home) / "bin" / "java").is_file())


def get_session(
    master: str = DEFAULT_MASTER, conf: Mapping[str, str] | None = None
) -> SparkSession:
    """This process's Spark session on `master` with `conf`, created on the first call."""
    global _session, _key
    key = (master, tuple(sorted({**BASE_CONF, **(conf or {})}.items())))
    with _lock:
        if _session is not None:
            _reuse(_session, master, key)
            _key = key
            return _session
        try:
            from pyspark.sql import SparkSession
        except ImportError as exc:
            raise ConfigError(
                "stack.engine is spark, but PySpark is not installed",
                expected="the pyspark package (4.x)",
                got=str(exc),
                fix=INSTALL,
            ) from exc
        if not master.startswith("sc://") and _missing_java():
            raise ConfigError(
                "stack.engine is spark, but Java is missing",
                expected="a Java 17+ runtime on PATH or in JAVA_HOME",
                got="no `java`",
                fix="install one (e.g. `apt-get install openjdk-17-jre-headless`) or set JAVA_HOME",
            )
        builder = SparkSession.builder.appName("opsloop")
        builder = builder.remote(master) if master.startswith("sc://") else builder.master(master)
        if master.startswith("local"):
            # the driver on loopback: nothing of a local session listens beyond this machine;
            # its Python workers run this interpreter (its environment has opsloop), unless
            # PYSPARK_PYTHON says otherwise
            builder = builder.config("spark.driver.host", "127.0.0.1").config(
                "spark.driver.bindAddress", "127.0.0.1"
            )
            # (PySpark reads only the environment variable for its workers' interpreter)
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        for name, value in key[1]:
            builder = builder.config(name, value)
        _session = builder.getOrCreate()
        _key = key
        return _session


def _reuse(
    session: SparkSession, master: str, key: tuple[str, tuple[tuple[str, str], ...]]
) -> None:
    """Check that the running session fits a request: the same master, and the settings
    that differ set on it (SQL settings are; static ones raise a clear error)."""
    assert _key is not None
    if master != _key[0]:
        raise ConfigError(
            "a Spark session on another master is already running in this process",
            expected=f"master {_key[0]!r}",
            got=f"master {master!r}",
            fix="use one stack.spark.master per process (run the other project separately)",
        )
    have = dict(_key[1])
    for name, value in key[1]:
        if have.get(name) == value:
            continue
        try:
            session.conf.set(name, value)
        except Exception as exc:  # Spark refuses to change a static setting
            raise ConfigError(
                f"the Spark setting {name!r} cannot change in a running session",
                expected=repr(have.get(name)),
                got=repr(value),
                fix="use one stack.spark.conf per process (run the other project separately)",
            ) from exc


def stop_session() -> None:
    """Stop this process's session (the next `get_session` starts a new one)."""
    global _session, _key
    with _lock:
        if _session is not None:
            _session.stop()
        _session, _key = None, None
