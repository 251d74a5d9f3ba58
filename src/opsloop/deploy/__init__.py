"""Deployment as one state machine: promotion, rollouts, rollback (`machine.py`), the
rollout controller step (`steps.py`, on `analysis.py`) and approvals (`approvals.py`).

Import these from `opsloop.deploy`; the modules behind them may move."""

from opsloop.deploy.approvals import (
    EXPIRY_ACTOR,
    approve,
    expire_pending,
    record_approval,
    reject,
)
from opsloop.deploy.machine import (
    STRATEGIES,
    abort,
    deploy,
    promote,
    promote_now,
    rollback,
    rollback_target,
)
from opsloop.deploy.reconcile import AliasDrift, find_drift, reconcile_champion, sync_champion
from opsloop.deploy.steps import RolloutController, Step, advance, status

__all__ = [
    "EXPIRY_ACTOR",
    "STRATEGIES",
    "AliasDrift",
    "RolloutController",
    "Step",
    "abort",
    "advance",
    "approve",
    "deploy",
    "expire_pending",
    "find_drift",
    "promote",
    "promote_now",
    "reconcile_champion",
    "record_approval",
    "reject",
    "rollback",
    "rollback_target",
    "status",
    "sync_champion",
]
