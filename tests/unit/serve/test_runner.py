"""The serving process caps glibc's malloc arenas for itself and its workers, unless the
user set `MALLOC_ARENA_MAX`."""

from __future__ import annotations

import os

import pytest

from opsloop.serve.runner import MALLOC_ARENAS, limit_malloc_arenas


def test_the_cap_is_set_for_spawned_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    limit_malloc_arenas()
    assert os.environ["MALLOC_ARENA_MAX"] == str(MALLOC_ARENAS)


def test_a_users_own_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    limit_malloc_arenas()
    assert os.environ["MALLOC_ARENA_MAX"] == "8"
