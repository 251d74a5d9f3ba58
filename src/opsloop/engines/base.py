"""The engine interface: read a window of the prediction log joined with labels."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from opsloop.data.predlog import META_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

PREDICTION_COLUMNS = (*META_COLUMNS, "label")


class Engine(Protocol):
    def read_window(self, model: str, start: datetime, end: datetime) -> pd.DataFrame:
        """Prediction-log rows with start <= ts < end, with a `label` column (null where no
        label has arrived; the newest label per prediction id wins)."""
        ...

    def count_labels(self) -> int: ...
