"""Time-based train/holdout split: the most recent rows are held out, as in production."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opsloop.errors import DataValidationError

if TYPE_CHECKING:
    import pandas as pd


def time_split(
    frame: pd.DataFrame,
    *,
    time_column: str,
    holdout: float,
    target: str,
    task: str,
    min_rows: int = 50,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    ordered = frame.sort_values(time_column, kind="stable").reset_index(drop=True)
    n = len(ordered)
    if n < min_rows:
        raise DataValidationError(
            "not enough rows to train",
            expected=f"at least {min_rows} rows in the training window",
            got=f"{n} rows",
            fix="widen retrain.training_window or check load()",
        )
    cut = round(n * (1.0 - holdout))
    train, test = ordered.iloc[:cut], ordered.iloc[cut:]
    if task != "regression":
        for name, part in (("training", train), ("holdout", test)):
            classes = part[target].nunique(dropna=True)
            if classes < 2:
                raise DataValidationError(
                    f"the {name} part of the split has a single class of {target!r}",
                    expected="at least two classes in both parts",
                    got=f"{classes} class(es) in {len(part)} rows",
                    fix="widen the training window or change split.holdout",
                )
    return train, test
