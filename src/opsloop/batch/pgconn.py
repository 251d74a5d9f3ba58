"""Reaching a batch output's PostgreSQL database (`predict.output_table`) with psycopg 3
(imported when used): every failure becomes one `OutputTableError` line naming the target
(password masked), what went wrong and how to fix it; `check_target` is the check a run
makes before it scores a row."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opsloop.errors import OutputTableError

if TYPE_CHECKING:
    import psycopg

    from opsloop.config.batch import OutputTable

CONNECT_TIMEOUT = 5  # seconds: an unreachable server fails the run at once
APPLICATION = "opsloop batch output"
COMMENT_KIND = "opsloop batch output"  # the `kind` of every comment opsloop writes


def connect(target: OutputTable, doing: str) -> psycopg.Connection[Any]:
    """A connection (not autocommit: the caller's block is one transaction)."""
    import psycopg

    try:
        return psycopg.connect(
            target.url, connect_timeout=CONNECT_TIMEOUT, application_name=APPLICATION
        )
    except psycopg.Error as exc:
        raise failure(target, exc, doing) from exc


def failure(target: OutputTable, exc: BaseException, doing: str) -> OutputTableError:
    """`exc` (psycopg's) while `doing` something with `target`, as one actionable line."""
    import psycopg

    from opsloop.stack.postgres import classify

    detail = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        fix = (
            f"grant the user what it needs (GRANT CREATE ON SCHEMA {target.schema} TO "
            "the user opsloop connects as), or connect as the owner of the schema"
        )
    elif isinstance(exc, psycopg.OperationalError):
        problem = classify(exc).problem
        fix = {
            "unreachable": "start the server, or correct the host and port of "
            "--output-table / predict.output_table",
            "authentication": "check the user and password (keep the password in PGPASSWORD "
            "or ~/.pgpass rather than in opsloop.yaml)",
            "missing_database": "create the database (`createdb NAME`) or name an existing one",
        }.get(problem, "check the server's log for the reason")
    else:
        fix = "check the server's log for the reason"
    return OutputTableError(f"{doing} at {target.shown} failed: {detail}", fix=fix)


@dataclass(frozen=True)
class Comment:
    """What opsloop writes as the comment of its views and run tables: whose output
    (`model`), which run; for a view the publication revision it shows, for a run's table
    when it was written (ISO 8601)."""

    model: str
    run_id: str
    revision: int = 0
    written: str = ""

    def text(self) -> str:
        body: dict[str, Any] = {"kind": COMMENT_KIND, "model": self.model, "run_id": self.run_id}
        if self.revision:
            body["revision"] = self.revision
        if self.written:
            body["written"] = self.written
        return json.dumps(body, sort_keys=True)

    @staticmethod
    def parse(text: str | None) -> Comment | None:
        """The comment opsloop wrote, or None for anything else (a foreign object)."""
        try:
            body = json.loads(text or "")
            if not isinstance(body, dict) or body.get("kind") != COMMENT_KIND:
                return None
            return Comment(
                str(body["model"]),
                str(body["run_id"]),
                int(body.get("revision", 0)),
                str(body.get("written", "")),
            )
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True)
class Relation:
    """An object of the target's schema: its kind (`r` table, `v` view, …), opsloop's
    comment (None: not opsloop's) and whether this user may replace it (owns it)."""

    kind: str
    comment: Comment | None
    owned: bool


def find_relation(conn: psycopg.Connection[Any], schema: str, name: str) -> Relation | None:
    row = conn.execute(
        "SELECT c.relkind, obj_description(c.oid, 'pg_class'), "
        "pg_has_role(c.relowner, 'USAGE') FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
        (schema, name),
    ).fetchone()
    if row is None:
        return None
    return Relation(str(row[0]), Comment.parse(row[1]), bool(row[2]))


def check_view(target: OutputTable, found: Relation | None, model: str) -> None:
    """The view name is free, or a view opsloop made for `model` that this user owns."""
    if found is None:
        return
    if found.kind != "v" or found.comment is None:
        what = "a view" if found.kind == "v" else "a table or other object"
        raise OutputTableError(
            f"{target.view} at {target.shown} is {what} opsloop did not create, so it cannot "
            "become the batch output's view",
            fix="choose another table= name, or rename or drop that object",
        )
    if found.comment.model != model:
        raise OutputTableError(
            f"{target.view} at {target.shown} is the batch output view of the model "
            f"{found.comment.model!r}, not {model!r}",
            fix="give each model its own table= name",
        )
    if not found.owned:
        raise OutputTableError(
            f"the view {target.view} at {target.shown} belongs to another user: this one "
            "cannot re-point it",
            fix="connect as the view's owner (or a member of its role)",
        )


def check_target(target: OutputTable, model: str) -> None:
    """Before a run scores a row: the server answers, the schema exists, this user may
    create tables in it, and the view name is free or opsloop's view of `model`."""
    import psycopg

    doing = "checking the batch output table"
    try:
        with connect(target, doing) as conn:
            row = conn.execute(
                "SELECT current_user, has_schema_privilege(n.oid, 'CREATE') "
                "FROM pg_namespace n WHERE n.nspname = %s",
                (target.schema,),
            ).fetchone()
            if row is None:
                raise OutputTableError(
                    f"the schema {target.schema!r} does not exist at {target.shown}",
                    fix=f"create it (CREATE SCHEMA {target.schema}) or name an existing one "
                    "in table=SCHEMA.NAME",
                )
            if not row[1]:
                raise OutputTableError(
                    f"the user {row[0]!r} may not create tables in the schema "
                    f"{target.schema!r} at {target.shown}",
                    fix=f"GRANT CREATE ON SCHEMA {target.schema} TO {row[0]}, or connect as "
                    "a user that may",
                )
            check_view(target, find_relation(conn, target.schema, target.name), model)
    except psycopg.Error as exc:
        raise failure(target, exc, doing) from exc
