"""The feedback loop's training half (`data.feedback`): the training window's labelled
production rows — the prediction log joined with the labels on the id column, chosen by
event time by the engine (`FeedbackReader`) — added to what load() returned.

A feedback row takes the features as the server logged them, the label as the target, the
logged event time as `time_column` and the prediction id as `id_column`, each cast to the
dtype load() gave that column (a column load() returns that the log lacks is null). An id
load() already returned keeps load()'s row: the production copy is dropped and counted.
The merged frame is what is validated, split, fitted and fingerprinted, so new labels alone
make a retrain's data differ from its champion's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from opsloop.data.window import Window
from opsloop.errors import DataValidationError
from opsloop.runtime import Runtime

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class FeedbackCounts:
    """Where a training's rows came from: `loaded` from load(), `feedback` labelled
    production rows added; `duplicates` production rows whose id load() returned too
    (load()'s row kept), `capped` the oldest left out by `data.feedback.max_rows`;
    `missing_columns` columns of load() the prediction log lacks (null in feedback rows)."""

    loaded: int
    feedback: int
    duplicates: int
    capped: int = 0
    missing_columns: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["missing_columns"] = list(self.missing_columns)
        return out

    def tags(self) -> dict[str, str]:
        """The version's lineage tags (MLflow)."""
        return {
            "opsloop.loaded_rows": str(self.loaded),
            "opsloop.feedback_rows": str(self.feedback),
            "opsloop.feedback_duplicates": str(self.duplicates),
        }


def add_feedback(
    rt: Runtime, window: Window, frame: pd.DataFrame
) -> tuple[pd.DataFrame, FeedbackCounts | None]:
    """load()'s `frame` followed by the window's labelled production rows, and the counts;
    `frame` itself and None when `data.feedback` is off."""
    import pandas as pd

    settings = rt.config.data.feedback
    if not settings.enabled:
        return frame, None
    cfg = rt.config
    special = {cfg.target: "label", cfg.id_column: "prediction_id", cfg.time_column: "event_ts"}
    features = [c for c in frame.columns if c not in special]
    got = rt.engine.read_feedback(
        rt.model,
        window.start,
        window.end,
        features,
        exclude=frame[cfg.id_column].astype(str).tolist(),
        max_rows=settings.max_rows,
    )
    rows = got.frame.rename(columns={v: k for k, v in special.items()})
    missing = tuple(c for c in features if c not in rows.columns)
    rows = pd.DataFrame(
        {
            c: _cast(rows[c], frame[c]) if c in rows.columns else _nulls(frame[c], len(rows))
            for c in frame.columns
        }
    )
    counts = FeedbackCounts(len(frame), len(rows), got.duplicates, got.capped, missing)
    if rows.empty:
        return frame, counts
    merged = pd.concat([frame, rows], ignore_index=True) if len(frame) else rows
    return merged, counts


def _nulls(like: pd.Series, n: int) -> pd.Series:
    import pandas as pd

    return pd.Series([None] * n, dtype=like.dtype if like.dtype.kind not in "iub" else "float64")


def _cast(logged: pd.Series, like: pd.Series) -> pd.Series:
    """`logged` with `like`'s dtype (time zones converted: naive load() times are UTC)."""
    import pandas as pd

    dtype = like.dtype
    values = logged.reset_index(drop=True)
    try:
        if isinstance(dtype, pd.DatetimeTZDtype) or dtype.kind == "M":
            times = pd.to_datetime(values, utc=True)
            if isinstance(dtype, pd.DatetimeTZDtype):
                return times.dt.tz_convert(dtype.tz).astype(dtype)
            return times.dt.tz_convert(None).astype(dtype)
        if values.dtype == dtype:
            return values
        return values.astype(dtype)
    except (TypeError, ValueError, OverflowError) as exc:
        raise DataValidationError(
            f"labelled production rows (data.feedback) have a column {like.name!r} that "
            f"cannot be cast to load()'s dtype {dtype}: {exc}",
            expected=f"logged values of {like.name!r} of the type load() returns",
            got=f"{values.dtype} values such as {values.dropna().head(3).tolist()}",
            fix="return the column from load() with the type the server is sent (or "
            "turn data.feedback off)",
        ) from exc
