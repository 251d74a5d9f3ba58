"""DORA metrics (`opsloop.services.dora`) against the hand-made history of
`deploy_history.py`: every expected figure below is worked out by hand from its timeline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy_history import MODEL, OTHER, at, patch_store_clock, write_history
from opsloop.errors import InvalidInputError
from opsloop.services.dora import build_dora, quantile
from opsloop.services.dora_models import DoraView
from opsloop.store import OpsStore
from opsloop.store.reader import open_reader

H = 3600.0


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpsStore]:
    s = OpsStore("sqlite://")
    write_history(s, patch_store_clock(monkeypatch))
    yield s
    s.close()


def dora(store: OpsStore, models: list[str] | None = None) -> DoraView:
    return build_dora(store, models or [MODEL, OTHER], since=at(0), until=at(10))


def test_deployment_frequency_counts_promotions_not_rollbacks(store: OpsStore) -> None:
    view = dora(store)
    m = view.models[0].figures
    assert view.days == 10
    # v2 (blue-green), v5 (canary passed every step), v7 (blue-green); not the rollback
    assert m.promotions == 3
    assert m.per_day == pytest.approx(0.3) and m.per_week == pytest.approx(2.1)
    assert [p.version for p in view.models[0].promotions] == ["2", "5", "7"]
    assert view.overall.promotions == 4 and view.overall.per_week == pytest.approx(2.8)


def test_lead_time_from_data_cutoff_and_from_trigger(store: OpsStore) -> None:
    m = dora(store).models[0]
    by_version = {p.version: p for p in m.promotions}
    assert by_version["2"].lead_time_data == 7 * H  # day 1 03:00 - day 0 20:00
    assert by_version["2"].lead_time_trigger == 3 * H  # - drift fired day 1 00:00
    assert by_version["2"].trigger == "drift:w1"
    assert by_version["5"].lead_time_data == 15 * H  # day 6 03:00 - day 5 12:00
    assert by_version["5"].lead_time_trigger == 3 * H
    assert by_version["7"].lead_time_data == 7 * H  # day 7 01:00 - day 6 18:00
    assert by_version["7"].lead_time_trigger == 7 * H  # manual request 12 fired day 6 18:00
    data, trigger = m.figures.lead_time_data, m.figures.lead_time_trigger
    assert (data.count, data.median, data.p90) == (3, 7 * H, pytest.approx(13.4 * H))
    assert (trigger.count, trigger.median, trigger.p90) == (3, 3 * H, pytest.approx(6.2 * H))
    # `other` was promoted without a recorded training: no lead time, still a promotion
    assert dora(store).overall.lead_time_data.count == 3


def test_change_failure_rate_counts_rollbacks_and_failed_rollouts_not_gates(
    store: OpsStore,
) -> None:
    view = dora(store)
    m = view.models[0]
    outcomes = [(c.version, c.strategy, c.outcome, c.failed) for c in m.changes]
    assert outcomes == [
        ("2", "blue_green", "rolled_back", True),  # promoted, later rolled back
        ("4", "canary", "rolled_back", True),  # the canary failed at 50 %
        ("5", "canary", "promoted", False),
        ("6", "shadow", "superseded", False),  # replaced by v7: not a failure
        ("7", "blue_green", "promoted", False),
    ]
    assert (m.figures.changes, m.figures.failed_changes) == (5, 2)
    assert m.figures.change_failure_rate == pytest.approx(0.4)
    assert m.figures.gate_failures == 1  # v3 never reached production
    assert view.overall.change_failure_rate == pytest.approx(2 / 6)


def test_time_to_restore_from_breach_or_failed_change_to_a_healthy_version(
    store: OpsStore,
) -> None:
    m = dora(store).models[0]
    found = [(i.cause, i.version, i.restored_by, i.duration) for i in m.incidents]
    assert found == [
        # from v2's promotion (day 1 03:00) to the rollback (day 2 04:00); its
        # performance breach on day 2 is part of it
        ("failed_promotion", "2", "rolled_back", 25 * H),
        ("failed_rollout", "4", "rolled_back", 2 * H),
        # drift on v1 day 5 00:00 (not the late window of v2) until v5 serves
        ("drift_detected", "1", "promoted", 27 * H),
        ("quality_failed", "7", None, None),  # not restored by day 10
    ]
    ttr = m.figures.time_to_restore
    assert (m.figures.incidents, m.figures.open_incidents) == (4, 1)
    assert (ttr.count, ttr.median, ttr.p90) == (3, 25 * H, pytest.approx(26.6 * H))


def test_a_shorter_period_sees_only_its_own_history(store: OpsStore) -> None:
    view = build_dora(store, [MODEL], since=at(4), until=at(5, 12))
    m = view.models[0]
    assert m.figures.promotions == 0 and m.figures.per_day == 0
    assert [(c.version, c.outcome) for c in m.changes] == [("4", "rolled_back")]
    # drift on day 5 has no restore yet at day 5 12:00
    assert [(i.cause, i.restored) for i in m.incidents] == [
        ("failed_rollout", at(4, 4).isoformat()),
        ("drift_detected", None),
    ]
    assert m.figures.change_failure_rate == 1.0
    empty = build_dora(store, [MODEL], since=at(20), until=at(21)).models[0].figures
    assert empty.change_failure_rate is None and empty.time_to_restore.median is None


def test_the_definitions_travel_with_the_figures(store: OpsStore) -> None:
    data = dora(store).to_json()
    assert set(data["definitions"]) == {
        "deployment_frequency",
        "lead_time_data",
        "lead_time_trigger",
        "change_failure_rate",
        "time_to_restore",
    }
    assert "rolled back" in data["definitions"]["change_failure_rate"]
    assert data["overall"]["promotions"] == 4 and data["models"][1]["model"] == OTHER


def test_an_empty_period_is_a_clear_error(store: OpsStore) -> None:
    with pytest.raises(InvalidInputError, match="period is empty") as info:
        build_dora(store, [MODEL], since=at(5), until=at(5))
    assert info.value.fix is not None and "--since" in info.value.fix


def test_the_lean_reader_gives_the_same_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    store = OpsStore(url)
    write_history(store, patch_store_clock(monkeypatch))
    reader = open_reader(url)
    assert reader is not None
    assert dora(reader).to_json() == dora(store).to_json()
    reader.close()
    store.close()


def test_quantile_interpolates_between_ranks() -> None:
    assert quantile([], 0.5) is None
    assert quantile([4.0], 0.9) == 4.0
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert quantile([0.0, 10.0], 0.9) == 9.0
