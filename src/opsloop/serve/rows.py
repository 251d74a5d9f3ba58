"""`ModelInput`: a request's validated rows, in the form that is cheapest to predict on.

When every feature is numeric the rows are one float64 matrix (rows × features, in the
model's feature order) and no pandas object is built on the request path; otherwise they
are per-feature columns. `frame()` builds the DataFrame the old way — for mixed-type
models and for the prediction log (in the writer's thread, off the request path).

`event_us` carries the rows' event times (the records' `time_column` values, not a model
input) as int64 epoch microseconds, `NO_EVENT_TIME` where a record had none; None when no
record had one. The log writer fills the gaps with the answer time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from opsloop.data.features import FeatureSpec

if TYPE_CHECKING:
    import pandas as pd

NO_EVENT_TIME = np.iinfo(np.int64).min  # in `event_us`: the record had no event time


@dataclass(frozen=True, eq=False)
class ModelInput:
    features: Sequence[FeatureSpec]
    n: int
    matrix: np.ndarray | None = None  # (n, len(features)) float64, all-numeric models
    columns: Mapping[str, Any] | None = None  # feature name -> array, otherwise
    event_us: np.ndarray | None = None  # (n,) int64 epoch µs of the event; see above

    def __post_init__(self) -> None:
        if (self.matrix is None) == (self.columns is None):
            raise ValueError("a ModelInput holds either a matrix or columns")

    def __len__(self) -> int:
        return self.n

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        if self.matrix is not None:
            return pd.DataFrame(self.matrix, columns=self.names, copy=False)
        assert self.columns is not None
        return pd.DataFrame(
            {name: _series(self.columns[name]) for name in self.names},
            index=pd.RangeIndex(self.n),
        )

    @classmethod
    def concat(cls, parts: Sequence[ModelInput]) -> ModelInput:
        """The rows of `parts` (same features, same form) one after the other."""
        first = parts[0]
        if len(parts) == 1:
            return first
        n = sum(p.n for p in parts)
        events = event_times(parts)
        if first.matrix is not None:
            matrix = np.concatenate([_matrix(p) for p in parts])
            return cls(first.features, n, matrix=matrix, event_us=events)
        columns = {}
        for name in first.names:
            values = [_columns(p)[name] for p in parts]
            if all(isinstance(v, np.ndarray) for v in values):
                columns[name] = np.concatenate(values)
            else:
                import pandas as pd

                columns[name] = pd.concat(
                    [pd.Series(v, dtype=object) for v in values], ignore_index=True
                )
        return cls(first.features, n, columns=columns, event_us=events)


def event_times(parts: Sequence[ModelInput]) -> np.ndarray | None:
    """The parts' `event_us` one after the other (None when no part has any)."""
    if all(p.event_us is None for p in parts):
        return None
    return np.concatenate(
        [
            np.full(p.n, NO_EVENT_TIME, dtype=np.int64) if p.event_us is None else p.event_us
            for p in parts
        ]
    )


def _matrix(part: ModelInput) -> np.ndarray:
    if part.matrix is None:
        raise ValueError("cannot join a matrix input with a column input")
    return part.matrix


def _columns(part: ModelInput) -> Mapping[str, Any]:
    if part.columns is None:
        raise ValueError("cannot join a column input with a matrix input")
    return part.columns


def _series(values: Any) -> Any:
    """Object arrays (categorical values, as validated) stay object columns: pandas would
    otherwise infer its string dtype, which the model was not fitted on."""
    import pandas as pd

    if isinstance(values, np.ndarray) and values.dtype == object:
        return pd.Series(values, dtype=object, copy=False)
    return values
