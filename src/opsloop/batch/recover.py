"""Finishing batch runs a killed process left half done (docs/reliability.md, "Crash
harness"): the ops store says what happened, the files follow it.

- A run recorded as succeeded whose output folder or log files are still under their hidden
  names (the process died between the record — the commit point — and the renames): the
  renames recorded with the run are applied.
- A publication committed whose ``current.json`` was not rewritten (the process died
  between the two): the manifest is rewritten from the store's current publication.

Run by every agent tick and at the start of every batch prediction; both are idempotent and
cost a few `stat` calls when there is nothing to do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from opsloop.batch.sinks import Rename, apply_renames

if TYPE_CHECKING:
    from opsloop.runtime import Runtime

RECENT = 20  # runs checked: a run is finished by the first tick or prediction after it


@dataclass
class Finished:
    """What `finish_recorded` completed: run ids whose files it renamed into place, and the
    publication revision whose manifest it rewrote."""

    runs: list[str] = field(default_factory=list)
    manifest_revision: int | None = None

    def notes(self) -> list[str]:
        out = [f"batch run {r}: recorded, its files renamed into place now" for r in self.runs]
        if self.manifest_revision is not None:
            out.append(f"batch output manifest rewritten for revision {self.manifest_revision}")
        return out


def finish_recorded(rt: Runtime) -> Finished:
    """Apply what recorded batch runs and publications left undone (module docstring)."""
    from opsloop.batch.publish import MANIFEST, write_manifest

    finished = Finished()
    for run in rt.store.list_batch_runs(rt.model, limit=RECENT):
        raw = run.details.get("renames") if run.status == "succeeded" else None
        if isinstance(raw, list):
            renames: list[Rename] = [(str(a), str(b)) for a, b in raw]
            if apply_renames(renames):
                finished.runs.append(run.run_id)
    publication = rt.store.find_published_batch(rt.model)
    if publication is None:
        return finished
    current = rt.store.find_batch_run(rt.model, publication.run_id)
    if current is None or current.output is None:
        return finished
    try:
        manifest = json.loads((Path(current.output).parent / MANIFEST).read_text(encoding="utf-8"))
        revision = int(manifest.get("revision", 0))
    except (OSError, ValueError, AttributeError):
        revision = 0
    if revision < publication.revision:
        write_manifest(current, publication)
        finished.manifest_revision = publication.revision
    return finished
