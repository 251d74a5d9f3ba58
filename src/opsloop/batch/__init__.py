"""Batch scoring: a frame of records scored by a registered version in batches and written
to the prediction log (layout in `opsloop.data.predlog`).

`BatchScorer` loads each version once and scores in batches of `batch_size` rows; the log
rows carry the records' event time (`time_column`) and the time the batch was answered.
`write_log` appends log rows as hive-partitioned Parquet, the same files the server's
writer produces (`serve/logwriter.py` writes through it). The backtest replays history with
it; nightly batch prediction (`opsloop predict`) is meant to reuse it.
"""

from opsloop.batch.logfile import with_times, write_log
from opsloop.batch.score import BATCH_ROUTE, BatchScorer, ScoredBatch

__all__ = ["BATCH_ROUTE", "BatchScorer", "ScoredBatch", "with_times", "write_log"]
