"""The feedback rows of a window in DuckDB SQL (`FeedbackReader.read_feedback`): the
prediction log joined with the newest label per id, one row per prediction id, without the
ids the caller already has, the newest `max_rows` kept.

Everything is decided in SQL over the window's rows; only the kept rows, with the columns
asked for, reach pandas. The ids to leave out are registered as a table (not a query
parameter per id), so a load() of a million rows costs one Arrow hand-over.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from opsloop.data.predlog import RESERVED_NAMES
from opsloop.engines.base import FeedbackRows

if TYPE_CHECKING:
    import duckdb

FEEDBACK_COLUMNS = ("prediction_id", "event_ts", "label")
_EXCLUDE = "__opsloop_feedback_exclude"
_TABLE = "__opsloop_feedback"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def empty_feedback(columns: Sequence[str] = ()) -> FeedbackRows:
    import pandas as pd

    return FeedbackRows(pd.DataFrame(columns=[*FEEDBACK_COLUMNS, *columns]), 0, 0)


def run_feedback(
    con: duckdb.DuckDBPyConnection,
    preds: str,
    params: list[object],
    latest: str,
    columns: Sequence[str],
    *,
    exclude: Sequence[str],
    max_rows: int | None,
) -> FeedbackRows:
    """`preds`: the window's rows by event time (all versions and routes); `latest`: the
    CTEs `labels` and `latest` (the newest label per prediction id)."""
    import pandas as pd

    from opsloop.engines.profile_sql import describe

    logged = describe(con, f"({preds})", params)
    present = [c for c in dict.fromkeys(columns) if c in logged and c not in RESERVED_NAMES]
    picked = "".join(f", p.{_ident(c)}" for c in present)
    con.register(_EXCLUDE, pd.DataFrame({"prediction_id": pd.Series(exclude, dtype="string")}))
    con.execute(
        f"CREATE TEMP TABLE {_TABLE} AS WITH preds AS ({preds}), {latest}, "
        "ranked AS (SELECT CAST(p.prediction_id AS VARCHAR) AS prediction_id, p.event_ts, "
        f"l.label{picked}, row_number() OVER (PARTITION BY CAST(p.prediction_id AS VARCHAR) "
        "ORDER BY coalesce(p.route, '') = 'stable' DESC, p.ts DESC, p.request_id) AS __n "
        "FROM preds p JOIN latest l ON CAST(p.prediction_id AS VARCHAR) = l.prediction_id "
        "WHERE coalesce(p.route, '') <> 'shadow') "
        "SELECT * EXCLUDE (__n), prediction_id IN "
        f"(SELECT CAST(prediction_id AS VARCHAR) FROM {_EXCLUDE}) AS __duplicate "
        "FROM ranked WHERE __n = 1",
        params,
    )
    row = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE __duplicate) FROM {_TABLE}"
    ).fetchone()
    labelled, duplicates = (int(row[0]), int(row[1])) if row else (0, 0)
    kept = labelled - duplicates
    limit = kept if max_rows is None else min(kept, max_rows)
    frame = con.execute(
        f"SELECT * EXCLUDE (__duplicate) FROM (SELECT * FROM {_TABLE} WHERE NOT __duplicate "
        "ORDER BY event_ts DESC, prediction_id DESC LIMIT ?) ORDER BY event_ts, prediction_id",
        [limit],
    ).df()
    con.unregister(_EXCLUDE)
    con.execute(f"DROP TABLE {_TABLE}")
    return FeedbackRows(frame, labelled, duplicates, kept - limit)
