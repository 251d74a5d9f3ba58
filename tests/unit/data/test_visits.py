"""Visits as a recommender's labels: every row checked (user, item, time, rating), stored
in the labels store's columns (prediction_id, label, label_ts, rating), the whole file
refused with counts and examples unless --skip-invalid."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from opsloop.data.visits import STORED, VisitColumns, VisitValidationError, validate_visits

COLUMNS = VisitColumns("user_id", "restaurant_id", "visited_at", "rating", (1.0, 5.0))


def frame(**columns: list[object]) -> pd.DataFrame:
    base: dict[str, list[object]] = {
        "user_id": ["u1", "u2", "u3"],
        "restaurant_id": ["r1", "r2", "r3"],
        "visited_at": ["2026-12-07T12:30:00Z", "2026-12-07T19:00:00+01:00", "2026-12-06 20:15"],
        "rating": [5, None, 3.5],
    }
    return pd.DataFrame({**base, **columns})


def test_valid_visits_are_normalised_into_the_stored_columns() -> None:
    valid = validate_visits(frame(), COLUMNS)
    out = valid.frame
    assert list(out.columns) == list(STORED)
    assert out["prediction_id"].tolist() == ["u1", "u2", "u3"]
    assert out["label"].tolist() == ["r1", "r2", "r3"]
    assert str(out["label_ts"].dtype) == "datetime64[us, UTC]"
    assert out["label_ts"].tolist() == [
        pd.Timestamp("2026-12-07T12:30:00Z"),
        pd.Timestamp("2026-12-07T18:00:00Z"),  # +01:00 converted
        pd.Timestamp("2026-12-06T20:15:00Z"),  # no zone: UTC
    ]
    assert out["rating"].dtype == np.float64
    assert out["rating"].tolist()[0] == 5.0 and np.isnan(out["rating"].tolist()[1])
    assert (valid.rejected, valid.duplicates, valid.reasons) == (0, 0, {})


def test_integer_ids_become_digits_also_from_a_float_column_and_times_may_be_datetimes() -> None:
    naive = [datetime(2026, 12, 7, 12), datetime(2026, 12, 7, 13), datetime(2026, 12, 7, 14)]
    out = validate_visits(
        frame(
            user_id=[42, 7, 1_000_000],
            restaurant_id=[3.0, 12.0, 5.0],  # an integer column read with a missing value
            visited_at=naive,
        ),
        COLUMNS,
    ).frame
    assert out["prediction_id"].tolist() == ["42", "7", "1000000"]
    assert out["label"].tolist() == ["3", "12", "5"]
    assert out["label_ts"].iloc[0] == pd.Timestamp("2026-12-07T12:00:00Z")
    aware = [datetime(2026, 12, 7, 12, tzinfo=UTC)] * 3
    assert validate_visits(frame(visited_at=aware), COLUMNS).frame["label_ts"].iloc[1] == aware[0]


def test_invalid_rows_refuse_the_file_with_counts_and_examples() -> None:
    bad = frame(
        user_id=["u1", None, "u3", "u4", "u5", "  "],
        restaurant_id=["r1", "r2", None, "r4", "r5", "r6"],
        visited_at=[
            "2026-12-07T12:00:00Z",
            "2026-12-07",
            "2026-12-07",
            "yesterday",
            "2026-12-07",
            "2026-12-07",
        ],
        rating=[9, 4, 4, 4, "five", 3],
    )
    with pytest.raises(VisitValidationError) as info:
        validate_visits(bad, COLUMNS)
    text = str(info.value)
    assert "6 of 6 visit rows are invalid; nothing was stored" in text
    for reason in (
        "1 × rating outside [1, 5]",
        "2 × missing user",  # None and blank
        "1 × missing item",
        "1 × time not a date-time",
        "1 × rating not a number",
    ):
        assert reason in text, reason
    assert "visited_at='yesterday'" in text and "rating=9" in text and "rating='five'" in text
    assert "--skip-invalid" in text


def test_skip_invalid_keeps_the_valid_rows_and_counts_the_rest() -> None:
    bad = frame(
        user_id=["u1", None, "u3"],
        visited_at=["2026-12-07T12:00:00Z", "2026-12-07", "not a time"],
    )
    valid = validate_visits(bad, COLUMNS, skip_invalid=True)
    assert valid.frame["prediction_id"].tolist() == ["u1"]
    assert valid.rejected == 2
    assert valid.reasons == {"missing user": 1, "time not a date-time": 1}


def test_missing_times_non_finite_ratings_and_numbers_as_times_are_invalid() -> None:
    bad = frame(visited_at=[None, "2026-12-07", "2026-12-07"], rating=[4, float("inf"), 3])
    with pytest.raises(VisitValidationError, match=r"1 × missing time.*1 × rating not a finite"):
        validate_visits(bad, COLUMNS)
    with pytest.raises(VisitValidationError, match="3 × time not a date-time"):
        validate_visits(frame(visited_at=[1, 2, 3]), COLUMNS)


def test_many_visits_per_user_are_kept_and_exact_repeats_once() -> None:
    repeated = frame(
        user_id=["u1", "u1", "u1"],
        restaurant_id=["r1", "r2", "r1"],
        visited_at=["2026-12-07T12:00:00Z", "2026-12-07T12:00:00Z", "2026-12-07T12:00:00Z"],
    )
    valid = validate_visits(repeated, COLUMNS)
    assert valid.frame["label"].tolist() == ["r1", "r2"]
    assert valid.duplicates == 1


def test_missing_columns_and_empty_files_say_what_is_expected() -> None:
    with pytest.raises(VisitValidationError) as info:
        validate_visits(frame().drop(columns=["visited_at"]), COLUMNS)
    assert "lack the column(s) ['visited_at']" in str(info.value)
    assert "'visited_at' (the visit's date-time)" in str(info.value)
    with pytest.raises(VisitValidationError, match="no rows"):
        validate_visits(frame().iloc[:0], COLUMNS)
    with pytest.raises(VisitValidationError, match="no valid row"):
        validate_visits(frame(user_id=[None, None, None]), COLUMNS, skip_invalid=True)


def test_the_rating_is_optional_and_unbounded_without_a_range() -> None:
    out = validate_visits(frame().drop(columns=["rating"]), COLUMNS).frame
    assert out["rating"].isna().all() and out["rating"].dtype == np.float64
    unbounded = VisitColumns("user_id", "restaurant_id", "visited_at", "rating")
    assert validate_visits(frame(rating=[9, 10, 0.5]), unbounded).frame["rating"].tolist() == [
        9.0,
        10.0,
        0.5,
    ]
