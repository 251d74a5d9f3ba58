"""`LazyRegistry`: a registry opened on its first call.

Opening the MLflow registry imports MLflow (~1–2 s and ~80 MiB resident here) and checks
its database. A server that finds its version in the local model cache
(modelcache.py), `opsloop status` and the rollout controller never need it; the first
call that does opens it, once. `find_alias_version` — the server's periodic alias check —
reads the registry's database directly when it can (`peek`, registry/aliaspeek.py), so a
server whose alias agrees with its deployment never imports MLflow at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from opsloop.core.once import Once
from opsloop.registry.aliaspeek import AliasPeek, Unknown

if TYPE_CHECKING:
    from opsloop.registry.base import LoadedModel, ModelRegistry, ModelVersion, TrainingRecord


class LazyRegistry:
    """Delegates every `ModelRegistry` call to the registry `open()` returns, made once."""

    def __init__(self, open: Callable[[], ModelRegistry], *, peek: AliasPeek | None = None) -> None:
        self._peek = peek
        self._registry = Once(open)

    @property
    def opened(self) -> bool:
        return self._registry.made

    @property
    def target(self) -> ModelRegistry:
        return self._registry.get()

    def register(self, record: TrainingRecord) -> ModelVersion:
        return self.target.register(record)

    def get_version(self, name: str, version: str) -> ModelVersion:
        return self.target.get_version(name, version)

    def list_versions(self, name: str) -> Sequence[ModelVersion]:
        return self.target.list_versions(name)

    def find_alias(self, name: str, alias: str) -> ModelVersion | None:
        return self.target.find_alias(name, alias)

    def find_alias_version(self, name: str, alias: str) -> str | None:
        if self._peek is not None and not self._registry.made:
            try:
                return self._peek(name, alias)
            except Unknown:
                pass  # MLflow itself answers
        return self.target.find_alias_version(name, alias)

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.target.set_alias(name, alias, version)

    def delete_alias(self, name: str, alias: str) -> None:
        self.target.delete_alias(name, alias)

    def set_tag(self, name: str, version: str, key: str, value: str) -> None:
        self.target.set_tag(name, version, key, value)

    def load(self, name: str, version: str, *, digest: str | None = None) -> LoadedModel:
        return self.target.load(name, version, digest=digest)

    def read_artifact(self, name: str, version: str, artifact: str) -> str:
        return self.target.read_artifact(name, version, artifact)

    def log_artifact(self, name: str, version: str, artifact: str, text: str) -> str:
        return self.target.log_artifact(name, version, artifact, text)
