"""The engine interface: read a window of the prediction log joined with labels."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from opsloop.data.predlog import META_COLUMNS

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from opsloop.monitor.multivariate import Transform
    from opsloop.monitor.profile import Profile

PREDICTION_COLUMNS = (*META_COLUMNS, "label")


class Engine(Protocol):
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
        (`opsloop.monitor.multivariate`); (0, None) for an empty window."""
        ...

    def count_labels(self) -> int: ...
