"""What a ranking project's load(window) must return, checked before anything is fitted:
a `RankingData` whose columns are the project's (`ranking:` in opsloop.yaml), ids unique in
the users and items tables, interaction times as date-times (UTC; naive ones are read as
UTC) — the validate stage of `opsloop train` for `task: ranking`.

The checks are `data.quality.QualityCheck`s, so a failure is reported, recorded
(`data_invalid`) and raised (`require_quality`) exactly like a tabular project's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opsloop.data.quality import QualityCheck
from opsloop.errors import UserCodeError
from opsloop.ranking.data import RankingData

if TYPE_CHECKING:
    import pandas as pd

    from opsloop.config import RankingConfig


def as_ranking_data(value: Any, code: str) -> RankingData:
    """`value` (what load(window) in `code` returned) as a `RankingData`, else UserCodeError."""
    if not isinstance(value, RankingData):
        raise UserCodeError(
            f"load(window) in {code} returned the wrong type for a task: ranking project",
            expected="an opsloop.ranking.data.RankingData (interactions, users and items "
            "tables with their column names)",
            got=type(value).__name__,
            fix="return RankingData(interactions=..., users=..., items=..., user_column=..., "
            "item_column=..., time_column=...) (see `opsloop init --example restaurants`)",
        )
    return value


def _named(data: RankingData, cfg: RankingConfig, time_column: str) -> list[str]:
    """The column names of `data` that differ from the project's configuration."""
    pairs = [
        ("user_column", data.user_column, cfg.user_column),
        ("item_column", data.item_column, cfg.item_column),
        ("time_column", data.time_column, time_column),
        ("rating_column", data.rating_column, cfg.rating_column),
    ]
    return [f"{name} {got!r} (opsloop.yaml: {want!r})" for name, got, want in pairs if got != want]


def _missing(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    return [c for c in columns if c not in frame.columns]


def check_ranking_data(
    data: RankingData, cfg: RankingConfig, *, time_column: str, min_rows: int
) -> list[QualityCheck]:
    """The checks of a training's `RankingData`; stops after the columns check when it fails
    (the others need the columns)."""
    import pandas as pd

    differ = _named(data, cfg, time_column)
    wanted = {
        "interactions": [data.user_column, data.item_column, data.time_column]
        + ([data.rating_column] if data.rating_column else []),
        "users": [data.user_column],
        "items": [data.item_column],
    }
    tables = {"interactions": data.interactions, "users": data.users, "items": data.items}
    missing = {t: _missing(tables[t], cols) for t, cols in wanted.items()}
    gaps = [f"the {t} table lacks {cols}" for t, cols in missing.items() if cols]
    problems = ([f"RankingData names {', '.join(differ)}"] if differ else []) + gaps
    checks = [
        QualityCheck(
            "columns",
            not problems,
            "; ".join(problems) if problems else "the configured columns are present",
        )
    ]
    if problems:
        return checks
    inter = data.interactions
    checks.append(
        QualityCheck(
            "min_rows",
            len(inter) >= min_rows,
            f"{len(inter)} interactions (need at least {min_rows})",
        )
    )
    for table, column in (("users", data.user_column), ("items", data.item_column)):
        repeated = int(tables[table][column].duplicated().sum())
        checks.append(
            QualityCheck(
                f"unique_{table}",
                repeated == 0,
                f"one row per {column}"
                if repeated == 0
                else f"{repeated} repeated {column} value(s) in the {table} table",
            )
        )
    times = inter[data.time_column]
    dated = pd.api.types.is_datetime64_any_dtype(times.dtype)
    empty = int(times.isna().sum()) if dated else 0
    checks.append(
        QualityCheck(
            "event_times",
            dated and empty == 0,
            f"{data.time_column} is {times.dtype}"
            + ("" if dated else ": convert it to date-times in load() (UTC, or naive as UTC)")
            + (f"; {empty} interaction(s) have no time" if empty else ""),
        )
    )
    known = inter[data.item_column].isin(data.items[data.item_column])
    unknown = int((~known).sum())
    checks.append(
        QualityCheck(
            "known_items",
            len(inter) == 0 or unknown < len(inter),
            f"{unknown} of {len(inter)} interactions name an item not in the items table "
            "(left out of training and evaluation)",
        )
    )
    if data.rating_column is not None:
        numeric = pd.api.types.is_numeric_dtype(inter[data.rating_column].dtype)
        checks.append(
            QualityCheck(
                "ratings",
                numeric,
                f"{data.rating_column} is {inter[data.rating_column].dtype}"
                + ("" if numeric else ": ratings must be numbers"),
            )
        )
    return checks
