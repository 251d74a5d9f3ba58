"""The rows a batch prediction writes for each scored Arrow batch, on either engine: its
output rows (id, event time, prediction, score, model, version, run id) and its
prediction-log rows (the layout of `opsloop.data.predlog`, route `batch`). DuckDB's loop
(`predict.py`) and Spark's tasks (`spark_worker.py`) build them here, so the two write
the same columns and types."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opsloop.batch.score import BATCH_ROUTE
from opsloop.batch.scoring import plain

if TYPE_CHECKING:
    from datetime import datetime

    import numpy as np
    import pyarrow as pa

UTC_MICROS = ("us", "UTC")  # the unit and zone of every time the run writes


@dataclass(frozen=True)
class RunRows:
    """What every row of one run carries besides its own values."""

    model: str
    version: str
    run_id: str
    id_column: str
    time_column: str
    features: tuple[str, ...]
    _constants: dict[str, pa.Array] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def answers(
        self, pred: np.ndarray, score: np.ndarray | None, n: int, kind: pa.DataType | None = None
    ) -> tuple[pa.Array, pa.Array]:
        """The model's answers as Arrow: predictions (of type `kind` when given) and scores
        (null where the task has none)."""
        import pyarrow as pa

        prediction = pa.array(plain(pred), kind)
        scores = pa.array(score, pa.float64()) if score is not None else pa.nulls(n, pa.float64())
        return prediction, scores

    def tables(
        self,
        batch: pa.RecordBatch,
        prediction: pa.Array,
        scores: pa.Array,
        answered: datetime,
    ) -> tuple[pa.Table, pa.Table]:
        """(output rows, log rows) of `batch` scored as `prediction` and `scores`."""
        import pyarrow as pa

        n = batch.num_rows
        utc = pa.timestamp(*UTC_MICROS)
        ids = batch.column(self.id_column)
        event = batch.column(self.time_column).cast(utc)
        output = pa.table(
            {
                self.id_column: ids,
                self.time_column: event,
                "prediction": prediction,
                "score": scores,
                "model": self._same(self.model, n),
                "version": self._same(self.version, n),
                "run_id": self._same(self.run_id, n),
            }
        )
        log: dict[str, Any] = {
            "prediction_id": ids.cast(pa.string()),
            "request_id": self._same(f"batch-{self.run_id}", n),
            "ts": pa.repeat(pa.scalar(answered, utc), n),
            "event_ts": event,
            "model_version": self._same(self.version, n),
            "route": self._same(BATCH_ROUTE, n),
        }
        for name in self.features:
            log[name] = batch.column(name)
        log["prediction"], log["score"] = prediction, scores
        return output, pa.table(log)

    def _same(self, text: str, n: int) -> pa.Array:
        """`text` `n` times: made once per run and text, then sliced (zero-copy) for each
        batch of at most as many rows."""
        import pyarrow as pa

        made = self._constants.get(text)
        if made is None or len(made) < n:
            made = pa.repeat(pa.scalar(text), n)
            self._constants[text] = made
        return made.slice(0, n)
