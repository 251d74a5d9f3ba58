"""The engine port: read a window of the prediction log joined with labels, and compute what
the monitor needs of it (a profile, raw values, scores, the multivariate error) where the
data lives.

One small Protocol per capability, typed with the shared value types of `opsloop.core` only:
a function asks for the capability it uses (`WindowReader`, `WindowProfiler`,
`ReconstructionErrors`), and `Engine`, their union, is what a `Runtime` holds. An adapter is
one module (`duckdb.py`; `memory.py` for tests), chosen by `stack.engine` through
`opsloop.engines.create_engine`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from opsloop.data.predlog import META_COLUMNS

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from opsloop.core.profile import Profile
    from opsloop.core.transform import Transform

PREDICTION_COLUMNS = (*META_COLUMNS, "label")


class WindowReader(Protocol):
    """Rows and columns of a window of the prediction log, labels joined."""

    def read_window(
        self,
        model: str,
        start: datetime,
        end: datetime,
        *,
        version: str | None = None,
        labelled_only: bool = False,
    ) -> pd.DataFrame:
        """Prediction-log rows with start <= ts < end, with a `label` column (null where no
        label has arrived; the newest label per prediction id wins). With `version`, only
        the answers that version gave users (no shadow rows); with `labelled_only`, only
        rows whose label has arrived."""
        ...

    def read_scores(
        self, model: str, start: datetime, end: datetime, *, version: str | None = None
    ) -> np.ndarray:
        """The `score` column (float, NaN where missing) of the same rows as
        `read_window(..., version=version)`, in its order, without the other columns."""
        ...

    def read_values(
        self,
        model: str,
        start: datetime,
        end: datetime,
        names: Sequence[str],
        *,
        version: str | None = None,
        limit: int,
    ) -> dict[str, list[float]]:
        """At most `limit` non-null numeric values (NaN is null) of each feature in `names`,
        from the rows of `read_window(..., version=version)`: memory bounded by `limit`."""
        ...

    def count_labels(self) -> int:
        """How many label rows the engine can join (every source)."""
        ...


class WindowProfiler(Protocol):
    """A window's profile on a reference's layout."""

    def profile_window(
        self,
        model: str,
        start: datetime,
        end: datetime,
        reference: Profile,
        *,
        version: str | None = None,
    ) -> Profile:
        """The profile of the same rows as `read_window(..., version=version)` on the
        reference's layout, without materialising the window where the engine can."""
        ...


class ReconstructionErrors(Protocol):
    """A window's multivariate (PCA reconstruction) error."""

    def reconstruction_error(
        self,
        model: str,
        start: datetime,
        end: datetime,
        transform: Transform,
        *,
        version: str | None = None,
    ) -> tuple[int, float | None]:
        """(rows, mean PCA reconstruction error) of the same rows as `profile_window`
        (`opsloop.core.transform`); (0, None) for an empty window."""
        ...


class Engine(WindowReader, WindowProfiler, ReconstructionErrors, Protocol):
    """Every capability: what a `Runtime` holds and the monitor job uses."""
