"""Loading a model version only after its artifact is verified (SECURITY.md).

The ops store's `registered` event records, for each version, the MLflow run that made it
and the SHA-256 of its model artifact (`core/integrity.py`); the registry's version tag
holds the same digest. `load_verified` hands the ops store's digest to the registry, which
checks the downloaded files against it and its tag before unpickling. A mismatch raises
`ArtifactIntegrityError` and writes an `artifact_rejected` event; the caller (a server's
reloader, the gate) keeps what it had. The server's local cache of loaded versions
(`modelcache.py`) reports its own mismatches through `reject`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opsloop.errors import ArtifactIntegrityError
from opsloop.registry.base import PATH_TAG, REASON_TAG, InferenceVerdict

if TYPE_CHECKING:
    from opsloop.registry.base import LoadedModel, ModelRegistry
    from opsloop.store.ports import EventLog

REJECTED = "artifact_rejected"


@dataclass(frozen=True)
class Registration:
    """What the ops store recorded when a version was registered: its MLflow run, the
    digest of its model artifact (None for versions registered before digests existed) and
    the verdict on its compiled inference path (None: registered before the check)."""

    run_id: str | None = None
    digest: str | None = None
    inference: InferenceVerdict | None = None


def find_registration(events: EventLog, model: str, version: str) -> Registration:
    """The newest `registered` event of `version` (an empty `Registration` without one)."""
    found = Registration()
    for event in events.list_events(model, kinds=["registered"], limit=10_000):
        if event.version != version:
            continue
        run, digest = event.evidence.get("run_id"), event.evidence.get("artifact_sha256")
        found = Registration(
            run if isinstance(run, str) and run.isalnum() else None,
            digest if isinstance(digest, str) else None,
            inference_verdict(event.evidence),
        )  # the newest wins
    return found


def inference_verdict(evidence: Mapping[str, Any]) -> InferenceVerdict | None:
    """The compiled-path verdict of a `registered` event (its `inference`, else its tags)."""
    found = evidence.get("inference")
    if isinstance(found, Mapping) and found.get("path") in ("compiled", "plain"):
        return InferenceVerdict(str(found["path"]), str(found.get("reason") or ""))
    tags = evidence.get("tags")
    if isinstance(tags, Mapping) and tags.get(PATH_TAG) in ("compiled", "plain"):
        return InferenceVerdict(str(tags[PATH_TAG]), str(tags.get(REASON_TAG) or ""))
    return None


def reject(
    events: EventLog, model: str, version: str, exc: ArtifactIntegrityError, *, where: str
) -> None:
    """Record that `version`'s artifact (`where`: the registry, or a server's cache) was
    refused before unpickling."""
    events.add_event(
        REJECTED,
        model,
        version=version,
        summary=f"refused to load version {version}: its artifact in {where} does not match "
        "the SHA-256 recorded at registration",
        evidence={"where": where, "error": exc.message, "expected": exc.expected, "got": exc.got},
    )


def load_verified(
    registry: ModelRegistry,
    events: EventLog,
    model: str,
    version: str,
    *,
    registration: Registration | None = None,
) -> LoadedModel:
    """`registry.load` checked against the ops store's digest; an `artifact_rejected`
    event and `ArtifactIntegrityError` on a mismatch."""
    reg = registration or find_registration(events, model, version)
    try:
        loaded = registry.load(model, version, digest=reg.digest)
    except ArtifactIntegrityError as exc:
        reject(events, model, version, exc, where="the model registry")
        raise
    loaded.registered_inference = reg.inference
    return loaded
