"""Batch inference: scoring data with a registered version into the prediction log.

- `run_predict` (`opsloop predict`, `Project.predict`; `predict.py`): a version scores a
  Parquet/CSV file, glob, folder, DuckDB query or DataFrame in bounded memory (Arrow record
  batches from DuckDB, checked first against the version's feature contract:
  `contract.py`; scored by the verified compiled path when there is one: `scoring.py`)
  into a run folder and the prediction log (`sinks.py`), recorded in the ops store. For
  a `task: ranking` project, every input user's top-k list and the fallback list
  (`ranking.py`, `rankcontext.py`, `rankrows.py`).
- `publish_run`, `rollback_run`, `read_current`, `batch_history` (`publish.py`): which
  run readers see, atomically, and the reader API; `republish_version`: a model rollback
  makes the output of the version it returns to current again.
- `BatchScorer` (`score.py`): frames scored by versions loaded once, into log rows (the
  backtest's replay); `write_log` (`logfile.py`) appends log rows as hive-partitioned
  Parquet, the same files the server's writer produces (`serve/logwriter.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opsloop.batch.logfile import with_times, write_log
from opsloop.batch.publish import (
    BatchHistoryRow,
    CurrentBatch,
    Republished,
    batch_history,
    publish_run,
    read_current,
    republish_version,
    rollback_run,
)
from opsloop.batch.score import BATCH_ROUTE, BatchScorer, ScoredBatch

if TYPE_CHECKING:
    from opsloop.batch.predict import PredictResult, run_predict

__all__ = [
    "BATCH_ROUTE",
    "BatchHistoryRow",
    "BatchScorer",
    "CurrentBatch",
    "PredictResult",
    "Republished",
    "ScoredBatch",
    "batch_history",
    "publish_run",
    "read_current",
    "republish_version",
    "rollback_run",
    "run_predict",
    "with_times",
    "write_log",
]


def __getattr__(name: str) -> Any:  # NumPy and the inference path load on first use
    if name in ("PredictResult", "run_predict"):
        from opsloop.batch import predict

        return getattr(predict, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
