"""A server's local copy of the versions it has loaded, so that a restart needs no MLflow.

Loading a version through MLflow costs an `import mlflow` (~1–2 s here), a registry lookup,
an artifact copy and the unpickling; `opsloop serve` on the churn example took 4–7 s to
answer ready, most of it that. The ops store already names what to serve (the deployment)
and which MLflow run made each version (the `registered` event's `run_id`), so a version
once loaded is kept as one pickle of the `LoadedModel` under
`.opsloop/cache/models/<model>/<version>-<run id>/`, and the next start unpickles that
directly. The run id in the name makes the key unique: a registry re-created from scratch
numbers its versions from 1 again, but with new runs.

Nothing is assumed: a version with no `registered` event (registered outside opsloop) or
with no cache entry is loaded through the registry (and then cached); an entry that does not
unpickle is reported, removed and loaded through the registry. Entries are written to a
temporary name and renamed, so a concurrent worker never reads half a file. The cache is
as trusted as the artifact store it copies (pickle: keep both under your control).
"""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from opsloop.registry.base import LoadedModel

if TYPE_CHECKING:
    from opsloop.store.ports import EventLog

log = logging.getLogger("opsloop.serve")

_FILE = "model.pkl"


@dataclass
class CacheOutcome:
    """How the last version was loaded: `hit` from the cache, else through the registry
    (`reason` says why the cache was not used)."""

    version: str
    hit: bool
    reason: str = ""


class ModelCache:
    """`load(version)`: the cached copy when there is one, else `load_version` (cached)."""

    def __init__(
        self,
        root: Path,
        model_name: str,
        events: EventLog,
        load_version: Callable[[str], LoadedModel],
    ) -> None:
        self.root = root
        self.model_name = model_name
        self.events = events
        self.load_version = load_version
        self.last: CacheOutcome | None = None

    def run_id(self, version: str) -> str | None:
        """The MLflow run that registered `version`, from its `registered` event."""
        found = None
        for event in self.events.list_events(self.model_name, kinds=["registered"]):
            run = event.evidence.get("run_id")
            if event.version == version and isinstance(run, str) and run.isalnum():
                found = run  # the newest wins
        return found

    def path(self, version: str, run_id: str) -> Path:
        return self.root / self.model_name / f"{version}-{run_id}" / _FILE

    def load(self, version: str) -> LoadedModel:
        run_id = self.run_id(version)
        if run_id is None:
            self.last = CacheOutcome(version, False, "no `registered` event names its run")
            return self.load_version(version)
        path = self.path(version, run_id)
        if path.is_file():
            try:
                model = _read(path)
                if model.name == self.model_name and model.version == version:
                    self.last = CacheOutcome(version, True)
                    return model
                reason = f"the entry holds {model.name!r} version {model.version}"
            except Exception as exc:  # an unreadable entry must never stop a load
                reason = f"the entry does not load: {type(exc).__name__}: {exc}"
            log.warning("model cache %s: %s; loading from the registry", path, reason)
            shutil.rmtree(path.parent, ignore_errors=True)
        else:
            reason = "not cached yet"
        model = self.load_version(version)
        self.last = CacheOutcome(version, False, reason)
        try:
            _write(path, model)
        except Exception as exc:  # a full disk costs the next start time, nothing else
            log.warning("could not cache version %s in %s: %s", version, path, exc)
        return model


def _read(path: Path) -> LoadedModel:
    with path.open("rb") as f:
        model = pickle.load(f)  # our own copy of the registry's pickle
    if not isinstance(model, LoadedModel):
        raise TypeError(f"expected a LoadedModel, got {type(model).__name__}")
    return model


def _write(path: Path, model: LoadedModel) -> None:
    import cloudpickle

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".model-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            cloudpickle.dump(_plain(model), f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _plain(model: LoadedModel) -> LoadedModel:
    """The model without what the server attached to it (its probed predictor)."""
    return LoadedModel(
        model.name,
        model.version,
        model.estimator,
        model.features,
        model.task,
        dict(model.artifacts),
    )
