"""An in-memory engine with the DuckDB engine's semantics, for fast unit tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from opsloop.data.predlog import RESERVED_NAMES, clock_column
from opsloop.engines.base import PREDICTION_COLUMNS, FeedbackRows, WindowScan

if TYPE_CHECKING:
    from opsloop.config.monitor import Clock
    from opsloop.core.profile import Profile
    from opsloop.core.transform import Transform


class MemoryEngine:
    def __init__(self) -> None:
        self._predictions: list[pd.DataFrame] = []
        self._labels: list[pd.DataFrame] = []

    def add_predictions(self, frame: pd.DataFrame) -> None:
        self._predictions.append(frame.copy())

    def add_labels(self, frame: pd.DataFrame) -> None:
        """Label rows (`prediction_id`, `label`, `label_ts`, and any other column, such as
        a visit's `rating`, as a label file may hold)."""
        self._labels.append(frame.copy())

    def read_labels(self, start: datetime, end: datetime) -> pd.DataFrame:
        if not self._labels:
            return pd.DataFrame(columns=["prediction_id", "label", "label_ts"])
        labels = pd.concat(self._labels, ignore_index=True)
        ts = pd.to_datetime(labels["label_ts"], utc=True).dt.as_unit("us")
        labels = labels.assign(prediction_id=labels["prediction_id"].astype(str), label_ts=ts)
        keep = (ts >= pd.Timestamp(start)) & (ts < pd.Timestamp(end))
        return labels[keep].sort_values("label_ts", kind="stable").reset_index(drop=True)

    def count_labels(self) -> int:
        return sum(len(f) for f in self._labels)

    def count_logged(self, model: str, ids: Sequence[str]) -> int:
        logged: set[str] = set()
        for frame in self._predictions:
            logged.update(frame["prediction_id"].astype(str))
        return len(set(ids) & logged)

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
        frame = self._window(start, end, clock)
        if version is not None and len(frame):
            keep = (frame["model_version"].astype(str) == version) & (frame["route"] != "shadow")
            frame = frame[keep].reset_index(drop=True)
        if labelled_only:
            frame = frame[frame["label"].notna()].reset_index(drop=True)
        return frame

    def read_scores(
        self,
        model: str,
        start: datetime,
        end: datetime,
        *,
        version: str | None = None,
        clock: Clock = "event",
    ) -> np.ndarray:
        frame = self.read_window(model, start, end, version=version, clock=clock)
        scores: np.ndarray = frame["score"].to_numpy(dtype=float, na_value=np.nan)
        return scores

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
        frame = self._window(start, end, "event")
        frame = frame[frame["label"].notna() & (frame["route"].fillna("") != "shadow")]
        present = [
            c for c in dict.fromkeys(columns) if c in frame.columns and c not in RESERVED_NAMES
        ]
        ranked = frame.assign(__stable=frame["route"].fillna("") == "stable").sort_values(
            ["__stable", "ts", "request_id"], ascending=[False, False, True], kind="stable"
        )
        one = ranked.drop_duplicates("prediction_id", keep="first")
        duplicate = one["prediction_id"].isin({str(i) for i in exclude})
        kept = one[~duplicate].sort_values(["event_ts", "prediction_id"], kind="stable")
        capped = 0 if max_rows is None else max(len(kept) - max_rows, 0)
        kept = kept.iloc[capped:]
        out = kept[["prediction_id", "event_ts", "label", *present]].reset_index(drop=True)
        return FeedbackRows(out, len(one), int(duplicate.sum()), capped)

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
        from opsloop.core.profile import profile_frame

        frame = self.read_window(model, start, end, version=version, clock=clock)
        if served and version is None and len(frame):
            frame = frame[frame["route"] != "shadow"].reset_index(drop=True)
        return profile_frame(frame, reference, time=clock_column(clock))

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
        return self._values(
            self.read_window(model, start, end, version=version, clock=clock), names, limit
        )

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
        from opsloop.core.transform import frame_error

        frame = self.read_window(model, start, end, version=version, clock=clock)
        if served and version is None and len(frame):
            frame = frame[frame["route"] != "shadow"].reset_index(drop=True)
        return frame_error(frame, transform)

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
        """The window is selected once; every part is computed from that frame as the
        single-purpose methods compute it."""
        from opsloop.core.profile import profile_frame
        from opsloop.core.transform import frame_error

        frame = self.read_window(model, start, end, version=version, clock=clock)
        profile = profile_frame(frame, reference, time=clock_column(clock))
        wanted = list(exact(profile)) if exact is not None else []
        return WindowScan(
            profile,
            frame[frame["label"].notna()].reset_index(drop=True),
            frame["score"].to_numpy(dtype=float, na_value=np.nan) if scores else None,
            self._values(frame, wanted, limit) if wanted else None,
            None if transform is None else frame_error(frame, transform),
        )

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
        """`scan_window` of each window of the series that has rows."""
        for i in indexes:
            scan = self.scan_window(
                model,
                start + i * every,
                start + (i + 1) * every,
                reference,
                version=version,
                clock=clock,
                scores=scores,
                transform=transform,
                exact=exact,
                limit=limit,
            )
            if scan.profile.n_rows:
                yield i, scan

    def log_span(
        self, model: str, *, version: str | None = None, clock: Clock = "event"
    ) -> tuple[datetime, datetime] | None:
        # pandas' range of timestamps: any log row is within it
        first, last = datetime(1700, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)
        frame = self._window(first, last, clock)
        if version is not None and len(frame):
            keep = (frame["model_version"].astype(str) == version) & (frame["route"] != "shadow")
            frame = frame[keep]
        if not len(frame):
            return None
        when = pd.to_datetime(frame[clock_column(clock)], utc=True)
        return when.min().to_pydatetime(), when.max().to_pydatetime()

    @staticmethod
    def _values(frame: pd.DataFrame, names: Sequence[str], limit: int) -> dict[str, list[float]]:
        from opsloop.core.profile import parse_numbers

        out: dict[str, list[float]] = {}
        for name in names:
            x = parse_numbers(frame[name])[0] if name in frame.columns else np.empty(0)
            out[name] = x[~np.isnan(x)][:limit].tolist()
        return out

    def _window(self, start: datetime, end: datetime, clock: Clock) -> pd.DataFrame:
        if not self._predictions:
            return pd.DataFrame(columns=list(PREDICTION_COLUMNS))
        preds = pd.concat(self._predictions, ignore_index=True)
        ts = pd.to_datetime(preds["ts"], utc=True).dt.as_unit("us")  # as the DuckDB engine
        event = (
            pd.to_datetime(preds["event_ts"], utc=True).dt.as_unit("us").fillna(ts)
            if "event_ts" in preds.columns
            else ts
        )
        preds = preds.assign(event_ts=event)  # frames in the older layout: event_ts = ts
        when = event if clock == "event" else ts
        preds = preds[(when >= pd.Timestamp(start)) & (when < pd.Timestamp(end))]
        preds = preds.drop(columns=["label"], errors="ignore")
        preds["prediction_id"] = preds["prediction_id"].astype(str)
        if self._labels:
            labels = pd.concat(self._labels, ignore_index=True)[
                ["prediction_id", "label", "label_ts"]
            ]
            labels["prediction_id"] = labels["prediction_id"].astype(str)
            labels = labels.sort_values("label_ts", kind="stable").drop_duplicates(
                "prediction_id", keep="last"
            )
            preds = preds.merge(labels[["prediction_id", "label"]], on="prediction_id", how="left")
        else:
            preds = preds.assign(label=pd.NA)
        return preds.reset_index(drop=True)
