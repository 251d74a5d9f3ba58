"""`ModelInput`: a request's validated rows, in the form that is cheapest to predict on.

When every feature is numeric the rows are one float64 matrix (rows × features, in the
model's feature order) and no pandas object is built on the request path; otherwise they
are per-feature columns. `frame()` builds the DataFrame the old way — for mixed-type
models and for the prediction log (in the writer's thread, off the request path).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from opsloop.data.features import FeatureSpec

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True, eq=False)
class ModelInput:
    features: Sequence[FeatureSpec]
    n: int
    matrix: np.ndarray | None = None  # (n, len(features)) float64, all-numeric models
    columns: Mapping[str, Any] | None = None  # feature name -> array, otherwise

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
            {name: self.columns[name] for name in self.names}, index=pd.RangeIndex(self.n)
        )

    @classmethod
    def concat(cls, parts: Sequence[ModelInput]) -> ModelInput:
        """The rows of `parts` (same features, same form) one after the other."""
        first = parts[0]
        if len(parts) == 1:
            return first
        n = sum(p.n for p in parts)
        if first.matrix is not None:
            return cls(first.features, n, matrix=np.concatenate([_matrix(p) for p in parts]))
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
        return cls(first.features, n, columns=columns)


def _matrix(part: ModelInput) -> np.ndarray:
    if part.matrix is None:
        raise ValueError("cannot join a matrix input with a column input")
    return part.matrix


def _columns(part: ModelInput) -> Mapping[str, Any]:
    if part.columns is None:
        raise ValueError("cannot join a column input with a matrix input")
    return part.columns
