"""Deployments as of an instant (`opsloop.services.asof`) on the hand-made history of
`deploy_history.py`: which version answered and the traffic split then."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from deploy_history import MODEL, at, patch_store_clock, write_history
from opsloop.errors import InvalidInputError
from opsloop.services.asof import build_as_of
from opsloop.services.view_models import AsOfView
from opsloop.store import OpsStore
from opsloop.store.reader import open_reader

NOW = at(10)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpsStore]:
    s = OpsStore("sqlite://")
    write_history(s, patch_store_clock(monkeypatch))
    yield s
    s.close()


def split(view: AsOfView) -> list[tuple[str, str, float, bool]]:
    return [(t.version, t.role, t.share, t.answers) for t in view.traffic]


def test_before_the_first_deployment_nothing_answered(store: OpsStore) -> None:
    view = build_as_of(store, MODEL, at(-6), now=NOW)
    assert view.version is None and view.deployment is None and view.traffic == []


def test_the_revision_current_then_answered(store: OpsStore) -> None:
    view = build_as_of(store, MODEL, at(1, 12), now=NOW)
    assert view.version == "2" and view.deployment is not None
    assert view.deployment.revision == 2 and view.deployment.previous_version == "1"
    assert split(view) == [("2", "stable", 100.0, True)]
    # after the rollback on day 2, version 1 again (revision 3)
    back = build_as_of(store, MODEL, at(3), now=NOW)
    assert back.version == "1" and back.deployment is not None and back.deployment.revision == 3
    # exactly at a deployment's time: that deployment
    assert build_as_of(store, MODEL, at(1, 3), now=NOW).version == "2"


def test_a_canary_split_at_each_of_its_steps(store: OpsStore) -> None:
    first = build_as_of(store, MODEL, at(4, 2.5), now=NOW)
    assert first.version == "1"
    assert split(first) == [("1", "stable", 90.0, True), ("4", "candidate", 10.0, True)]
    assert first.rollout is not None
    assert (first.rollout.step, first.rollout.outcome) == (0, "rolled_back")
    second = build_as_of(store, MODEL, at(4, 3.5), now=NOW)
    assert split(second) == [("1", "stable", 50.0, True), ("4", "candidate", 50.0, True)]
    assert second.rollout is not None and second.rollout.step == 1
    assert second.rollout.step_started == at(4, 3).isoformat()
    assert second.rollout.finished == at(4, 4).isoformat()
    ended = build_as_of(store, MODEL, at(4, 4), now=NOW)  # rolled back at that instant
    assert ended.rollout is None and split(ended) == [("1", "stable", 100.0, True)]


def test_a_shadow_sees_a_mirror_and_answers_nothing(store: OpsStore) -> None:
    view = build_as_of(store, MODEL, at(7, 0.5), now=NOW)
    assert view.version == "5"
    assert split(view) == [("5", "stable", 100.0, True), ("6", "shadow", 20.0, False)]
    assert build_as_of(store, MODEL, at(7, 2), now=NOW).version == "7"


def test_an_instant_with_an_offset_is_the_same_instant(store: OpsStore) -> None:
    plus2 = timezone(timedelta(hours=2))
    local = datetime(2026, 3, 5, 4, 30, tzinfo=plus2)  # day 4 02:30 UTC
    assert split(build_as_of(store, MODEL, local, now=NOW))[1] == ("4", "candidate", 10.0, True)


def test_an_instant_in_the_future_is_refused(store: OpsStore) -> None:
    with pytest.raises(InvalidInputError, match="future"):
        build_as_of(store, MODEL, NOW + timedelta(seconds=1), now=NOW)


def test_the_lean_reader_gives_the_same_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    store = OpsStore(url)
    write_history(store, patch_store_clock(monkeypatch))
    reader = open_reader(url)
    assert reader is not None
    for moment in (at(-6), at(1, 12), at(4, 2.5), at(4, 3.5), at(7, 0.5), at(9)):
        assert build_as_of(reader, MODEL, moment, now=NOW) == build_as_of(
            store, MODEL, moment, now=NOW
        )
    reader.close()
    store.close()
