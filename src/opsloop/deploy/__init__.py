"""Deployments: promotion, approval, rejection, rollback and rollouts."""

from opsloop.deploy.controller import approve, promote, reject, rollback
from opsloop.deploy.rollout import abort, advance, deploy, promote_now, status

__all__ = [
    "abort",
    "advance",
    "approve",
    "deploy",
    "promote",
    "promote_now",
    "reject",
    "rollback",
    "status",
]
