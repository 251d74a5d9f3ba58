"""An in-memory registry with MLflow's semantics (versions, aliases, tags) for fast tests.

tests/integration/registry/test_conformance.py holds it to real MLflow (SQLite and a server)."""

from __future__ import annotations

import hashlib
import pickle
import re
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from opsloop.core.integrity import DIGEST_TAG, bytes_digest, expected_digest, verify
from opsloop.data.features import features_to_json
from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.registry.base import LoadedModel, ModelVersion, TrainingRecord

_RESERVED_ALIAS = re.compile(r"latest|[vV]\d+", re.IGNORECASE)


class MemoryRegistry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._versions: dict[str, list[ModelVersion]] = {}
        self._models: dict[tuple[str, str], bytes] = {}
        self._artifacts: dict[tuple[str, str], dict[str, str]] = {}
        self._records: dict[tuple[str, str], TrainingRecord] = {}
        self._aliases: dict[str, dict[str, str]] = {}

    def register(self, record: TrainingRecord) -> ModelVersion:
        with self._lock:
            versions = self._versions.setdefault(record.model_name, [])
            version = str(len(versions) + 1)
            blob = pickle.dumps(record.estimator)  # a real copy, like MLflow
            mv = ModelVersion(
                name=record.model_name,
                version=version,
                created=datetime.now(UTC),
                run_id=f"memory-run-{record.model_name}-{version}",
                source=None,
                tags={
                    **record.tags,
                    "opsloop.task": record.task,
                    DIGEST_TAG: bytes_digest(blob),
                },
            )
            versions.append(mv)
            key = (record.model_name, version)
            self._models[key] = blob
            self._artifacts[key] = {
                **record.artifacts,
                "features.json": features_to_json(record.features),
            }
            self._records[key] = record
            return mv

    def get_version(self, name: str, version: str) -> ModelVersion:
        for mv in self._versions.get(name, []):
            if mv.version == str(version):
                names = self._aliases.get(name, {})
                aliases = tuple(sorted(a for a, v in names.items() if v == mv.version))
                return replace(mv, aliases=aliases)
        raise NotFoundError(
            f"model {name!r} has no version {version!r}",
            expected=f"one of {[m.version for m in self._versions.get(name, [])]}",
            fix="run `opsloop status` to see the registered versions",
        )

    def list_versions(self, name: str) -> Sequence[ModelVersion]:
        return [self.get_version(name, mv.version) for mv in self._versions.get(name, [])]

    def find_alias(self, name: str, alias: str) -> ModelVersion | None:
        version = self._aliases.get(name, {}).get(alias)
        return None if version is None else self.get_version(name, version)

    def find_alias_version(self, name: str, alias: str) -> str | None:
        return self._aliases.get(name, {}).get(alias)

    def set_alias(self, name: str, alias: str, version: str) -> None:
        if _RESERVED_ALIAS.fullmatch(alias):  # as MLflow: INVALID_PARAMETER_VALUE
            raise InvalidInputError(
                f"alias {alias!r} is reserved by MLflow",
                expected="an alias other than 'latest' or 'v<number>'",
            )
        self.get_version(name, version)
        self._aliases.setdefault(name, {})[alias] = str(version)

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove `alias` (nothing to do if it is not set); NotFoundError for an unknown model."""
        if name not in self._versions:
            raise NotFoundError(f"there is no registered model {name!r}")
        self._aliases.get(name, {}).pop(alias, None)

    def set_tag(self, name: str, version: str, key: str, value: str) -> None:
        mv = self.get_version(name, version)
        versions = self._versions[name]
        versions[versions.index(replace(mv, aliases=()))] = replace(
            mv, aliases=(), tags={**mv.tags, key: value}
        )

    def load(self, name: str, version: str, *, digest: str | None = None) -> LoadedModel:
        """As MLflow's: the blob is checked against `digest` and the version's tag before
        it is unpickled (tests replace `_models[key]` to play an attacker)."""
        mv = self.get_version(name, version)
        what = f"version {mv.version} of {name!r}"
        key = (name, str(version))
        record = self._records[key]
        blob = self._models[key]
        expected = expected_digest(
            what, {"the ops store": digest, "the tag": mv.tags.get(DIGEST_TAG)}
        )
        if expected is not None:
            verify(what, expected, {"model.pkl": hashlib.sha256(blob).hexdigest()})
        return LoadedModel(
            name=name,
            version=str(version),
            estimator=pickle.loads(blob),
            features=list(record.features),
            task=record.task,
            artifacts=self._artifacts[key],
            artifact_digest=expected,
            input_example=None if record.input_example is None else record.input_example.copy(),
        )

    def log_artifact(self, name: str, version: str, artifact: str, text: str) -> str:
        mv = self.get_version(name, version)
        self._artifacts[(name, str(version))][artifact] = text
        return f"runs:/{mv.run_id}/opsloop/{artifact}"

    def read_artifact(self, name: str, version: str, artifact: str) -> str:
        self.get_version(name, version)
        try:
            return self._artifacts[(name, str(version))][artifact]
        except KeyError:
            raise NotFoundError(
                f"version {version} of {name!r} has no artifact {artifact!r}"
            ) from None
