"""The engine port: read a window of the prediction log joined with labels, and compute what
the monitor needs of it (a profile, raw values, scores, the multivariate error) where the
data lives.

One small Protocol per capability, typed with the shared value types of `opsloop.core` only:
a function asks for the capability it uses (`WindowReader`, `WindowProfiler`,
`ReconstructionErrors`, `FeedbackReader` for training on labelled production rows), and
`Engine`, their union, is what a `Runtime` holds. An adapter is one module (`duckdb.py`;
`memory.py` for tests), chosen by `stack.engine` through `opsloop.engines.create_engine`.

Every window is chosen by a clock (`monitor.clock`): `"event"` (the default) by each row's
`event_ts`, `"answered"` by its `ts`; a profile's `newest` is on the same clock. Rows always
carry `event_ts` (equal to `ts` for files written before the column existed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from opsloop.data.predlog import META_COLUMNS

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from opsloop.config.monitor import Clock
    from opsloop.core.profile import Profile
    from opsloop.core.transform import Transform

PREDICTION_COLUMNS = (*META_COLUMNS, "label")
LABELLED_COLUMNS = ("prediction", "score", "label")


@dataclass(frozen=True)
class WindowScan:
    """What the monitor reads of one window (`Engine.scan_window`): `profile` on the
    reference's layout; `labelled`, the rows whose label has arrived (at least `prediction`,
    `score`, `label`; in `ts` order); `scores`, every row's score (float, NaN where
    missing) when asked; `values`, the raw values of the features `exact` named, None when
    it named none; `error`, (rows, mean PCA reconstruction error) when a transform was
    given."""

    profile: Profile
    labelled: pd.DataFrame
    scores: np.ndarray | None = None
    values: dict[str, list[float]] | None = None
    error: tuple[int, float | None] | None = None


@dataclass(frozen=True)
class FeedbackRows:
    """The labelled production rows of a window (`FeedbackReader.read_feedback`).

    `frame`: one row per prediction id — `prediction_id` (string), `event_ts` (UTC),
    `label` and the requested feature columns the log holds, as logged — in `event_ts`
    order (then id). `labelled`: the distinct labelled ids of the window (shadow rows
    never count); `duplicates`: of them, the ids in `exclude`, left out; `capped`: the
    oldest rows left out by `max_rows`. So `len(frame) == labelled - duplicates - capped`."""

    frame: pd.DataFrame
    labelled: int
    duplicates: int
    capped: int = 0


class WindowReader(Protocol):
    """Rows and columns of a window of the prediction log, labels joined."""

    def read_window(
        self,
        model: str,
        start: datetime,
        end: datetime,
        *,
        version: str | None = None,
        clock: Clock = "event",
        labelled_only: bool = False,
    ) -> pd.DataFrame:
        """Prediction-log rows with start <= t < end — t the row's `event_ts` (`ts` in files
        without it) with `clock="event"`, its `ts` with `"answered"` — with a `label`
        column (null where no label has arrived; the newest label per prediction id wins).
        With `version`, only the answers that version gave users (no shadow rows); with
        `labelled_only`, only rows whose label has arrived."""
        ...

    def read_scores(
        self,
        model: str,
        start: datetime,
        end: datetime,
        *,
        version: str | None = None,
        clock: Clock = "event",
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
        clock: Clock = "event",
        limit: int,
    ) -> dict[str, list[float]]:
        """At most `limit` non-null numeric values (NaN is null) of each feature in `names`,
        from the rows of `read_window(..., version=version)`: memory bounded by `limit`."""
        ...

    def count_labels(self) -> int:
        """How many label rows the engine can join (every source)."""
        ...

    def count_logged(self, model: str, ids: Sequence[str]) -> int:
        """How many of the distinct `ids` have a row in `model`'s prediction log (the
        labels that match a logged prediction)."""
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
        clock: Clock = "event",
        served: bool = False,
    ) -> Profile:
        """The profile of the same rows as `read_window(..., version=version)` on the
        reference's layout, without materialising the window where the engine can. With
        `served` (and no `version`): the answers any version gave users, no shadow rows
        (a drift reference drawn from the log, `opsloop.monitor.reference`)."""
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
        clock: Clock = "event",
        served: bool = False,
    ) -> tuple[int, float | None]:
        """(rows, mean PCA reconstruction error) of the same rows as `profile_window`
        (`opsloop.core.transform`, `served` as there); (0, None) for an empty window."""
        ...


class FeedbackReader(Protocol):
    """Labelled production rows as training data (`data.feedback`)."""

    def read_feedback(
        self,
        model: str,
        start: datetime,
        end: datetime,
        columns: Sequence[str],
        *,
        exclude: Sequence[str] = (),
        max_rows: int | None = None,
    ) -> FeedbackRows:
        """The prediction-log rows with start <= `event_ts` < end whose label has arrived
        (the newest label per id, as `read_window` joins it), one per prediction id: shadow
        rows are never used, and of an id's other rows the `stable` route's, then the newest
        answer, is kept. With the `columns` the log holds (others are left out), without
        the ids in `exclude` (counted as duplicates), at most the newest `max_rows`."""
        ...


class WindowScanner(Protocol):
    """One monitoring run's reads of a window in as few passes as the engine can make."""

    def scan_window(
        self,
        model: str,
        start: datetime,
        end: datetime,
        reference: Profile,
        *,
        version: str | None = None,
        clock: Clock = "event",
        scores: bool = False,
        transform: Transform | None = None,
        exact: Callable[[Profile], Sequence[str]] | None = None,
        limit: int = 0,
    ) -> WindowScan:
        """Everything one monitoring run reads of the rows of `read_window(...,
        version=version)`, in as few passes over the log as the engine can make: the
        profile (`profile_window`), the labelled rows (`read_window(..., labelled_only=True)`),
        every row's score when `scores` (`read_scores`), the multivariate error when
        `transform` is given (`reconstruction_error`) and the raw values of the features
        `exact(profile)` names (`read_values` with `limit`) — each equal to what those
        methods return."""
        ...


class WindowSeries(Protocol):
    """Many consecutive windows of the log at once (a backfill, the agent's catch-up on
    event time), and where the log's times lie."""

    def scan_windows(
        self,
        model: str,
        start: datetime,
        every: timedelta,
        indexes: Sequence[int],
        reference: Profile,
        *,
        version: str | None = None,
        clock: Clock = "event",
        scores: bool = False,
        transform: Transform | None = None,
        exact: Callable[[Profile], Sequence[str]] | None = None,
        limit: int = 0,
    ) -> Iterator[tuple[int, WindowScan]]:
        """`(i, scan)` for each window ``[start + i·every, start + (i+1)·every)`` of
        `indexes` (ascending) that has rows of `read_window(..., version=version)`, in
        order; each `scan` equal to `scan_window` of that window. Windows without rows are
        not yielded, and cost nothing beyond the shared pass."""
        ...

    def log_span(
        self, model: str, *, version: str | None = None, clock: Clock = "event"
    ) -> tuple[datetime, datetime] | None:
        """(oldest, newest) time on `clock` of the rows `read_window(..., version=version)`
        would select from the whole log; None when there are none."""
        ...


class LabelReader(Protocol):
    """The stored label rows themselves, not joined to predictions: a recommender's visits
    (many labels per user, `opsloop.monitor.ranking`)."""

    def read_labels(self, start: datetime, end: datetime) -> pd.DataFrame:
        """The rows of the label files (`labels_root`) with start <= `label_ts` < end, in
        `label_ts` order: `prediction_id` (text), `label`, `label_ts` (UTC) and every other
        column the files hold (a ranking project's `rating`, null in files without it)."""
        ...


class Engine(
    WindowReader,
    WindowProfiler,
    ReconstructionErrors,
    WindowScanner,
    WindowSeries,
    FeedbackReader,
    LabelReader,
    Protocol,
):
    """Every capability: what a `Runtime` holds and the monitor job uses."""
