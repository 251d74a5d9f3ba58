"""Scoring a frame of records with a registered version, in batches, into log rows."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from opsloop.errors import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

    from opsloop.registry.base import LoadedModel

BATCH_ROUTE = "batch"  # the log's `route` of batch predictions
DEFAULT_BATCH_SIZE = 50_000


@dataclass(frozen=True)
class ScoredBatch:
    """What scoring one frame gave: the log rows (layout of `opsloop.data.predlog`), the
    version that answered, and the seconds spent predicting (the model's load excluded)."""

    version: str
    rows: pd.DataFrame
    seconds: float

    @property
    def n(self) -> int:
        return len(self.rows)


class BatchScorer:
    """Scores frames with registered versions; each version is loaded once (`load`, e.g.
    `registry.load` of the model) and kept."""

    def __init__(
        self,
        load: Callable[[str], LoadedModel],
        *,
        id_column: str,
        time_column: str | None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        route: str = BATCH_ROUTE,
    ) -> None:
        if batch_size < 1:
            raise InvalidInputError(
                "the batch size must be a positive number of rows", got=str(batch_size)
            )
        self._load = load
        self._models: dict[str, LoadedModel] = {}
        self.id_column = id_column
        self.time_column = time_column
        self.batch_size = batch_size
        self.route = route
        self.loads = 0  # versions loaded so far

    def model(self, version: str) -> LoadedModel:
        if version not in self._models:
            self._models[version] = self._load(version)
            self.loads += 1
        return self._models[version]

    def score(self, frame: pd.DataFrame, version: str, *, answered: datetime) -> ScoredBatch:
        """Log rows of `version`'s answers to `frame`, answered at `answered`; the event time
        is the rows' `time_column` (else `answered`)."""
        import numpy as np
        import pandas as pd

        model = self.model(version)
        missing = [c for c in model.feature_names if c not in frame.columns]
        if self.id_column not in frame.columns:
            missing.insert(0, self.id_column)
        if missing:
            raise InvalidInputError(
                f"the rows to score lack the column(s) {missing}",
                expected=f"the id column {self.id_column!r} and version {version}'s features "
                f"{model.feature_names}",
                got=f"columns {list(frame.columns)}",
            )
        predictions: list[np.ndarray] = []
        scores: list[np.ndarray] = []
        t0 = time.perf_counter()
        features = frame[model.feature_names]
        for at in range(0, len(frame), self.batch_size):
            pred, score = model.predict_frame(features.iloc[at : at + self.batch_size])
            predictions.append(np.asarray(pred))
            if score is not None:
                scores.append(np.asarray(score, dtype=float))
        seconds = time.perf_counter() - t0
        event = (
            frame[self.time_column]
            if self.time_column is not None and self.time_column in frame.columns
            else pd.Series(pd.Timestamp(answered), index=frame.index)
        )
        rows = pd.DataFrame(
            {
                "prediction_id": frame[self.id_column].astype(str).to_numpy(),
                "request_id": f"batch-{uuid.uuid4().hex}",
                "ts": pd.Timestamp(answered),
                "event_ts": pd.to_datetime(event, utc=True).to_numpy(),
                "model_version": version,
                "route": self.route,
            }
        )
        rows = pd.concat([rows, features.reset_index(drop=True)], axis=1)
        rows["prediction"] = np.concatenate(predictions) if predictions else []
        rows["score"] = np.concatenate(scores) if scores else np.nan
        return ScoredBatch(version, rows, seconds)
