"""Batch prediction in the ops store (a mixin of `OpsStore`): finished runs, each written
with its `batch_predicted` / `batch_failed` event, and the published output's history —
one row per revision, the newest current, written with its event in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsloop.errors import NotFoundError, StateError
from opsloop.store import schema as t
from opsloop.store._util import aware, jsonable
from opsloop.store.ports import BatchRepository
from opsloop.store.records import (
    BatchPublication,
    BatchRun,
    Evidence,
    NewBatchRun,
    NewEvent,
)
from opsloop.store.unit import UnitOfWork, new_id


class BatchQueries(UnitOfWork, BatchRepository):
    # ---- runs -----------------------------------------------------------------------
    def record_batch_run(self, run: NewBatchRun, events: Sequence[NewEvent] = ()) -> BatchRun:
        """Store a finished run and the events describing it (each one's evidence begins
        with the run's row id), atomically."""
        values: dict[str, Any] = {**vars(run), "details": jsonable(run.details)}
        with self._tx() as conn:
            res = conn.execute(t.batch_runs.insert().values(**values))
            row_id = new_id(res)
            self._insert_events(conn, events, record_id=row_id)
        return BatchRun(id=row_id, **vars(run))

    def list_batch_runs(
        self, model: str, *, limit: int = 20, status: str | None = None
    ) -> list[BatchRun]:
        """Runs, newest first."""
        q = sa.select(t.batch_runs).where(t.batch_runs.c.model == model)
        if status is not None:
            q = q.where(t.batch_runs.c.status == status)
        with self._read() as conn:
            rows = conn.execute(q.order_by(t.batch_runs.c.id.desc()).limit(limit)).mappings()
            return [batch_run(r) for r in rows]

    def find_batch_run(self, model: str, run_id: str) -> BatchRun | None:
        with self._read() as conn:
            row = (
                conn.execute(
                    sa.select(t.batch_runs).where(
                        t.batch_runs.c.model == model, t.batch_runs.c.run_id == run_id
                    )
                )
                .mappings()
                .first()
            )
        return None if row is None else batch_run(row)

    def get_batch_run(self, model: str, run_id: str) -> BatchRun:
        found = self.find_batch_run(model, run_id)
        if found is None:
            raise NotFoundError(
                f"{model!r} has no batch run {run_id!r}",
                fix="list the runs with `opsloop batch history NAME`",
            )
        return found

    # ---- publications -------------------------------------------------------------
    def publish_batch(
        self,
        model: str,
        run_id: str,
        *,
        kind: str = "published",
        actor: str = "opsloop",
        reason: str = "",
        evidence: Evidence | None = None,
    ) -> BatchPublication:
        """Make `run_id` the current output of `model` (the next revision) and write its
        event (`batch_published` or, for `kind="rolled_back"`, `batch_rolled_back`) in one
        transaction. Two publishers racing for a revision: one wins, the other gets a
        StateError (the unique revision)."""
        run = self.get_batch_run(model, run_id)
        if run.status != "succeeded" or run.output is None:
            raise StateError(
                f"batch run {run_id} of {model!r} {run.status}: it has no output to publish",
                fix="publish a succeeded run (`opsloop batch history NAME`)",
            )
        try:
            with self._tx() as conn:
                current = self._current_publication(conn, model)
                revision = 1 if current is None else current.revision + 1
                previous = None if current is None else current.run_id
                ts = self.now()
                res = conn.execute(
                    t.batch_publications.insert().values(
                        ts=ts,
                        model=model,
                        revision=revision,
                        run_id=run_id,
                        previous_run_id=previous,
                        kind=kind,
                        actor=actor,
                        reason=reason,
                    )
                )
                publication = BatchPublication(
                    id=new_id(res),
                    ts=ts,
                    model=model,
                    revision=revision,
                    run_id=run_id,
                    previous_run_id=previous,
                    kind=kind,
                    actor=actor,
                    reason=reason,
                )
                event = "batch_rolled_back" if kind == "rolled_back" else "batch_published"
                summary = reason or (
                    f"batch output {run_id} (version {run.version}) published"
                    if kind == "published"
                    else f"batch output rolled back from {previous} to {run_id}"
                )
                ev = {
                    "revision": revision,
                    "run_id": run_id,
                    "previous_run_id": previous,
                    "output": run.output,
                    "rows": run.rows,
                    **(evidence or {}),
                }
                self._insert_event(conn, event, model, run.version, summary, ev, actor)
                return publication
        except sa.exc.IntegrityError:
            raise StateError(
                f"another process published a batch output of {model!r} at the same time",
                fix="check `opsloop batch history NAME` and publish again if needed",
            ) from None

    def _current_publication(self, conn: Connection, model: str) -> BatchPublication | None:
        row = (
            conn.execute(
                sa.select(t.batch_publications)
                .where(t.batch_publications.c.model == model)
                .order_by(t.batch_publications.c.revision.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        return None if row is None else _publication(row)

    def find_published_batch(self, model: str) -> BatchPublication | None:
        with self._read() as conn:
            return self._current_publication(conn, model)

    def list_batch_publications(self, model: str) -> list[BatchPublication]:
        """Publication history, oldest first."""
        with self._read() as conn:
            rows = conn.execute(
                sa.select(t.batch_publications)
                .where(t.batch_publications.c.model == model)
                .order_by(t.batch_publications.c.revision)
            ).mappings()
            return [_publication(r) for r in rows]


def batch_run(row: Any) -> BatchRun:
    data = dict(row)
    data["started"], data["finished"] = aware(data["started"]), aware(data["finished"])
    return BatchRun(**data)


def _publication(row: Any) -> BatchPublication:
    return BatchPublication(**{**row, "ts": aware(row["ts"])})
