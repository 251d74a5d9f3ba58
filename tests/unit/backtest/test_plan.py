"""What a backtest accepts: periods, policies, clear errors before anything is trained."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from historyproject import HISTORY_YAML
from opsloop.backtest import default_policies, parse_policy, plan_backtest
from opsloop.config import load_config
from opsloop.errors import InvalidInputError

T0 = datetime(2022, 2, 1, tzinfo=UTC)
WEEK = timedelta(weeks=1)


@pytest.fixture
def config(tmp_path):
    (tmp_path / "opsloop.yaml").write_text(HISTORY_YAML)
    return load_config(tmp_path / "opsloop.yaml")


def test_periods_and_default_policies(config):
    plan = plan_backtest(config, start=T0, end=T0 + 3 * WEEK + timedelta(days=2), every=WEEK)
    assert [w.start for w in plan.periods] == [T0, T0 + WEEK, T0 + 2 * WEEK]
    assert plan.notes and "not replayed" in plan.notes[0]
    assert [p.name for p in plan.policies] == ["drift+performance", "never", "schedule:4w"]
    assert plan.policies[0].monitor == ("drift", "performance")
    assert plan.policies[2].interval == 4 * WEEK
    assert plan.metric == "roc_auc"


def test_policies_parse(config):
    assert parse_policy("never", every=WEEK, config=config).never
    both = parse_policy("drift+schedule:2w", every=WEEK, config=config)
    assert both.monitor == ("drift",) and both.interval == 2 * WEEK
    cfg = config.model_copy(
        update={
            "retrain": config.retrain.model_copy(
                update={"on": ("drift", "schedule", "labels"), "schedule": "0 3 * * 0"}
            )
        }
    )
    assert default_policies(cfg, timedelta(days=1)) == ["drift+schedule", "never", "schedule:4d"]
    assert parse_policy("schedule", every=WEEK, config=cfg).cron == "0 3 * * 0"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"end": T0 - WEEK}, "--to must be after --from"),
        ({"end": T0 + timedelta(days=3)}, "shorter than one period"),
        ({"every": timedelta(0)}, "--every must be a positive duration"),
        ({"every": timedelta(hours=1), "end": T0 + timedelta(days=60)}, "more than a backtest"),
        ({"label_delay": timedelta(days=-1)}, "must not be negative"),
        ({"policies": ["sometimes"]}, "unknown policy 'sometimes'"),
        ({"policies": ["drift+maybe"]}, "unknown policy 'maybe' in 'drift+maybe'"),
        ({"policies": ["schedule:1d"]}, "more often than the replay's period"),
        ({"policies": ["schedule:soon"]}, "expected a duration"),
        ({"policies": ["schedule"]}, "retrain.schedule is not set"),
    ],
)
def test_bad_input_is_refused_clearly(config, kwargs, message):
    args = {"start": T0, "end": T0 + 4 * WEEK, "every": WEEK, **kwargs}
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(").replace("+", r"\+")):
        plan_backtest(config, **args)
