"""Every event the store writes has a documented kind.

`EVENT_KINDS` is the stable list `opsloop events --json` and the notification filters expose
(docs/cli.md); a kind written but missing from it could not be subscribed to. The store
refuses an unknown kind, so every test that writes an event checks its kind too.
"""

from __future__ import annotations

import pytest

from opsloop.store import OpsStore
from opsloop.store.records import EVENT_KINDS


def test_an_unlisted_kind_is_refused_and_nothing_is_written(store: OpsStore) -> None:
    with pytest.raises(ValueError, match="is not in EVENT_KINDS"):
        store.add_event("something_new", "m")
    assert store.list_events("m") == []


def test_every_listed_kind_is_accepted(store: OpsStore) -> None:
    for kind in EVENT_KINDS:
        store.add_event(kind, "m")
    assert {e.kind for e in store.list_events("m", limit=len(EVENT_KINDS))} == set(EVENT_KINDS)
    assert "alias_repaired" in EVENT_KINDS
