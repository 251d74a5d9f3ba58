"""Backtests on a small project with a 2022 history whose concept changes on 1 March:
replayed through the real loop in a sandbox (memory registry, SQLite store, DuckDB log)."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from historyproject import CHANGE, write_history_project

FROM = datetime(2022, 2, 1, tzinfo=UTC)
TO = datetime(2022, 4, 19, tzinfo=UTC)
POLICIES = ["never", "schedule:4w", "drift", "performance"]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    from opsloop.project import Project

    root = write_history_project(tmp_path_factory.mktemp("bt") / "shop", per_day=40)
    # a temporary folder of its own: the sandboxes left behind are this backtest's, not those
    # of a test running beside it (pytest-xdist) that also backtests a project named `shop`
    tmp = tmp_path_factory.mktemp("tmp")
    seen: list[tuple[str, int, int]] = []
    in_tmp: list[bool] = []  # a sandbox of this backtest was there at each period

    def on_period(policy: str, i: int, n: int, period: object) -> None:
        seen.append((policy, i, n))
        in_tmp.append(any(tmp.glob("opsloop-backtest-shop-*")))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tempfile, "tempdir", str(tmp))
        result = Project(root).backtest(
            start=FROM,
            end=TO,
            every=timedelta(weeks=1),
            policies=POLICIES,
            label_delay=timedelta(days=7),
            registry="memory",
            on_period=on_period,
        )
    left = set(tmp.glob("opsloop-backtest-shop-*"))
    return root, result, seen, (in_tmp, left)


def _change_index(policy) -> int:
    return next(i for i, p in enumerate(policy.periods) if p.end > CHANGE)


def test_never_degrades_while_schedule_and_drift_recover(replayed):
    _, result, _, _ = replayed
    assert [p.policy for p in result.policies] == POLICIES
    never = result.policy("never")
    before = [p.performance for p in never.periods[: _change_index(never)]]
    assert all(v is not None and v > 0.75 for v in before)
    tail = {
        p.policy: sum(q.performance or 0.0 for q in p.periods[-3:]) / 3 for p in result.policies
    }
    assert tail["never"] < 0.5
    assert tail["schedule:4w"] > 0.75
    assert tail["drift"] > 0.75
    assert result.policy("drift").mean_performance > never.mean_performance  # type: ignore[operator]
    assert never.retrains == [] and never.compute.trainings == 1
    assert all(p.version == never.initial.version for p in never.periods)


def test_counts_are_consistent(replayed):
    _, result, seen, _ = replayed
    n = len(result.policies[0].periods)
    assert n == 11
    assert seen == [(p, i, n) for p in POLICIES for i in range(n)]
    rows = len(
        pd.read_parquet(replayed[0] / "data" / "history.parquet").query(
            "event_time >= @FROM and event_time < @TO"
        )
    )
    for policy in result.policies:
        trainings = policy.retrains
        assert len(trainings) == sum(bool(p.fired) for p in policy.periods)
        for t in trainings:  # exactly one outcome each
            assert [t.promoted, t.rejected, t.skipped, t.failed is not None].count(True) == 1
        assert policy.promotions + policy.rejections == len(trainings)  # none skipped/failed
        assert policy.alarms == sum(len(p.alarms) for p in policy.periods)
        assert policy.compute.rows_scored == rows == sum(p.rows for p in policy.periods)
        assert policy.compute.trainings == 1 + len(trainings)
        # each period is answered by the version promoted last before it
        champion = policy.initial.version
        for period in policy.periods:
            assert period.version == champion
            if period.training is not None and period.training.promoted:
                champion = period.training.version
        assert sum(p.labels_delivered for p in policy.periods) == rows - sum(
            p.rows for p in policy.periods[-1:]
        )  # labels arrive a week late: the last period's are still out
    schedule = result.policy("schedule:4w")
    assert [p.end for p in schedule.periods if p.fired] == [
        FROM + timedelta(weeks=4),
        FROM + timedelta(weeks=8),
    ]
    assert all(p.fired == ["schedule"] for p in schedule.periods if p.fired)


def test_drift_fires_on_the_change_and_performance_waits_for_the_labels(replayed):
    _, result, _, _ = replayed
    drift, performance = result.policy("drift"), result.policy("performance")
    change = _change_index(drift)
    assert not any(p.fired for p in drift.periods[:change])
    assert drift.periods[change].fired == ["drift"]
    assert "drift_detected" in drift.periods[change].alarms
    # labels a week late: the changed period's performance is judged a period later
    first = next(i for i, p in enumerate(performance.periods) if p.fired)
    assert first == change + 1
    assert performance.periods[first].fired == ["performance"]
    assert "performance_degraded" in performance.periods[first].alarms


def test_sandbox_leaves_the_project_untouched(replayed):
    root, _, _, (in_tmp, left) = replayed
    assert not (root / ".opsloop").exists()  # no registry, ops store, log or reports
    assert in_tmp and all(in_tmp)  # the backtest ran in sandboxes (in its own tmp folder)
    assert left == set()  # every sandbox removed


def test_json_is_the_typed_result(replayed):
    _, result, _, _ = replayed
    data = json.loads(json.dumps(result.to_dict(), default=str))
    assert data["every"] == "1w" and data["label_delay"] == "1w"
    for policy, entry in zip(result.policies, data["policies"], strict=True):
        assert entry["policy"] == policy.policy
        assert entry["mean_performance"] == pytest.approx(policy.mean_performance)
        assert entry["retrains"] == len(policy.retrains)
        assert len(entry["periods"]) == len(policy.periods)


def test_html_report_shows_every_policy(replayed):
    from opsloop.backtest.report import render_html
    from opsloop.templates import fmt

    _, result, _, _ = replayed
    page = render_html(result)
    for policy in result.policies:
        row = page.split(f'data-policy="{policy.policy}"')[1].split("</tr>")[0]
        assert fmt(policy.mean_performance) in row
        assert f"<td>{policy.promotions}</td>" in row
    assert page.count("<svg") == 1 + len(result.policies)
