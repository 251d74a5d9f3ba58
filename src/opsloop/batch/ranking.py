"""The nightly top-k of a `task: ranking` project: `opsloop predict` with a recommender
(RANKING.md, contracts 2-4; docs/batch.md, "Ranking").

1. The input (`predict.input`: the users table, or any input `opsloop predict` takes) is
   described by DuckDB and its user column (`ranking.user_column`) checked before
   anything is loaded: missing, holding nulls, or of another kind (text vs numbers) than
   the users table's ids → DataValidationError, nothing written.
2. The version's recommender is loaded (`modelcache`, as a tabular version) and the context
   once (`rankcontext.py`: the project's load() for the window ending now).
3. DuckDB streams the distinct user ids, sorted, in chunks of `batch_rows` users; each chunk
   is recommended at once (`recommend(context, users, ranking.k, exclude_seen=…)`) and
   written to the run folder and the prediction log (`rankrows.py`), so memory holds one
   chunk's lists besides the context.
4. Then the fallback list — what a reader answers for a user the run did not score —
   is written to the run folder as k rows whose user is null: the list the recommender
   gives a user it has never seen (for opsloop's recommenders, the global popularity
   ranking of the last `recent_days`), asked for with the first chunk's users
   (`Prepared.recommend_with_fallback`: the same context build). It is part of the run,
   so it is published and rolled back with the lists. It is not in the prediction log
   (no user was answered).

The run is then recorded, renamed into place and published exactly as a tabular run
(`predict.py`): `rows` counts every output row (lists and fallback), the record's details
say how many users were ranked. What Spark's path shares with this one is in
`rankprep.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opsloop.batch.duck import connect, quoted
from opsloop.batch.rankprep import (
    check_no_nulls,
    check_user_column,
    prepare,
    ranked_run,
    ranking_of,
)
from opsloop.batch.rankrows import flatten
from opsloop.batch.scoring import Scored
from opsloop.batch.sinks import LogSink, RunFolder

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from opsloop.monitor.datasets import DataInput, Source
    from opsloop.ranking.data import TopK
    from opsloop.runtime import Runtime


def score_ranking(
    rt: Runtime,
    data: DataInput,
    out_root: Path,
    log_root: Path,
    run_id: str,
    chosen: str,
    batch_rows: int,
    on_rows: Callable[[int, int | None], None] | None,
    seen: list[Source],
) -> Scored:
    """The top-k lists of every user of `data` by version `chosen`, with the fallback
    list, into hidden files (module docstring); what was written."""
    from opsloop.monitor.datasets import describe_source, source

    column = ranking_of(rt).user_column
    user = quoted(column)
    con = connect()
    folder: RunFolder | None = None
    log: LogSink | None = None
    try:
        found = source(data, "input", con)
        seen.append(found)
        columns = describe_source(con, found, "input")
        check_user_column(columns, column, found.label)
        ((nulls, total),) = con.execute(  # fetched whole: the connection is free again
            f"SELECT count(*) FILTER (WHERE {user} IS NULL), count(DISTINCT {user}) "
            f"FROM {found.sql}"
        ).fetchall()
        check_no_nulls(int(nulls), found.label, column)
        prepared = prepare(rt, chosen, run_id, columns[column], found.label)
        folder, log = RunFolder(out_root, run_id), LogSink(log_root, rt.model)
        reader = con.sql(
            f"SELECT DISTINCT {user} AS {user} FROM {found.sql} ORDER BY 1"
        ).to_arrow_reader(batch_rows)
        known = prepared.known
        users = unknown = listed = 0
        nobody: TopK | None = None  # the fallback list, made with the first chunk's
        for batch in reader:
            if not batch.num_rows:
                continue
            ids = batch.column(0)
            asked = ids.to_numpy(zero_copy_only=False)
            if nobody is None:
                top, nobody = prepared.recommend_with_fallback(asked)
            else:
                top = prepared.recommend(asked)
            ranked = flatten(ids, top)
            answered = rt.now()
            folder.write(prepared.rows.output(ranked))
            log.write(prepared.rows.log(ranked, answered), answered)
            users += batch.num_rows
            unknown += int((known.get_indexer(asked) < 0).sum())
            listed += ranked.rows
            if on_rows is not None:
                on_rows(users, int(total))
        fallback = prepared.fallback(reader.schema.field(0).type, nobody)
        folder.write(fallback)  # also gives a run without users its file (and columns)
        renames = folder.close() + log.close()
    except BaseException:
        if folder is not None:
            folder.discard()
        if log is not None:
            log.discard()
        raise
    finally:
        con.close()
    run = ranked_run(prepared, users, unknown, listed, fallback.num_rows)
    return Scored(run.rows, folder.final, folder.files, log.rows, prepared.scorer, renames, run)
