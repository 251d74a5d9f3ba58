"""The contracts' frames as the recommender's monitor reads them (ids as text, times
UTC in microseconds): the lists served (the nightly output's or the prediction log's
columns), the labels store's visits and the history before a window."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from opsloop.errors import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

# the time of a list that carries none (a published output, contract 3): before every window
BEFORE = datetime(1970, 1, 1)  # naive: made UTC where used


def _utc_us(values: Any) -> pd.Series:
    import pandas as pd

    return pd.Series(pd.to_datetime(values, utc=True)).dt.as_unit("us")


def _text(values: pd.Series) -> pd.Series:
    """Ids as text (None where missing), reindexed from 0; whole numbers in a float column
    (integer ids with a null among them) without their ".0"."""
    import pandas as pd

    missing = values.isna().to_numpy()
    if pd.api.types.is_float_dtype(values):
        finite = values[~missing]
        if len(finite) and bool((finite % 1 == 0).all()):
            values = values.astype("Int64")
    text = values.astype(str).astype(object).reset_index(drop=True)
    text[missing] = None
    return text


def normalise_lists(
    frame: pd.DataFrame, user_column: str, item_column: str, time_column: str
) -> pd.DataFrame:
    """The list rows as `served` reads them: ``list``, ``user``, ``time``, ``rank``,
    ``item``, ``score`` (a list: the rows of one user within one run)."""
    import pandas as pd

    frame = frame.reset_index(drop=True)
    user = frame[user_column] if user_column in frame.columns else frame.get("prediction_id")
    item = frame[item_column] if item_column in frame.columns else frame.get("prediction")
    if user is None or item is None or "rank" not in frame.columns:
        raise InvalidInputError(
            "the lists lack columns a recommender's monitor needs",
            expected=f"columns {user_column!r}, rank, {item_column!r}, score (the nightly "
            "output's or the prediction log's)",
            got=f"columns {list(frame.columns)}",
            fix="monitor the lists written by `opsloop predict` for the ranking model",
        )
    run = next((frame[c] for c in ("run_id", "request_id", "version") if c in frame.columns), None)
    runs = _text(run).fillna("") if run is not None else pd.Series("", index=frame.index)
    before = pd.Timestamp(BEFORE, tz="UTC")
    if time_column in frame.columns:
        time = _utc_us(frame[time_column]).fillna(before)
    else:
        time = _utc_us(pd.Series(before, index=frame.index))
    score = (
        pd.to_numeric(frame["score"], errors="coerce").astype(float)
        if "score" in frame.columns
        else pd.Series(np.nan, index=frame.index)
    )
    out = pd.DataFrame(
        {
            "user": _text(user),
            "time": time,
            "rank": pd.to_numeric(frame["rank"], errors="coerce").fillna(0).astype(np.int64),
            "item": _text(item),
            "score": score,
        }
    )
    key = out["user"].fillna("\x00fallback") + "\x00" + runs.astype(str)
    out["list"] = pd.factorize(key)[0].astype(np.int64)
    return out


def normalise_visits(frame: pd.DataFrame) -> pd.DataFrame:
    """The labels store's visits as ``user``, ``item``, ``time``, ``rating``."""
    import pandas as pd

    missing = [c for c in ("prediction_id", "label", "label_ts") if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            "the visits lack columns of the labels store",
            expected="prediction_id (the user id), label (the item id), label_ts (the visit "
            "time) and optionally rating",
            got=f"columns {list(frame.columns)}",
            fix="add visits with `opsloop labels add` (the project's user, item and time "
            "columns) or the web app's POST /visits",
        )
    frame = frame.reset_index(drop=True)
    rating = (
        pd.to_numeric(frame["rating"], errors="coerce").astype(float)
        if "rating" in frame.columns
        else pd.Series(np.nan, index=frame.index)
    )
    out = pd.DataFrame(
        {
            "user": _text(frame["prediction_id"]),
            "item": _text(frame["label"]),
            "time": _utc_us(frame["label_ts"]),
            "rating": rating,
        }
    )
    keep = out["user"].notna() & out["item"].notna() & out["time"].notna()
    return out[keep].reset_index(drop=True)


def normalise_history(
    frame: pd.DataFrame | None, user_column: str, item_column: str, time_column: str | None
) -> pd.DataFrame | None:
    """The visits before the window as ``user``, ``item``, ``time`` (None without them)."""
    import pandas as pd

    if frame is None or time_column is None or time_column not in frame.columns:
        return None
    frame = frame.reset_index(drop=True)
    out = pd.DataFrame(
        {
            "user": _text(frame[user_column]),
            "item": _text(frame[item_column]),
            "time": _utc_us(frame[time_column]),
        }
    )
    return out.dropna().reset_index(drop=True)
