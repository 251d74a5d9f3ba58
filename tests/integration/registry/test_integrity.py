"""Verified artifacts: a version's model files are hashed at registration and checked before
anything is unpickled, on the in-memory registry and on MLflow (SQLite, local artifacts)
where the attacker replaces the real `model.pkl` file (SECURITY.md)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from opsloop.artifacts import load_verified
from opsloop.core.integrity import DIGEST_TAG
from opsloop.errors import ArtifactIntegrityError
from opsloop.registry.base import ModelRegistry
from opsloop.store import OpsStore
from registry_fixtures import training_record


class Evil:
    """A pickle that creates `marker` when it is unpickled (an attacker's payload)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


@pytest.fixture(params=["memory", "sqlite"])
def local_registry(request: pytest.FixtureRequest) -> ModelRegistry:
    if request.param == "memory":
        from opsloop.registry.memory import MemoryRegistry

        return MemoryRegistry()
    registry: ModelRegistry = request.getfixturevalue("sqlite_registry")
    return registry


def model_file(registry: ModelRegistry, name: str, version: str) -> Path:
    """The stored `model.pkl` of a version in MLflow's local artifact store."""
    from opsloop.registry.mlflow import MlflowRegistry

    assert isinstance(registry, MlflowRegistry) and registry.artifact_location
    source = registry.get_version(name, version).source
    assert source is not None and source.startswith("models:/m-")
    model_id = source.removeprefix("models:/")
    (found,) = Path(registry.artifact_location).rglob(f"models/{model_id}/artifacts/model.pkl")
    return found


def tamper(registry: ModelRegistry, name: str, version: str, how: str, marker: Path) -> None:
    from opsloop.registry.memory import MemoryRegistry

    if isinstance(registry, MemoryRegistry):
        key = (name, version)
        blob = registry._models[key]
        registry._models[key] = pickle.dumps(Evil(marker)) if how == "replace" else blob + b"\x00"
        return
    path = model_file(registry, name, version)
    if how == "replace":
        path.write_bytes(pickle.dumps(Evil(marker)))
    else:
        with path.open("ab") as f:
            f.write(b"\x00")


def test_registration_records_the_digest_and_load_checks_it(
    local_registry: ModelRegistry, name: str
) -> None:
    mv = local_registry.register(training_record(name))
    digest = mv.tags[DIGEST_TAG]
    assert len(digest) == 64 and int(digest, 16) >= 0
    loaded = local_registry.load(name, mv.version, digest=digest)
    assert loaded.artifact_digest == digest
    assert local_registry.load(name, mv.version).artifact_digest == digest  # the tag alone
    # the input example stored with the version comes back for the promotion smoke test
    example = loaded.input_example
    assert example is not None and list(example.columns) == ["x1", "x2"] and len(example) == 5
    prediction, _ = loaded.predict_frame(example)
    assert len(prediction) == 5


@pytest.mark.parametrize("how", ["replace", "append"])
def test_a_changed_artifact_is_refused_before_unpickling(
    local_registry: ModelRegistry, name: str, tmp_path: Path, how: str
) -> None:
    store = OpsStore("sqlite://")
    mv = local_registry.register(training_record(name))
    store.add_event(
        "registered",
        name,
        version=mv.version,
        evidence={"run_id": "r1", "artifact_sha256": mv.tags[DIGEST_TAG]},
    )
    marker = tmp_path / "pwned"
    tamper(local_registry, name, mv.version, how, marker)
    with pytest.raises(ArtifactIntegrityError, match="does not match the SHA-256"):
        load_verified(local_registry, store, name, mv.version)
    assert not marker.exists()
    (event,) = store.list_events(name, kinds=["artifact_rejected"])
    assert event.version == mv.version and event.evidence["where"] == "the model registry"


def test_a_changed_tag_disagrees_with_the_ops_store(
    local_registry: ModelRegistry, name: str, tmp_path: Path
) -> None:
    """An attacker who can also rewrite the registry's tag to their file's digest is still
    refused: the ops store keeps its own copy of the digest."""
    store = OpsStore("sqlite://")
    mv = local_registry.register(training_record(name))
    store.add_event(
        "registered", name, version=mv.version, evidence={"artifact_sha256": mv.tags[DIGEST_TAG]}
    )
    local_registry.set_tag(name, mv.version, DIGEST_TAG, "0" * 64)
    with pytest.raises(ArtifactIntegrityError, match="disagree"):
        load_verified(local_registry, store, name, mv.version)
    assert len(store.list_events(name, kinds=["artifact_rejected"])) == 1


def test_a_version_registered_without_a_digest_loads_with_a_warning(
    sqlite_registry: ModelRegistry, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    from opsloop.registry.mlflow import MlflowRegistry

    assert isinstance(sqlite_registry, MlflowRegistry)
    mv = sqlite_registry.register(training_record(name))
    sqlite_registry.client.delete_model_version_tag(name, mv.version, DIGEST_TAG)  # as before
    with caplog.at_level("WARNING", logger="opsloop.registry"):
        loaded = sqlite_registry.load(name, mv.version)
    assert loaded.artifact_digest is None
    assert "no recorded artifact digest" in caplog.text


def test_a_server_keeps_serving_the_old_version_when_the_new_artifact_was_replaced(
    local_registry: ModelRegistry, name: str, tmp_path: Path
) -> None:
    """The whole server path (its model cache, then the registry): promoting a version
    whose `model.pkl` was replaced by a crafted pickle runs none of it, and the replica
    keeps answering with the version it had."""
    from opsloop.artifacts import Registration
    from opsloop.modelcache import ModelCache
    from opsloop.serve.state import ModelHolder

    store = OpsStore("sqlite://")
    for _ in range(2):
        mv = local_registry.register(training_record(name))
        store.add_event(
            "registered",
            name,
            version=mv.version,
            evidence={"run_id": mv.run_id, "artifact_sha256": mv.tags[DIGEST_TAG]},
        )

    def load(version: str, reg: Registration) -> object:
        return load_verified(local_registry, store, name, version, registration=reg)

    cache = ModelCache(tmp_path / "cache" / "models", name, store, load)  # type: ignore[arg-type]
    holder = ModelHolder(name, store, cache.load)
    store.record_deployment(name, "1", reason="first")
    assert holder.refresh() and holder.current is not None and holder.current.version == "1"
    marker = tmp_path / "pwned"
    tamper(local_registry, name, "2", "replace", marker)
    store.record_deployment(name, "2", reason="the attacker's version")
    assert not holder.refresh()
    assert holder.current is not None and holder.current.version == "1"
    assert not marker.exists()
    assert holder.last_error is not None and "ArtifactIntegrityError" in holder.last_error
    (event,) = store.list_events(name, kinds=["artifact_rejected"])
    assert event.version == "2"
