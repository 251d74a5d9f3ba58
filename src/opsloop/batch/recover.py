"""Finishing batch runs a killed process left half done (docs/reliability.md, "Crash
harness"): the ops store says what happened, the files follow it.

- A run recorded as succeeded whose output folder or log files are still under their hidden
  names (the process died between the record — the commit point — and the renames): the
  renames recorded with the run are applied.
- A run recorded with ``publish`` (`opsloop predict --publish`, the agent's scheduled run)
  and never published (the process died between its record and its publication): it is
  published now — unless a publication has been made since it was recorded (a later
  `batch publish` or `batch rollback` is a later decision, and wins) or it was recorded
  less than `PUBLISH_GRACE` ago (its own process may be publishing it this moment).
- A publication committed whose ``current.json`` was not rewritten (the process died
  between the two): the manifest is rewritten from the store's current publication.
- A publication committed whose PostgreSQL view (`predict.output_table`) was not
  re-pointed (the process died, or the server was down): the view is re-pointed to the
  store's current publication (`pgview.sync`; a server still down is a note).
- A run's PostgreSQL table committed, the run never recorded (killed between the two) or
  recorded as failed (its table could not be dropped then): no view shows it; it is
  dropped (the unrecorded ones once `ORPHAN_AGE` old, so that a run between its two
  commits in another process keeps its table).
- Hidden temporary files of a run killed before its record (``<output>/.run=<id>.tmp/``,
  ``.part-….parquet.tmp`` in the prediction log): no reader lists them, no recorded run
  owns them; they are removed once unchanged for `STALE_AGE` (a live run refreshes its
  files' times every `sinks.HEARTBEAT`, so a run still scoring keeps them), with a log
  line. The output folders looked at: the recorded runs', the configured
  `predict.output` and the one a prediction is about to write; the prediction log's
  partitions of the last `STALE_DAYS` days.

Run by every agent tick and at the start of every batch prediction; all are idempotent and
cost a few `stat` calls (and one query of the view's comment) when there is nothing to do.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from opsloop.batch.pgview import ViewSync, known_targets, sync
from opsloop.batch.sinks import Rename, apply_renames
from opsloop.errors import OpsloopError, OutputTableError, StateError

if TYPE_CHECKING:
    from opsloop.config.batch import OutputTable
    from opsloop.runtime import Runtime

RECENT = 20  # runs checked: a run is finished by the first tick or prediction after it
ORPHAN_AGE = timedelta(hours=1)  # an unrecorded run table older than this was left behind
STALE_AGE = timedelta(hours=1)  # hidden files unchanged this long belong to a dead run
STALE_DAYS = 30  # prediction-log partitions looked at for them
# a run recorded this recently may still be published by its own process (publishing
# follows the record within milliseconds; a kill leaves it unpublished for good)
PUBLISH_GRACE = timedelta(seconds=30)

log = logging.getLogger("opsloop.batch")


@dataclass
class Finished:
    """What `finish_recorded` completed: run ids whose files it renamed into place, the
    publication revision whose manifest it rewrote, the view it re-pointed (or why not)."""

    runs: list[str] = field(default_factory=list)
    published: str | None = None  # the run whose interrupted publication was completed
    publish_error: str | None = None  # why completing it failed (retried by the next tick)
    manifest_revision: int | None = None
    view: ViewSync | None = None
    view_error: str | None = None
    dropped: list[str] = field(default_factory=list)  # run ids whose left-over table went
    removed: list[str] = field(default_factory=list)  # stale hidden files and folders

    def notes(self) -> list[str]:
        out = [f"batch run {r}: recorded, its files renamed into place now" for r in self.runs]
        if self.published is not None:
            out.append(
                f"batch run {self.published}: recorded with --publish and killed before "
                "its publication; published now"
            )
        if self.publish_error is not None:
            out.append(f"batch: an interrupted publication not completed: {self.publish_error}")
        if self.manifest_revision is not None:
            out.append(f"batch output manifest rewritten for revision {self.manifest_revision}")
        if self.view is not None and self.view.moved:
            out.append(
                f"batch output view {self.view.view} re-pointed to run {self.view.run_id} "
                f"(revision {self.view.revision})"
            )
        if self.view_error is not None:
            out.append(f"batch output view not checked: {self.view_error}")
        out += [f"batch run {r}: its left-over table dropped" for r in self.dropped]
        if self.removed:
            out.append(_removed_line(self.removed))
        return out


def _removed_line(paths: list[str]) -> str:
    shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    return (
        f"batch: removed {len(paths)} hidden temporary file(s) of runs killed before their "
        f"record (unchanged for over {STALE_AGE}): {shown}"
    )


def finish_recorded(
    rt: Runtime, output_table: OutputTable | None = None, output: Path | None = None
) -> Finished:
    """Apply what recorded batch runs and publications left undone (module docstring).
    `output_table`: a target whose password the configuration does not hold; `output`: an
    output folder about to be written (also cleared of stale hidden files)."""
    finished = Finished()
    _finish_files(rt, finished)
    try:
        finished.published = _finish_publish(rt, output_table)
    except OpsloopError as exc:  # e.g. its output table unreachable: the next tick retries
        finished.publish_error = exc.message
    finished.removed = remove_stale_hidden(rt, output)
    if finished.removed:
        log.warning("%s", _removed_line(finished.removed))
    known = known_targets(rt.config, output_table)
    try:
        finished.view = sync(rt.store, rt.model, known)
        for target in {t.shown: t for t in known}.values():
            finished.dropped += _drop_left_over(rt, target)
    except OutputTableError as exc:
        finished.view_error = exc.message
    return finished


def _drop_left_over(rt: Runtime, target: OutputTable) -> list[str]:
    """Drop the run tables of `target` that no recorded run owns (module docstring)."""
    from opsloop.batch.pgtable import drop_run_table, list_run_tables

    dropped: list[str] = []
    for comment in list_run_tables(target, rt.model):
        run = rt.store.find_batch_run(rt.model, comment.run_id)
        try:
            old = datetime.fromisoformat(comment.written) < rt.now() - ORPHAN_AGE
        except ValueError:
            old = False
        if (run is None and old) or (run is not None and run.status == "failed"):
            drop_run_table(target, comment.run_id)
            dropped.append(comment.run_id)
    return dropped


def _finish_publish(rt: Runtime, output_table: OutputTable | None) -> str | None:
    """Publish the newest run recorded with the intent to be published that never was
    (module docstring); its run id, or None when there is nothing to finish."""
    from opsloop.batch.publish import publish_run

    runs = [
        r
        for r in rt.store.list_batch_runs(rt.model, limit=RECENT)
        if r.status == "succeeded" and r.output is not None and r.details.get("publish") is True
    ]
    if not runs:
        return None
    newest = max(runs, key=lambda r: r.finished)
    if newest.finished > rt.now() - PUBLISH_GRACE:
        return None
    history = rt.store.list_batch_publications(rt.model)
    if any(p.run_id == newest.run_id or p.ts >= newest.finished for p in history):
        return None  # published, or a later publication (a rollback, say) decided since
    try:
        publish_run(
            rt,
            newest.run_id,
            actor="opsloop (recovery)",
            reason=(
                f"batch output {newest.run_id} (version {newest.version}) published by "
                "recovery: it was recorded with --publish and its process was killed "
                "before the publication"
            ),
            output_table=output_table,
        )
    except StateError:  # another process published at the same moment: it decided
        return None
    return newest.run_id


def _finish_files(rt: Runtime, finished: Finished) -> None:
    from opsloop.batch.publish import MANIFEST, write_manifest

    for run in rt.store.list_batch_runs(rt.model, limit=RECENT):
        raw = run.details.get("renames") if run.status == "succeeded" else None
        if isinstance(raw, list):
            renames: list[Rename] = [(str(a), str(b)) for a, b in raw]
            if apply_renames(renames):
                finished.runs.append(run.run_id)
    publication = rt.store.find_published_batch(rt.model)
    if publication is None:
        return
    current = rt.store.find_batch_run(rt.model, publication.run_id)
    if current is None or current.output is None:
        return
    try:
        manifest = json.loads((Path(current.output).parent / MANIFEST).read_text(encoding="utf-8"))
        revision = int(manifest.get("revision", 0))
    except (OSError, ValueError, AttributeError):
        revision = 0
    if revision < publication.revision:
        write_manifest(current, publication)
        finished.manifest_revision = publication.revision


def remove_stale_hidden(rt: Runtime, output: Path | None = None) -> list[str]:
    """Remove the hidden temporaries no recorded run owns, unchanged for `STALE_AGE`
    (module docstring); the paths removed."""
    runs = rt.store.list_batch_runs(rt.model, limit=RECENT)
    owned = {  # a recorded run's renames not applied (one that failed): not ours to remove
        str(hidden)
        for run in runs
        if isinstance(raw := run.details.get("renames"), list)
        for hidden, _ in raw
    }
    folders = {Path(r.output).parent for r in runs if r.output}
    if rt.config.predict is not None:
        folders.add((rt.root / rt.config.predict.output).expanduser().resolve())
    if output is not None:
        folders.add(Path(output))
    candidates = [h for folder in folders for h in _glob(folder, ".run=*.tmp")]
    candidates += _hidden_log_files(rt)
    cutoff = (rt.now() - STALE_AGE).timestamp()
    removed: list[str] = []
    for path in sorted(candidates):
        if str(path) in owned or _newest_mtime(path) >= cutoff:
            continue
        try:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        except FileNotFoundError:  # another recovery was first
            continue
        removed.append(str(path))
    return removed


def _hidden_log_files(rt: Runtime) -> list[Path]:
    from opsloop.runtime import resolve_stack

    log_root = resolve_stack(rt.config, rt.paths).prediction_log  # the server's, too
    if log_root is None:
        return []
    root = Path(log_root) / f"model={rt.model}"
    oldest = f"date={(rt.now() - timedelta(days=STALE_DAYS)):%Y-%m-%d}"
    days = [d for d in _glob(root, "date=*") if d.name >= oldest]
    return [f for d in days for h in _glob(d, "hour=*") for f in _glob(h, ".part-*.parquet.tmp")]


def _glob(folder: Path, pattern: str) -> list[Path]:
    try:
        return list(folder.glob(pattern))
    except OSError:  # a folder gone or unreadable: nothing of ours there
        return []


def _newest_mtime(path: Path) -> float:
    """The newest modification time of `path` and, for a folder, of its files (a live run
    writes its current file)."""
    try:
        times = [path.stat().st_mtime]
        if path.is_dir():
            with os.scandir(path) as entries:
                times += [e.stat().st_mtime for e in entries]
    except FileNotFoundError:
        return float("inf")  # gone: nothing to remove
    return max(times)
