"""Visits as the labels of a recommender (`task: ranking`): what a user chose, checked and
normalised into the labels store's columns.

A visit is a row of the project's `ranking.user_column`, `ranking.item_column`,
`time_column` (the visit's event time) and, optionally, `ranking.rating_column`. Stored as
a label it is `prediction_id` (the user id as text, as the prediction log keys a user's
list), `label` (the item id as text), `label_ts` (the visit time, UTC, microseconds) and
`rating` (float, null when absent). Many visits per user are normal.

A visit file is judged whole. Each row is valid or has one reason: a missing user, item or
time, a time that is not a date-time, a rating that is not a finite number or lies outside
`ranking.rating_range`. Rows repeating the same user, item and time are kept once (the
first) and counted as duplicates. By default any invalid row rejects the whole file
(`VisitValidationError`, with the counts per reason and a few examples); `skip_invalid`
keeps the valid rows and counts the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from opsloop.config.ranking import RankingConfig
from opsloop.data.label_contract import LabelValidationError

_EXAMPLES = 3
# the stored columns, in order (`engines/labels.py` writes them)
STORED = ("prediction_id", "label", "label_ts", "rating")
_EXACT_INT = 2**53  # floats up to here hold integers exactly


class VisitValidationError(LabelValidationError):
    """A visit file has rows whose user, item, time or rating does not fit."""


@dataclass(frozen=True)
class VisitColumns:
    """Where a visit's parts are in a file: the project's column names."""

    user: str
    item: str
    time: str
    rating: str | None = None
    rating_range: tuple[float, float] | None = None

    @classmethod
    def of(cls, ranking: RankingConfig, time_column: str) -> VisitColumns:
        return cls(
            ranking.user_column,
            ranking.item_column,
            time_column,
            ranking.rating_column,
            ranking.rating_range,
        )

    def describe(self) -> str:
        """What a valid visit is, in words."""
        rating = ""
        if self.rating is not None:
            bound = (
                "a finite number"
                if self.rating_range is None
                else f"within [{self.rating_range[0]:g}, {self.rating_range[1]:g}]"
            )
            rating = f" and optionally {self.rating!r} ({bound})"
        return (
            f"visits: {self.user!r} (the user), {self.item!r} (the item), "
            f"{self.time!r} (the visit's date-time){rating}"
        )


@dataclass(frozen=True)
class ValidVisits:
    """The rows to store (`STORED` columns) and what was left out."""

    frame: pd.DataFrame
    rejected: int
    duplicates: int
    reasons: dict[str, int]


def validate_visits(
    frame: pd.DataFrame, columns: VisitColumns, *, skip_invalid: bool = False
) -> ValidVisits:
    """Check every row; raise `VisitValidationError` on any invalid row unless
    `skip_invalid` (then the valid rows are returned and the rest counted). An absent
    rating column is allowed (every rating null); an absent user, item or time column, or
    no row at all, is an error."""
    missing = [c for c in (columns.user, columns.item, columns.time) if c not in frame.columns]
    if missing:
        raise VisitValidationError(
            f"the visits lack the column(s) {missing}",
            expected=columns.describe(),
            got=f"columns {list(frame.columns)}",
            fix="name the columns as the project's ranking section does (opsloop.yaml)",
        )
    if frame.empty:
        raise VisitValidationError(
            "the visits have no rows", expected=columns.describe(), got="a header only"
        )
    users, items = as_text(frame[columns.user]), as_text(frame[columns.item])
    times, unparseable = _times(frame[columns.time])
    reason = pd.Series("", index=frame.index, dtype=object)
    reason[users.isna()] = "missing user"
    reason[(reason == "") & items.isna()] = "missing item"
    reason[(reason == "") & frame[columns.time].isna()] = "missing time"
    reason[(reason == "") & unparseable] = "time not a date-time"
    ratings = pd.Series(np.nan, index=frame.index, dtype=float)
    if columns.rating is not None and columns.rating in frame.columns:
        ratings, why = _ratings(frame[columns.rating], columns.rating_range)
        bad_rating = (reason == "") & (why != "")
        reason[bad_rating] = why[bad_rating]
    out = pd.DataFrame(
        {"prediction_id": users, "label": items, "label_ts": times, "rating": ratings},
        index=frame.index,
    )
    valid = reason == ""
    kept = out[valid].drop_duplicates(["prediction_id", "label", "label_ts"])
    duplicates = int(valid.sum()) - len(kept)
    invalid = ~valid
    counts = {str(k): int(v) for k, v in reason[invalid].value_counts(sort=False).items()}
    if invalid.any() and not skip_invalid:
        raise _error(frame, reason, counts, columns)
    if kept.empty:
        raise VisitValidationError(
            "the visits have no valid row",
            expected=columns.describe(),
            got=f"{len(frame)} rows, none valid ({_summary(counts)})",
            fix="check the file holds this project's visits",
        )
    kept = kept.astype({"prediction_id": str, "label": str, "rating": float})
    return ValidVisits(
        frame=kept.reset_index(drop=True),
        rejected=int(invalid.sum()),
        duplicates=duplicates,
        reasons=counts,
    )


def as_text(column: pd.Series) -> pd.Series:
    """Ids as text (objects; None where missing or blank): integers as digits, also from a
    float column (an integer column with a missing value reads as float: 42.0 is "42")."""
    present = column.notna()
    values = column[present]
    if (
        pd.api.types.is_float_dtype(values)
        and len(values)
        and bool(np.isfinite(values).all())
        and bool((values == np.round(values)).all())
        and bool((values.abs() < _EXACT_INT).all())
    ):
        text = values.astype("int64").astype(str)
    else:
        text = values.astype(str).str.strip()
    out = pd.Series(None, index=column.index, dtype=object)
    out[present] = text.astype(object)
    return out.where(out != "", None)


def _times(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(UTC times in microseconds, mask of present values that are not a date-time). Naive
    times are UTC; text must be ISO 8601; numbers are not times."""
    present = column.notna()
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        times = column.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(column):
        times = column.dt.tz_localize("UTC")
    elif pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        times = pd.Series(pd.NaT, index=column.index, dtype="datetime64[us, UTC]")
    else:
        text = column.astype(object).where(present, None)
        is_text = text.map(lambda v: isinstance(v, str))
        parsed = pd.to_datetime(
            text.where(is_text, None), utc=True, errors="coerce", format="ISO8601"
        )
        stamps = text.map(lambda v: isinstance(v, datetime))  # Python or pandas objects
        if stamps.any():
            parsed[stamps] = pd.to_datetime(text[stamps], utc=True)
        times = parsed
    times = times.astype("datetime64[us, UTC]")
    return times, present & times.isna()


def _ratings(column: pd.Series, bounds: tuple[float, float] | None) -> tuple[pd.Series, pd.Series]:
    """(ratings as floats, NaN where absent; reason per row, "" when fine)."""
    why = pd.Series("", index=column.index, dtype=object)
    if pd.api.types.is_bool_dtype(column):
        numbers = pd.Series(np.nan, index=column.index, dtype=float)
        why[column.notna()] = "rating not a number"
        return numbers, why
    if pd.api.types.is_numeric_dtype(column):
        numbers = column.astype(float)
    else:
        plain = column.astype(object)
        flags = plain.map(lambda v: isinstance(v, bool) or type(v).__name__ == "bool_")
        numbers = pd.to_numeric(plain.where(~flags, None), errors="coerce").astype(float)
        numbers[flags] = np.nan
    present = column.notna()
    why[present & numbers.isna()] = "rating not a number"
    finite = np.isfinite(numbers)
    why[present & numbers.notna() & ~finite] = "rating not a finite number"
    if bounds is not None:
        low, high = bounds
        outside = finite & ((numbers < low) | (numbers > high))
        why[outside] = f"rating outside [{low:g}, {high:g}]"
    return numbers.where(why == "", np.nan), why


def _summary(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} × {why}" for why, n in counts.items())


def _error(
    frame: pd.DataFrame, reason: pd.Series, counts: dict[str, int], columns: VisitColumns
) -> VisitValidationError:
    shown_columns = [c for c in (columns.user, columns.item, columns.time, columns.rating) if c]
    shown_columns = [c for c in shown_columns if c in frame.columns]
    examples = []
    for why in counts:
        rows = frame[reason == why].head(_EXAMPLES)
        shown = "; ".join(
            (f"row {int(i) + 1}: " if isinstance(i, int | np.integer) else "")
            + " ".join(f"{c}={r[c]!r}" for c in shown_columns)
            for i, r in rows.iterrows()
        )
        examples.append(f"{why}: {shown}")
    total = int((reason != "").sum())
    return VisitValidationError(
        f"{total} of {len(frame)} visit rows are invalid; nothing was stored",
        expected="every row one of the " + columns.describe(),
        got=f"{_summary(counts)} (e.g. " + " | ".join(examples) + ")",
        fix="correct or remove those rows and add the file again "
        "(or pass --skip-invalid to store the valid rows and count the rest)",
    )
