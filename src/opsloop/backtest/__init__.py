"""Backtesting retraining policies on the project's history (`opsloop backtest`,
`Project.backtest`): the real loop replayed by event time in a sandbox, one policy at a
time, compared side by side (`replay.py`; policies in `policy.py`, the sandbox in
`sandbox.py`, the typed result in `result.py`, the HTML report in `report.py`)."""

from opsloop.backtest.policy import Policy, default_policies, parse_policies, parse_policy
from opsloop.backtest.replay import MAX_PERIODS, OnPeriod, Plan, plan_backtest, run_backtest
from opsloop.backtest.result import BacktestResult, Compute, Period, PolicyResult, Training

__all__ = [
    "MAX_PERIODS",
    "BacktestResult",
    "Compute",
    "OnPeriod",
    "Period",
    "Plan",
    "Policy",
    "PolicyResult",
    "Training",
    "default_policies",
    "parse_policies",
    "parse_policy",
    "plan_backtest",
    "run_backtest",
]
