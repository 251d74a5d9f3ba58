"""A local copy of the versions a server or a batch prediction has loaded, so that the next
start needs no MLflow.

Loading a version through MLflow costs an `import mlflow` (~1–2 s here), a registry lookup,
an artifact copy and the unpickling; `opsloop serve` on the churn example took 4–7 s to
answer ready, most of it that. The ops store already names what to serve (the deployment)
and which MLflow run made each version (the `registered` event's `run_id`), so a version
once loaded is kept as one pickle of the `LoadedModel` under
`.opsloop/cache/models/<model>/<version>-<run id>/`, and the next start unpickles that
directly. The run id in the name makes the key unique: a registry re-created from scratch
numbers its versions from 1 again, but with new runs.

Nothing is unpickled unverified. An entry is one file: a header line with the HMAC-SHA256
of the model, version, run id and pickle bytes, keyed by a random secret made once in
`.opsloop/cache.key` (mode 0600), then the pickle. The file is read whole, its HMAC checked,
and only then those same bytes unpickled. An entry whose HMAC does not match is removed,
recorded as an `artifact_rejected` event and the version loaded through the registry
(which checks the artifact's own SHA-256: opsloop.artifacts). An entry without a header
(written before entries were signed) or that does not unpickle is reported, removed and
loaded through the registry; so is a version with no `registered` event (registered
outside opsloop) or no entry. Entries are written to a temporary name and renamed, so a
concurrent worker never reads half a file. The key protects the cache from whoever can
write the cache folder but not read the key; anyone who can read `.opsloop/cache.key` can
forge entries (SECURITY.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import pickle
import secrets
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from opsloop.artifacts import Registration, find_registration, reject
from opsloop.errors import ArtifactIntegrityError
from opsloop.registry.base import LoadedModel

if TYPE_CHECKING:
    from opsloop.runtime import Runtime
    from opsloop.store.ports import EventLog

log = logging.getLogger("opsloop.serve")

_FILE = "model.pkl"
_MAGIC = b"opsloop-model-cache-v1 "


@dataclass
class CacheOutcome:
    """How the last version was loaded: `hit` from the cache, else through the registry
    (`reason` says why the cache was not used)."""

    version: str
    hit: bool
    reason: str = ""


class ModelCache:
    """`load(version)`: the verified cached copy when there is one, else `load_version`
    (given the version's `Registration`; then cached)."""

    def __init__(
        self,
        root: Path,
        model_name: str,
        events: EventLog,
        load_version: Callable[[str, Registration], LoadedModel],
        *,
        key_file: Path | None = None,
    ) -> None:
        self.root = root
        self.model_name = model_name
        self.events = events
        self.load_version = load_version
        self.key_file = key_file or root.parent.parent / "cache.key"
        self.last: CacheOutcome | None = None

    def run_id(self, version: str) -> str | None:
        """The MLflow run that registered `version`, from its `registered` event."""
        return find_registration(self.events, self.model_name, version).run_id

    def path(self, version: str, run_id: str) -> Path:
        return self.root / self.model_name / f"{version}-{run_id}" / _FILE

    def load(self, version: str) -> LoadedModel:
        """The version, with its registration's verdict on the compiled path attached (from
        the ops store on every load: a cached entry never carries a stale one)."""
        reg = find_registration(self.events, self.model_name, version)
        model = self._load(version, reg)
        model.registered_inference = reg.inference
        return model

    def _load(self, version: str, reg: Registration) -> LoadedModel:
        if reg.run_id is None:
            self.last = CacheOutcome(version, False, "no `registered` event names its run")
            return self.load_version(version, reg)
        path = self.path(version, reg.run_id)
        if path.is_file():
            try:
                model = self._read(path, version, reg.run_id)
                if model.name == self.model_name and model.version == version:
                    self.last = CacheOutcome(version, True)
                    return model
                reason = f"the entry holds {model.name!r} version {model.version}"
            except ArtifactIntegrityError as exc:
                reason = exc.message
                reject(self.events, self.model_name, version, exc, where=f"the cache {path}")
            except Exception as exc:  # an unreadable entry must never stop a load
                reason = f"the entry does not load: {type(exc).__name__}: {exc}"
            log.warning("model cache %s: %s; loading from the registry", path, reason)
            shutil.rmtree(path.parent, ignore_errors=True)
        else:
            reason = "not cached yet"
        model = self.load_version(version, reg)
        self.last = CacheOutcome(version, False, reason)
        try:
            self._write(path, model, version, reg.run_id)
        except Exception as exc:  # a full disk costs the next start time, nothing else
            log.warning("could not cache version %s in %s: %s", version, path, exc)
        return model

    def _mac(self, version: str, run_id: str, data: bytes, *, create: bool) -> bytes:
        key = _key(self.key_file, create=create)
        head = f"{self.model_name}\0{version}\0{run_id}\0".encode()
        return hmac.new(key, head + data, hashlib.sha256).hexdigest().encode()

    def _read(self, path: Path, version: str, run_id: str) -> LoadedModel:
        raw = path.read_bytes()
        if not raw.startswith(_MAGIC):
            raise ValueError("an unsigned entry (written before entries were signed)")
        header, _, data = raw.partition(b"\n")
        mac = header[len(_MAGIC) :]
        if not self.key_file.is_file() or not hmac.compare_digest(
            mac, self._mac(version, run_id, data, create=False)
        ):
            raise ArtifactIntegrityError(
                f"the cached copy of version {version} of {self.model_name!r} does not match "
                "its HMAC; it was not loaded",
                expected=f"an entry signed with the key in {self.key_file}",
                got=f"{len(data)} bytes whose HMAC differs (changed after it was cached)",
                fix="nothing to do: the version is loaded from the registry instead; find out "
                "who can write the cache folder (SECURITY.md)",
            )
        model = pickle.loads(data)  # verified: our own copy of the registry's checked pickle
        if not isinstance(model, LoadedModel):
            raise TypeError(f"expected a LoadedModel, got {type(model).__name__}")
        return model

    def _write(self, path: Path, model: LoadedModel, version: str, run_id: str) -> None:
        import cloudpickle

        data = cloudpickle.dumps(_plain(model))
        mac = self._mac(version, run_id, data, create=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".model-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_MAGIC + mac + b"\n")
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def project_cache(rt: Runtime) -> ModelCache:
    """The project's cache (`.opsloop/cache/models`, key `.opsloop/cache.key`); a miss is
    loaded through the registry (MLflow opened then), its artifact checked against the ops
    store's digest."""
    from opsloop.artifacts import load_verified

    name = rt.model
    return ModelCache(
        rt.paths.home / "cache" / "models",
        name,
        rt.store,
        lambda version, reg: load_verified(rt.registry, rt.store, name, version, registration=reg),
        key_file=rt.paths.home / "cache.key",
    )


def _key(key_file: Path, *, create: bool) -> bytes:
    """The cache's secret; made once (atomically: concurrent workers agree on one) when
    `create`."""
    if key_file.is_file() or not create:
        return key_file.read_bytes()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=key_file.parent, prefix=".cache-key-")
    try:
        os.write(fd, secrets.token_hex(32).encode())
        os.close(fd)
        os.chmod(tmp, 0o600)
        with contextlib.suppress(FileExistsError):  # another worker made it first: use theirs
            os.link(tmp, key_file)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return key_file.read_bytes()


def _plain(model: LoadedModel) -> LoadedModel:
    """The model without what the server attached to it (its probed predictor)."""
    return LoadedModel(
        model.name,
        model.version,
        model.estimator,
        model.features,
        model.task,
        dict(model.artifacts),
        model.artifact_digest,
    )
