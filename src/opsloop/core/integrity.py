"""SHA-256 digests of a model's artifact files, recorded at registration and checked before
anything is unpickled (SECURITY.md).

A model artifact is a folder (MLflow's `MLmodel`, `model.pkl`, the environment files, the
input example). Its digest is the SHA-256 of its manifest: one `<path>\\t<sha256>\\n` line
per file, sorted by path, so adding, removing, renaming or changing any file — appending a
byte to `model.pkl` included — changes it. `registered_model_meta` is left out: MLflow's
client writes it into the downloaded copy (the model's name and version), it is not stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from opsloop.errors import ArtifactIntegrityError

DIGEST_TAG = "opsloop.artifact_sha256"  # the model version tag holding the digest
_LOCAL_ONLY = frozenset({"registered_model_meta"})
_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def file_digests(root: Path) -> dict[str, str]:
    """Relative path (POSIX) → SHA-256 of every file under `root`, sorted by path."""
    files = {
        p.relative_to(root).as_posix(): file_sha256(p)
        for p in root.rglob("*")
        if p.is_file() and p.relative_to(root).as_posix() not in _LOCAL_ONLY
    }
    return dict(sorted(files.items()))


def manifest_digest(files: Mapping[str, str]) -> str:
    """The digest of a whole artifact: SHA-256 of its sorted manifest."""
    lines = "".join(f"{path}\t{sha}\n" for path, sha in sorted(files.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


def bytes_digest(data: bytes) -> str:
    """The digest of an artifact held as one blob (the in-memory registry's pickle)."""
    return manifest_digest({"model.pkl": hashlib.sha256(data).hexdigest()})


def expected_digest(what: str, recorded: Mapping[str, str | None]) -> str | None:
    """The one digest the records agree on (`recorded`: where → digest or None), None when
    none recorded one; `ArtifactIntegrityError` when two records disagree (one of them was
    changed after registration)."""
    found = {where: d for where, d in recorded.items() if d}
    if len(set(found.values())) > 1:
        raise ArtifactIntegrityError(
            f"the recorded SHA-256 digests of {what} disagree; it was not loaded",
            expected="the same digest in every record made at registration",
            got=", ".join(f"{where}: {d[:12]}…" for where, d in found.items()),
            fix="find out who changed the registry or the ops store (SECURITY.md); "
            "retrain to register a new version",
        )
    return next(iter(found.values()), None)


def verify(what: str, digest: str, actual: Mapping[str, str]) -> None:
    """Raise `ArtifactIntegrityError` unless the files `actual` (path → SHA-256) hash to
    `digest`."""
    got = manifest_digest(actual)
    if got != digest:
        raise ArtifactIntegrityError(
            f"the model artifact of {what} does not match the SHA-256 recorded at "
            "registration; it was not loaded",
            expected=f"artifact digest {digest[:16]}…",
            got=f"{got[:16]}… over the files {', '.join(actual) or '(none)'}",
            fix="someone or something changed the artifact store: restore the artifact or "
            "retrain; the servers keep serving the version they have (SECURITY.md)",
        )
