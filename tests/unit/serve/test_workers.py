"""Edges of `serve.workers` that need no server process (tests/integration has the real
2-worker server)."""

from __future__ import annotations

import pytest

from opsloop.errors import ConfigError, InvalidInputError
from opsloop.project import Project
from opsloop.serve.workers import PROJECT_ENV, create_worker_app


def test_workers_need_backends_they_can_rebuild(memory_project: Project) -> None:
    with pytest.raises(InvalidInputError, match="several workers build their backends"):
        memory_project.serve(workers=2)


def test_the_worker_factory_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROJECT_ENV, raising=False)
    with pytest.raises(ConfigError, match="opsloop serve --workers N"):
        create_worker_app()
