"""Publishing a batch run's output to readers, rolling it back, and reading it.

The pointer is the ops store: `batch_publications` (one row per revision, the newest is
current, written with its event in one transaction; two publishers cannot take the same
revision). Beside the output, ``<output>/current.json`` says the same for readers without
the ops store, written to a temporary file and renamed (a reader sees the old manifest or
the new one, never half of one), and never replaced by an older revision.

A run folder is complete before it can be published (it is renamed into place at the end
of the run), so a reader never sees a half-written or mixed output.

A run that also wrote a PostgreSQL table (`predict.output_table`) is checked before the
pointer moves, and the view readers query follows the store's pointer after it committed
(`pgview.py`: plan, commit, sync; a lagging view is repaired by the next sync).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from opsloop.batch.pgview import RunTable, known_targets, plan, sync
from opsloop.errors import NotFoundError, OutputTableError, StateError
from opsloop.faults import crash_point
from opsloop.store.records import BatchPublication, BatchRun

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from opsloop.config import ProjectConfig
    from opsloop.config.batch import OutputTable
    from opsloop.runtime import Runtime
    from opsloop.store.ports import BatchRepository, StoreReads

MANIFEST = "current.json"


class HasStore(Protocol):
    """What the reader API needs: a `Project`, a `Runtime` or the `ReadService`."""

    @property
    def config(self) -> ProjectConfig: ...

    @property
    def store(self) -> StoreReads: ...


@dataclass(frozen=True)
class CurrentBatch:
    """The published output: which run, since when (revision), and its files."""

    publication: BatchPublication
    run: BatchRun
    known: tuple[OutputTable, ...] = field(default=(), repr=False)  # targets with passwords

    @property
    def path(self) -> Path:
        assert self.run.output is not None
        return Path(self.run.output)

    def files(self) -> list[Path]:
        return sorted(self.path.glob("*.parquet"))

    def read(self, columns: list[str] | None = None) -> pa.Table:
        """The output's rows (all of them: for large outputs read `files()` yourself)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        tables = [pq.read_table(f, columns=columns) for f in self.files()]
        if not tables:
            return pa.table({})
        return pa.concat_tables(tables)

    def to_pandas(self, columns: list[str] | None = None) -> pd.DataFrame:
        return self.read(columns).to_pandas()

    @property
    def table(self) -> RunTable | None:
        """The PostgreSQL table the run also wrote (`predict.output_table`), or None."""
        return RunTable.of(self.run)

    def read_table(self, columns: list[str] | None = None) -> pa.Table:
        """The run's rows from its own PostgreSQL table (not the view: this run's rows even
        if another is published meanwhile); all of them — query the view for large ones."""
        from opsloop.batch.pgtable import read_run_table

        table = self.table
        if table is None:
            raise NotFoundError(
                f"batch run {self.run.run_id} of {self.run.model!r} wrote no PostgreSQL table",
                fix="read its Parquet files (`read()`), or publish a run scored with "
                "--output-table / predict.output_table",
            )
        return read_run_table(table.resolve(self.known), self.run.run_id, columns)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.run.model,
            "run_id": self.run.run_id,
            "version": self.run.version,
            "rows": self.run.rows,
            "path": str(self.path),
            "files": [str(f) for f in self.files()],
            "revision": self.publication.revision,
            "published": self.publication.ts.isoformat(),
            "published_by": self.publication.actor,
            "kind": self.publication.kind,
            "finished": self.run.finished.isoformat(),
            "table": None if self.table is None else self.table.to_dict(),
        }


def write_manifest(run: BatchRun, publication: BatchPublication) -> Path:
    """``current.json`` beside the run folders, replaced atomically, never by an older
    revision."""
    assert run.output is not None
    folder = Path(run.output).parent
    path = folder / MANIFEST
    try:
        existing = json.loads(path.read_text(encoding="utf-8"))
        if int(existing.get("revision", 0)) > publication.revision:
            return path
    except (OSError, ValueError):
        pass
    body = {
        "model": run.model,
        "run_id": run.run_id,
        "version": run.version,
        "rows": run.rows,
        "path": Path(run.output).name,
        "revision": publication.revision,
        "published": publication.ts.isoformat(),
    }
    tmp = folder / f".{MANIFEST}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


@dataclass(frozen=True)
class _Moved:
    publication: BatchPublication
    lag: OutputTableError | None  # the view could not follow (the next sync repairs it)

    def checked(self) -> BatchPublication:
        if self.lag is not None:
            raise self.lag
        return self.publication


def _move(
    rt: Runtime,
    run: BatchRun,
    *,
    kind: str,
    actor: str,
    reason: str,
    evidence: dict[str, Any] | None,
    crash: str,
    known: list[OutputTable],
) -> _Moved:
    """Make `run` current: its table checked (nothing changes if the view could not
    follow), the store's pointer committed, then the manifest and the view."""
    table = plan(rt.store, rt.model, run, known)
    extra = {} if table is None else {"view": table.view, "table": table.table}
    publication = rt.store.publish_batch(
        rt.model,
        run.run_id,
        kind=kind,
        actor=actor,
        reason=reason,
        evidence={**(evidence or {}), **extra} or None,
    )
    crash_point(crash)  # the next tick or prediction writes the manifest and the view
    write_manifest(run, publication)
    return _Moved(publication, None if table is None else _follow(rt, table, publication, known))


def _follow(
    rt: Runtime, table: RunTable, publication: BatchPublication, known: list[OutputTable]
) -> OutputTableError | None:
    """Re-point the view to the store's pointer; the error when it could not."""
    try:
        sync(rt.store, rt.model, known)
    except OutputTableError as exc:
        return OutputTableError(
            f"revision {publication.revision} ({publication.run_id}) is committed in the ops "
            f"store, but the view {table.view} could not be re-pointed: {exc.what}",
            fix=(exc.fix.rstrip(".") + "; then " if exc.fix else "")
            + "`opsloop agent --once` (or the next batch prediction) re-points it",
        )
    return None


def publish_run(
    rt: Runtime,
    run_id: str,
    *,
    actor: str | None = None,
    reason: str = "",
    output_table: OutputTable | None = None,
) -> BatchPublication:
    """Make `run_id` the model's current batch output (store pointer, then manifest and
    view). `output_table`: a target whose password the configuration does not hold."""
    run = rt.store.get_batch_run(rt.model, run_id)
    return _move(
        rt,
        run,
        kind="published",
        actor=actor or rt.actor,
        reason=reason,
        evidence=None,
        crash="batch.after_publish",
        known=known_targets(rt.config, output_table),
    ).checked()


def rollback_target(store: BatchRepository, model: str) -> tuple[BatchPublication, str]:
    """(current publication, run a rollback returns to): the most recently published run
    that is not current and has not itself been rolled back from (two rollbacks in a row
    walk back through history instead of flip-flopping)."""
    history = store.list_batch_publications(model)
    if not history:
        raise StateError(
            f"{model!r} has no published batch output, so there is nothing to roll back",
            fix="publish a run first (`opsloop predict --publish`)",
        )
    current = history[-1]
    left = {p.previous_run_id for p in history if p.kind == "rolled_back"} | {current.run_id}
    target = next((p.run_id for p in reversed(history) if p.run_id not in left), None)
    if target is None:
        raise StateError(
            f"{model!r} has no earlier batch output to roll back to (current: "
            f"{current.run_id}, published: {[p.run_id for p in history]})",
            fix="publish another run explicitly (`opsloop predict --publish`)",
        )
    return current, target


def rollback_run(rt: Runtime, *, actor: str | None = None, reason: str = "") -> BatchPublication:
    """Re-point the model's current batch output to the previous published run."""
    current, target = rollback_target(rt.store, rt.model)
    return _move(
        rt,
        rt.store.get_batch_run(rt.model, target),
        kind="rolled_back",
        actor=actor or rt.actor,
        reason=reason or f"batch output rolled back from {current.run_id} to {target}",
        evidence={"from_run_id": current.run_id, "to_run_id": target},
        crash="batch.after_rollback",
        known=known_targets(rt.config),
    ).checked()


@dataclass(frozen=True)
class Republished:
    """What a model rollback did to the batch output: the publication that made `version`'s
    output current again, or None and why not (`note`)."""

    version: str
    publication: BatchPublication | None
    note: str
    failed: bool = False  # the pointer could not move (the note says why)
    lag: str | None = None  # the pointer moved, its PostgreSQL view could not follow (why)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "publication": None if self.publication is None else self.publication.to_dict(),
            "note": self.note,
            "failed": self.failed,
            "lag": self.lag,
        }


def republish_version(
    rt: Runtime, version: str, *, actor: str | None = None, reason: str = ""
) -> Republished:
    """Make the output last published for `version` current again (the model was rolled
    back to it): one new revision through the same pointer (`kind` `rolled_back`, event
    `batch_rolled_back` with `cause: model_rollback`) and the manifest. Nothing changes when
    nothing is published, the current output is already `version`'s, or `version` never had
    a published output whose folder is still there (`note` says which)."""
    history = rt.store.list_batch_publications(rt.model)
    if not history:
        return Republished(version, None, "no batch output is published")
    current = history[-1]
    runs: dict[str, BatchRun] = {}
    for p in reversed(history):
        if p.run_id not in runs:
            runs[p.run_id] = rt.store.get_batch_run(rt.model, p.run_id)
    now = runs[current.run_id]
    if now.version == version:
        return Republished(
            version, None, f"the current batch output {now.run_id} is version {version}'s"
        )
    target = next(  # newest first (dicts keep insertion order)
        (
            r
            for r in runs.values()
            if r.version == version and r.output is not None and Path(r.output).is_dir()
        ),
        None,
    )
    if target is None:
        return Republished(
            version,
            None,
            f"version {version} has no published batch output to return to; the current "
            f"one ({now.run_id}, version {now.version}) stays",
        )
    moved = _move(
        rt,
        target,
        kind="rolled_back",
        actor=actor or rt.actor,
        reason=reason
        or f"model rolled back to version {version}: its batch output {target.run_id} "
        f"is current again (was {now.run_id}, version {now.version})",
        evidence={
            "cause": "model_rollback",
            "from_run_id": now.run_id,
            "to_run_id": target.run_id,
            "from_version": now.version,
            "to_version": version,
        },
        crash="batch.after_rollback",
        known=known_targets(rt.config),
    )
    lag = None if moved.lag is None else moved.lag.message
    return Republished(
        version, moved.publication, f"batch output {target.run_id} re-published", lag=lag
    )


def read_current(project: HasStore) -> CurrentBatch:
    """The model's published batch output (`opsloop predict --publish`); NotFoundError when
    nothing is published. `project` is a `Project` (or a `Runtime`)."""
    model = project.config.model
    store = project.store
    publication = store.find_published_batch(model)
    if publication is None:
        raise NotFoundError(
            f"{model!r} has no published batch output",
            fix="run `opsloop predict --publish` (or set predict.publish for the agent)",
        )
    run = store.find_batch_run(model, publication.run_id)
    if run is None:  # publications name recorded runs; a store edited by hand may not
        raise NotFoundError(f"the published batch run {publication.run_id!r} is not recorded")
    return CurrentBatch(publication, run, tuple(known_targets(project.config)))


@dataclass(frozen=True)
class BatchHistoryRow:
    """A run with whether it is the current output and the revisions that published it."""

    run: BatchRun
    current: bool
    revisions: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.run.to_dict(),
            "rows_per_second": self.run.rows_per_second,
            "current": self.current,
            "revisions": list(self.revisions),
        }


def batch_history(store: BatchRepository, model: str, *, limit: int = 20) -> list[BatchHistoryRow]:
    """The newest runs, newest first, with their publications."""
    publications = store.list_batch_publications(model)
    current = publications[-1].run_id if publications else None
    revisions: dict[str, list[int]] = {}
    for p in publications:
        revisions.setdefault(p.run_id, []).append(p.revision)
    return [
        BatchHistoryRow(r, r.run_id == current, tuple(revisions.get(r.run_id, ())))
        for r in store.list_batch_runs(model, limit=limit)
    ]
