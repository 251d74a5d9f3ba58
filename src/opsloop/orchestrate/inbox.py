"""Label files the agent ingests, and the `labels` trigger.

`data.inbox.path` is a glob (relative to the project) of CSV/Parquet label files. Each agent
tick ingests the files it matches, oldest name first, exactly as `opsloop labels add` does,
and moves each to `data.inbox.processed`. Ingestion is idempotent per file content: the
stored label file is named by the content's SHA-256 and the arrival is recorded once per
hash (`data_arrivals`, source `labels`, with its `labels_added` event in the same
transaction), so a crash between storing and recording, or between recording and moving
the file, neither stores nor counts the labels twice. A file that cannot be read or lacks
the id column or the target, or has any invalid row (a label that is not one of the
classes, a missing id, an id repeated with different labels: `orchestrate/labels.py`), is
moved to `data.inbox.rejected` with a `labels_rejected`
event saying why; stored labels are untouched and the agent goes on.

The `labels` trigger (`retrain.on: [labels]`) fires when the labelled rows recorded since
the last training started (inbox files and `opsloop labels add`) reach
`retrain.labels.min_rows`, keyed by the range of arrival ids it covers.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsloop.errors import InvalidInputError
from opsloop.orchestrate.labels import LABELS_SOURCE, content_seq, labels_summary
from opsloop.orchestrate.newdata import last_training_start
from opsloop.runtime import Runtime

if TYPE_CHECKING:
    from opsloop.store.sql import OpsStore

log = logging.getLogger("opsloop.inbox")

_SUFFIXES = (".csv", ".parquet", ".pq")


def inbox_files(rt: Runtime) -> list[Path]:
    """Label files waiting in the inbox, by name; hidden, `.tmp` and moved-away files are
    left out."""
    cfg = rt.config.data.inbox
    assert cfg is not None
    skip = [(rt.root / cfg.processed).resolve(), (rt.root / cfg.rejected).resolve()]
    found = []
    for name in glob.glob(str(rt.root / cfg.path), recursive=True):
        path = Path(name)
        if (
            path.name.startswith(".")
            or path.name.endswith(".tmp")
            or not path.is_file()
            or any(path.resolve().is_relative_to(d) for d in skip)
        ):
            continue
        found.append(path)
    return sorted(found)


def ingest_inbox(rt: Runtime, notes: list[str]) -> list[dict[str, Any]]:
    """Ingest every waiting file; one entry per file (file, status, rows, error)."""
    return [_ingest_one(rt, path, notes) for path in inbox_files(rt)]


def _ingest_one(rt: Runtime, path: Path, notes: list[str]) -> dict[str, Any]:
    from opsloop.engines.labels import read_label_file
    from opsloop.orchestrate.labels import store_labels

    cfg = rt.config.data.inbox
    assert cfg is not None
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:  # vanished or unreadable: try again next tick
        notes.append(f"labels inbox: cannot read {path.name}: {exc.strerror}")
        return {"file": str(path), "status": "unreadable", "rows": 0, "error": exc.strerror}
    try:
        if path.suffix.lower() not in _SUFFIXES:
            raise InvalidInputError(
                f"unsupported label file type {path.suffix or '(none)'!r}",
                expected="a .csv or .parquet file",
                got=path.name,
            )
        added = store_labels(
            read_label_file(path),
            config=rt.config,
            store=rt.store,
            engine=rt.engine,
            labels_root=rt.paths.labels,
            part_name=f"part-inbox-{digest[:32]}.parquet",
        )
    except InvalidInputError as exc:
        return _reject(rt, path, digest, exc.message, notes)
    rows = added.rows
    evidence = {
        "rows": rows,
        "matched": added.matched,
        "waiting": added.waiting,
        "duplicates": added.duplicates,
        "source": str(path),
        "via": "inbox",
        "sha256": digest,
    }
    recorded = rt.store.add_arrival(
        rt.model,
        source=LABELS_SOURCE,
        seq=content_seq(digest),
        ts=rt.store.now(),
        rows=rows,
        payload=evidence,
        event=(
            "labels_added",
            labels_summary(rt.config.task, added, f" from the inbox file {path.name}"),
            evidence,
        ),
    )
    moved = _move(path, rt.root / cfg.processed, digest, notes)
    if recorded:
        notes.append(f"labels inbox: {rows} labels ingested from {path.name}")
        return {
            "file": str(path),
            "status": "ingested",
            "rows": rows,
            "matched": added.matched,
            "waiting": added.waiting,
            "moved_to": moved,
        }
    notes.append(f"labels inbox: {path.name} was ingested before (same content): not counted again")
    _record_once(
        rt,
        "labels_duplicate",
        digest,
        f"inbox file {path.name} has the content of labels ingested before; not counted again",
        {**evidence, "moved_to": moved},
    )
    return {"file": str(path), "status": "duplicate", "rows": 0, "moved_to": moved}


def _reject(rt: Runtime, path: Path, digest: str, error: str, notes: list[str]) -> dict[str, Any]:
    cfg = rt.config.data.inbox
    assert cfg is not None
    moved = _move(path, rt.root / cfg.rejected, digest, notes)
    notes.append(f"labels inbox: rejected {path.name}: {error}")
    log.error("labels inbox: rejected %s: %s", path, error)
    _record_once(
        rt,
        "labels_rejected",
        digest,
        f"label file {path.name} rejected: {error}",
        {
            "source": str(path),
            "sha256": digest,
            "error": error,
            "moved_to": moved,
            "fix": "correct the file and put it in the inbox again",
        },
    )
    return {"file": str(path), "status": "rejected", "rows": 0, "error": error, "moved_to": moved}


def _move(path: Path, folder: Path, digest: str, notes: list[str]) -> str | None:
    """Move `path` into `folder` (never over another file); None if it cannot be moved."""
    target = folder / path.name
    if target.exists():
        target = folder / f"{path.stem}-{digest[:12]}{path.suffix}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)
    except OSError as exc:
        notes.append(f"labels inbox: cannot move {path.name} to {folder}: {exc.strerror}")
        log.error("labels inbox: cannot move %s to %s: %s", path, folder, exc)
        return None
    return str(target)


def _record_once(
    rt: Runtime, kind: str, digest: str, summary: str, evidence: dict[str, Any]
) -> None:
    """An event, unless a recent one of `kind` was about the same file and content (a file
    that cannot be moved away must not add an event on every tick)."""
    recent = rt.store.list_events(rt.model, kinds=[kind], limit=50)
    if any(
        e.evidence.get("sha256") == digest and e.evidence.get("source") == evidence.get("source")
        for e in recent
    ):
        return
    rt.store.add_event(kind, rt.model, summary=summary, evidence=evidence)


def label_rows_since_training(store: OpsStore, model: str) -> tuple[int, list[int]]:
    """Labelled rows recorded since the last training started, and their arrival ids."""
    arrivals = store.list_arrivals(
        model, since=last_training_start(store, model), source=LABELS_SOURCE
    )
    return sum(a.rows for a in arrivals), [a.id for a in arrivals]


def labels_candidate(rt: Runtime, notes: list[str]) -> tuple[str, str, dict[str, Any]] | None:
    """(trigger, key, evidence) when enough labels arrived since the last training."""
    need = rt.config.retrain.labels.min_rows
    rows, ids = label_rows_since_training(rt.store, rt.model)
    if rows < need:
        notes.append(f"labels: {rows} of {need} labelled rows since the last training")
        return None
    return (
        "labels",
        f"arrivals:{min(ids)}-{max(ids)}",
        {
            "rows": rows,
            "min_rows": need,
            "arrivals": len(ids),
            "arrival_ids": [min(ids), max(ids)],
            "since": last_training_start(rt.store, rt.model),
        },
    )
