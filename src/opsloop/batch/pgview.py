"""The view readers query (``[schema.]name`` of `predict.output_table`), derived from the
ops store: it shows the table of the run the store says is current.

The ops store is the single commit point, as for ``current.json``:

1. before a publication commits, `plan` checks that the run's table exists and that the
   view can be re-pointed (reachable, opsloop's view of this model, owned by this user),
   and refuses a publication that would leave a view showing a run that is no longer
   current (the new run did not write that table): nothing changes;
2. the publication (or rollback) commits in the ops store;
3. `sync` re-points the view to the store's current publication in ONE PostgreSQL
   transaction: ``CREATE OR REPLACE VIEW`` and its comment (model, run, revision) under a
   transaction-scoped advisory lock, never back to an older revision than it shows. A
   reader's query sees the old run or the new one, whole, never both and never an error.

A process killed between 2 and 3, or a server down at 3, leaves the view on the previous
run; `sync`, run again by every agent tick and batch prediction (`recover.py`) and every
publish or rollback, repairs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opsloop.batch.pgconn import Comment, check_view, connect, failure, find_relation
from opsloop.config.batch import OutputTable, parse_output_table
from opsloop.errors import OutputTableError, StateError
from opsloop.redact import MASK

if TYPE_CHECKING:
    import psycopg

    from opsloop.config import ProjectConfig
    from opsloop.store.ports import StoreReads
    from opsloop.store.records import BatchRun

LOCK_TIMEOUT = "30s"  # a long reader query holds the view: give up, the next sync retries


@dataclass(frozen=True)
class RunTable:
    """The PostgreSQL table a batch run wrote, as its record says (`details["table"]`):
    the target (password masked), the view, the run's own table and its rows."""

    target: str
    view: str
    table: str
    rows: int

    @staticmethod
    def of(run: BatchRun) -> RunTable | None:
        raw = run.details.get("table")
        if not isinstance(raw, dict):
            return None
        return RunTable(str(raw["target"]), str(raw["view"]), str(raw["table"]), int(raw["rows"]))

    @staticmethod
    def written(target: OutputTable, run_id: str, rows: int) -> RunTable:
        table = f"{target.schema}.{target.run_table(run_id)}"
        return RunTable(target.shown, target.view, table, rows)

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "view": self.view, "table": self.table, "rows": self.rows}

    def resolve(self, known: Sequence[OutputTable]) -> OutputTable:
        """The target to connect to: a known one (configured or given) that is this one,
        else the recorded one, its masked password left to libpq (PGPASSWORD, ~/.pgpass)."""
        for target in known:
            if target.shown == self.target:
                return target
        target = parse_output_table(self.target)
        return target.without_password() if MASK in self.target else target


def known_targets(config: ProjectConfig, extra: OutputTable | None = None) -> list[OutputTable]:
    """The targets whose password this process knows: `extra` (given to the command) and
    `predict.output_table`."""
    known = [] if extra is None else [extra]
    text = None if config.predict is None else config.predict.output_table
    if text is not None:
        known.append(parse_output_table(text))
    return known


def plan(
    store: StoreReads, model: str, run: BatchRun, known: Sequence[OutputTable]
) -> RunTable | None:
    """Before `run` becomes current (step 1 of the module docstring): its table, checked;
    an OutputTableError or StateError when the view could not follow."""
    wanted = RunTable.of(run)
    publication = store.find_published_batch(model)
    current = None if publication is None else store.find_batch_run(model, publication.run_id)
    now = None if current is None else RunTable.of(current)
    if current is not None and now is not None and (wanted is None or wanted.target != now.target):
        target = now.resolve(known)
        with connect(target, "checking the batch output view") as conn:
            found = find_relation(conn, target.schema, target.name)
        if found is not None and found.comment is not None and found.comment.model == model:
            wrote = "no PostgreSQL table" if wanted is None else f"the table {wanted.view}"
            raise StateError(
                f"batch run {run.run_id} wrote {wrote}, so the view {now.view} at "
                f"{now.target} would go on showing run {current.run_id} "
                "when it is no longer current",
                fix=f"score it again with --output-table {now.target}, or drop the view "
                f"{now.view} when no reader uses it any more",
            )
    if wanted is None:
        return None
    import psycopg

    target = wanted.resolve(known)
    doing = "checking the batch output view"
    try:
        with connect(target, doing) as conn:
            check_view(target, find_relation(conn, target.schema, target.name), model)
            table = find_relation(conn, target.schema, target.run_table(run.run_id))
    except psycopg.Error as exc:
        raise failure(target, exc, doing) from exc
    if table is None or table.kind != "r":
        raise OutputTableError(
            f"the table {wanted.table} of batch run {run.run_id} is missing at {wanted.target}",
            fix="publish another run (`opsloop batch history NAME`), or score this input "
            "again (it was dropped by hand?)",
        )
    return wanted


@dataclass(frozen=True)
class ViewSync:
    """What `sync` did: the view, the run and revision it shows, and whether it moved."""

    view: str
    run_id: str
    revision: int
    moved: bool


def sync(store: StoreReads, model: str, known: Sequence[OutputTable]) -> ViewSync | None:
    """Re-point the view of the current publication's table to it (step 3 of the module
    docstring); None when nothing published wrote a table."""
    publication = store.find_published_batch(model)
    run = None if publication is None else store.find_batch_run(model, publication.run_id)
    table = None if run is None else RunTable.of(run)
    if publication is None or table is None:
        return None
    target = table.resolve(known)
    moved = point_view(target, Comment(model, publication.run_id, publication.revision))
    return ViewSync(table.view, publication.run_id, publication.revision, moved)


def point_view(target: OutputTable, shows: Comment) -> bool:
    """In one transaction, make the view select from the table of `shows.run_id` unless it
    already shows that revision or a newer one; True when it moved."""
    import psycopg
    from psycopg import sql

    doing = f"re-pointing the view {target.view}"
    view = sql.Identifier(target.schema, target.name)
    table = sql.Identifier(target.schema, target.run_table(shows.run_id))
    try:  # one transaction: the block's COMMIT (which can fail too) publishes the view
        with connect(target, doing) as conn:
            conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))
            key = f"opsloop.view:{target.schema}.{target.name}"
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))
            found = find_relation(conn, target.schema, target.name)
            check_view(target, found, shows.model)
            shown = None if found is None else found.comment  # check_view: opsloop's
            if shown is not None and shown.revision >= shows.revision:
                return False
            _replace(conn, view, table)
            comment = sql.Literal(shows.text())
            conn.execute(sql.SQL("COMMENT ON VIEW {} IS {}").format(view, comment))
    except psycopg.Error as exc:
        raise failure(target, exc, doing) from exc
    return True


def _replace(conn: psycopg.Connection[Any], view: Any, table: Any) -> None:
    """``CREATE OR REPLACE VIEW``; when a column's type changed (a version predicting
    another type), drop and create it in the same transaction (its grants then come from
    the schema's default privileges)."""
    import psycopg
    from psycopg import sql

    select = sql.SQL("SELECT * FROM {}").format(table)
    try:
        with conn.transaction():  # a savepoint: the fallback runs in the same transaction
            conn.execute(sql.SQL("CREATE OR REPLACE VIEW {} AS {}").format(view, select))
    except psycopg.errors.InvalidTableDefinition:
        conn.execute(sql.SQL("DROP VIEW {}").format(view))
        conn.execute(sql.SQL("CREATE VIEW {} AS {}").format(view, select))
