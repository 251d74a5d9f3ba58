"""The ops store as a batch prediction uses it, without SQLAlchemy when it can.

`opsloop predict` is a nightly job measured whole against a raw scoring loop
(docs/benchmarks.md), and importing SQLAlchemy and opening `OpsStore` was ~0.3 CPU s of its
fixed start-up. What a run on DuckDB asks of the store is a handful of reads (the deployed
version, the version's `registered` event, the recent runs and publications that
`batch/recover.py` checks) and one write, the run's record with its `batch_predicted`
event — its commit point, one transaction. `reader.StoreReader` does all of them on the
DB-API, each held equal to `OpsStore`'s method of the same name on SQLite and PostgreSQL
(tests/unit/store/test_reader.py).

`LightStore` answers those through the reader and hands every other call (publishing a
run, an `artifact_rejected` event, a Spark run's needs …) to the `OpsStore` that `open`
returns, opened on first use, so each call is answered by exactly one of the two, and
what each writes is committed in its own transaction as before. Only a store the reader
can open gets one (`open_reader`: a file at the newest migration, or PostgreSQL);
anything else is `OpsStore` from the start.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opsloop.core.once import Once

if TYPE_CHECKING:
    from opsloop.store.reader import StoreReader
    from opsloop.store.sql import OpsStore

# the methods the reader answers for a batch prediction (each equal to OpsStore's)
LIGHT = frozenset(
    {
        "find_deployment",
        "list_events",
        "list_runs",
        "list_batch_runs",
        "find_batch_run",
        "find_published_batch",
        "list_batch_publications",
        "record_batch_run",
    }
)


class LightStore:
    """`OpsStore`'s interface: `LIGHT` through `reader`, the rest through `open()`'s store
    (opened once, on first use)."""

    def __init__(self, reader: StoreReader, open: Callable[[], OpsStore]) -> None:
        self.reader = reader
        self._store = Once(open)

    @property
    def opened(self) -> bool:
        """Has anything needed `OpsStore` (and so SQLAlchemy)?"""
        return self._store.made

    @property
    def store(self) -> OpsStore:
        return self._store.get()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # copy, pickle and the like: not a store method
            raise AttributeError(name)
        return getattr(self.reader if name in LIGHT else self.store, name)

    def close(self) -> None:
        self.reader.close()
