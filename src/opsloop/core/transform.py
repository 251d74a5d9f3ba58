"""The multivariate transform: what a window's PCA reconstruction error is computed with.

A `Transform` is fitted on the reference at training time (`opsloop.monitor.multivariate`)
and stored with the version as `multivariate.json`; engines apply it to a window: this
module with NumPy (`frame_error`, the memory engine's way), `opsloop.engines.multivariate_sql`
in one DuckDB pass. Each column is imputed, encoded (categoricals by their reference
frequency, a category outside the reference's top categories as 0) and standardised; a
row's error is ‖z − WᵀWz‖ = √(‖z‖² − ‖Wz‖²) (W the k × p orthonormal components).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from opsloop.core.profile import category_values
from opsloop.errors import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

FORMAT = 1
METHOD = "pca_reconstruction"


@dataclass
class Column:
    name: str
    kind: str  # numeric | categorical | boolean
    impute: float  # the value a missing entry takes (numeric: mean; categorical: frequency)
    mean: float
    scale: float
    frequencies: dict[str, float] = field(default_factory=dict)  # categorical encoding


@dataclass
class Band:
    center: float  # mean of the chunks' out-of-fold mean errors
    sd: float  # their standard deviation (ddof 1)
    row_sd: float  # standard deviation of the rows' out-of-fold errors
    sigma: float
    chunk_rows: float
    chunks: int
    reference_rows: int

    def spread(self) -> float:
        """The chunks' spread, floored at what independent rows would give (20 chunks
        estimate a standard deviation to ±16%; an underestimate would raise false alarms)."""
        unit = 1 / self.chunk_rows - 1 / self.reference_rows
        return max(self.sd, self.row_sd * math.sqrt(max(unit, 0.0)))

    def bounds(self, n: int) -> tuple[float, float]:
        """(lower, upper) for a window of n rows: a chunk's mean differs from the centre (an
        average that includes it) with variance ∝ 1/m − 1/N, a window's with 1/n + 1/N."""
        unit = 1 / self.chunk_rows - 1 / self.reference_rows
        scale = math.sqrt((1 / max(n, 1) + 1 / self.reference_rows) / unit) if unit > 0 else 1.0
        half = self.sigma * self.spread() * scale
        return self.center - half, self.center + half

    def bounds_around(self, n: int, center: float, rows: int) -> tuple[float, float]:
        """(lower, upper) for a window of n rows against another reference's mean error
        `center` over `rows` rows (a period of the prediction log, `monitor.reference`):
        the difference of two independent means has variance ∝ 1/n + 1/rows, with the
        per-row spread learned from the training chunks."""
        unit = 1 / self.chunk_rows - 1 / self.reference_rows
        per_row = self.spread() / math.sqrt(unit) if unit > 0 else self.row_sd
        half = self.sigma * per_row * math.sqrt(1 / max(n, 1) + 1 / max(rows, 1))
        return center - half, center + half


@dataclass
class Transform:
    columns: list[Column]
    components: list[list[float]]  # k × p, orthonormal rows
    explained_variance_ratio: list[float]
    band: Band | None
    reference_rows: int
    variance: float

    @property
    def n_components(self) -> int:
        return len(self.components)

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "method": METHOD, **asdict(self)})

    @classmethod
    def from_json(cls, text: str) -> Transform:
        data = json.loads(text)
        if data.get("format") != FORMAT or data.get("method") != METHOD:
            raise InvalidInputError(
                "the stored multivariate transform is not one this opsloop reads",
                expected=f"format {FORMAT}, method {METHOD}",
                got=f"format {data.get('format')}, method {data.get('method')}",
                fix="retrain the model (`opsloop train`) to store a new one",
            )
        band = data.get("band")
        return cls(
            columns=[Column(**c) for c in data["columns"]],
            components=data["components"],
            explained_variance_ratio=data["explained_variance_ratio"],
            band=None if band is None else Band(**band),
            reference_rows=int(data["reference_rows"]),
            variance=float(data["variance"]),
        )


# --- applying the transform ---------------------------------------------------------


def encode(values: pd.Series, col: Column) -> np.ndarray:
    """A column imputed and encoded (before standardisation), as floats."""
    import pandas as pd

    if col.kind == "numeric":
        x = np.asarray(pd.to_numeric(values, errors="coerce"), dtype=float)
        return np.where(np.isfinite(x), x, col.impute)
    out = np.full(len(values), col.impute, dtype=float)
    present = values.notna().to_numpy()
    codes = pd.Categorical(category_values(values), categories=list(col.frequencies)).codes
    freq = np.append(np.fromiter(col.frequencies.values(), dtype=float), 0.0)
    out[present] = freq[codes]  # code -1 (not a top category) takes the appended 0
    return out


def standardise(df: pd.DataFrame, columns: Sequence[Column]) -> np.ndarray:
    """The n × p matrix of imputed, encoded, standardised values (a missing column is all
    missing, so it takes its imputed value)."""
    import pandas as pd

    out = np.empty((len(df), len(columns)), dtype=float)
    for j, col in enumerate(columns):
        values = (
            df[col.name] if col.name in df.columns else pd.Series([None] * len(df), dtype=object)
        )
        out[:, j] = (encode(values, col) - col.mean) / col.scale
    return out


def row_errors(z: np.ndarray, components: np.ndarray) -> np.ndarray:
    """Each row's reconstruction error √(‖z‖² − ‖Wz‖²) (= ‖z − WᵀWz‖)."""
    t = z @ components.T
    errors: np.ndarray = np.sqrt(np.maximum((z * z).sum(axis=1) - (t * t).sum(axis=1), 0.0))
    return errors


def frame_error(df: pd.DataFrame, transform: Transform) -> tuple[int, float | None]:
    """(rows, mean reconstruction error) of a frame with NumPy (the memory engine's way)."""
    if len(df) == 0:
        return 0, None
    z = standardise(df, transform.columns)
    return len(df), float(row_errors(z, np.asarray(transform.components)).mean())
